"""A second layer in the light path: sparse dust or debris on the far side of the cover glass.

Real slides carry dust, fibres and dried debris on the top of the coverslip (or under the slide),
a cover-glass or slide thickness away from the specimen: 100 um to 1 mm of stage travel. Each
particle is sharp when that surface is in focus, so a focus curve over a long range shows two
peaks, and the dust peak can be nearly as high as the specimen's. The particles here are drawn
in micrometres on seeded slide tiles, like the specimens (:mod:`autofocus.sim.specimens`):
round and irregular specks of 1-12 um and a few fibres, opaque at their core with soft edges.

Both layers are imaged by the same objective, each at its own defocus. In fluorescence the
emissions add: the image spectrum is ``S_section OTF(z) + S_dust OTF(z - separation)``. In
transmitted light the transmittances multiply, and with the layers a hundred depths of field
apart each one's image is a sharp picture times the other's blurred shadow:
``I = (T_section * psf(z)) (T_dust * psf(z - separation))`` (two inverse FFTs). A sum of the
two would go negative where a dust speck covers a dark nucleus.

The dust's strength is set by its in-focus *band energy* relative to the section's
(:func:`band_energy`, the energy of the noiseless image in the pass band of the default focus
measure, a difference of Gaussians of 1 and 3 pixels), so "the dust peak is 0.8 of the
section's" holds for every objective and field of view: the particles' opacity is scaled
(at most fully opaque), and where even that is not enough (a dense, contrasty section) the
coverslip gets dustier, up to 8 times the particles; a ratio still out of reach raises
``ValueError``.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_DUST_RATIO", "DEFAULT_DUST_SEPARATION_UM", "DUST_SEPARATION_RANGE_UM", "band_energy",
    "band_weight", "dust_mask", "rfft_weights",
]

FloatArray = npt.NDArray[np.float32]

DEFAULT_DUST_SEPARATION_UM = 150.0
"""Stage travel from the section's focus up to the dust's (a coverslip seen by a dry lens)."""
DUST_SEPARATION_RANGE_UM = (100.0, 1000.0)
DEFAULT_DUST_RATIO = 0.8
BAND_SIGMAS_PX = (1.0, 3.0)
"""Pass band of the default measure (``autofocus.metrics.bandpass``): DoG of these sigmas."""

_TILE_UM = 150.0
DUST_PER_TILE = 30.0
"""Mean particles per 150 um square: a visibly dusty coverslip (~5 % of its area)."""


def dust_mask(shape: tuple[int, int], pixel_um: float, seed: int,
              density: float = 1.0) -> FloatArray:
    """Opacity 0..1 of the dust layer over the field of view (centred on the slide origin);
    ``density`` multiplies the number of particles."""
    h, w = shape
    mask = np.zeros(shape, np.float32)

    def to_px(x_um: float, y_um: float) -> tuple[int, int]:
        return (round((x_um / pixel_um + w / 2) * 16), round((y_um / pixel_um + h / 2) * 16))

    def speck(rng: np.random.Generator, x: float, y: float) -> None:
        if rng.random() < 0.3:  # a fibre: long, thin, slightly bent
            length = rng.uniform(20, 80)
            t = rng.uniform(0, math.pi)
            bend = rng.normal(0, 0.3)
            pts = []
            for s in np.linspace(-0.5, 0.5, 6):
                a = t + bend * s
                pts.append(to_px(x + s * length * math.cos(a), y + s * length * math.sin(a)))
            width = max(1, round(rng.uniform(1.0, 2.5) / pixel_um))
            cv2.polylines(mask, [np.array(pts, np.int32)], False, float(rng.uniform(0.5, 1.0)),
                          width, cv2.LINE_AA, 4)
            return
        radius = float(np.clip(rng.lognormal(math.log(1.5), 0.7), 0.4, 12.0))
        for _ in range(int(rng.integers(1, 4))):  # lumpy: a few overlapping blobs
            dx, dy = rng.normal(0, 0.5 * radius, 2)
            semi = float(radius * rng.uniform(0.6, 1.0))
            axes = (max(1, round(semi / pixel_um * 16)),
                    max(1, round(semi * rng.uniform(0.5, 1.0) / pixel_um * 16)))
            cv2.ellipse(mask, to_px(x + dx, y + dy), axes, rng.uniform(0, 180), 0, 360,
                        float(rng.uniform(0.6, 1.0)), -1, cv2.LINE_AA, 4)

    half_w, half_h = w * pixel_um / 2 + 40, h * pixel_um / 2 + 40
    for ty in range(math.floor(-half_h / _TILE_UM), math.floor(half_h / _TILE_UM) + 1):
        for tx in range(math.floor(-half_w / _TILE_UM), math.floor(half_w / _TILE_UM) + 1):
            rng = np.random.default_rng([seed, 31, tx + 2**20, ty + 2**20])
            for _ in range(rng.poisson(DUST_PER_TILE * density)):
                speck(rng, (tx + rng.uniform()) * _TILE_UM, (ty + rng.uniform()) * _TILE_UM)
    # A few specks near the middle, so even a 40 um field of view shows the layer.
    centre = np.random.default_rng([seed, 31, 7])
    span = min(h, w) * pixel_um * 0.3
    for _ in range(round(6 * density)):
        speck(centre, centre.uniform(-span, span), centre.uniform(-span, span))
    mask = cv2.GaussianBlur(mask, (0, 0), 0.5)  # anti-aliased edges
    out: FloatArray = np.clip(mask, 0.0, 1.0)
    return out


def band_weight(k_cyc_per_um: npt.NDArray[np.float64], pixel_um: float,
                sigmas_px: tuple[float, float] = BAND_SIGMAS_PX) -> npt.NDArray[np.float64]:
    """Transfer function of the difference of two Gaussians (sigmas in pixels)."""
    kp2 = (k_cyc_per_um * pixel_um) ** 2
    weight: npt.NDArray[np.float64] = (np.exp(-2 * math.pi**2 * sigmas_px[0] ** 2 * kp2)
                                       - np.exp(-2 * math.pi**2 * sigmas_px[1] ** 2 * kp2))
    return weight


def rfft_weights(shape: tuple[int, int]) -> npt.NDArray[np.float64]:
    """How often each ``rfft2`` pixel counts in the full spectrum (Parseval over half of it)."""
    width = shape[1] // 2 + 1
    weights = np.full((shape[0], width), 2.0)
    weights[:, 0] = 1.0
    if shape[1] % 2 == 0:
        weights[:, -1] = 1.0
    weights[0, 0] = 0.0  # the mean is not contrast
    return weights


def band_energy(spectrum: npt.NDArray[np.complexfloating], band: npt.NDArray[np.float64],
                counts: npt.NDArray[np.float64]) -> float:
    """Sum of ``|spectrum * band|^2`` over the full spectrum (``counts`` from rfft_weights):
    the band-passed image's variance times the pixel count squared."""
    power = np.abs(spectrum) ** 2 * (band**2 * counts)
    return float(power.sum())
