"""Procedural specimens, deterministic from a seed, laid out in micrometres.

Every specimen is drawn in sample-plane coordinates: objects are placed on square tiles of the
slide whose random generator is seeded by ``(seed, kind, tile column, tile row)``, and the field of
view (centred on the slide origin) is rasterised at ``pixel_um``. So a 60x field of view shows the
middle of the 10x one at six times the scale, cells keep their size in micrometres, and
objectives differ as they would on a real slide. (Fine textures are pixel-grid noise and do not
carry over between objectives; the objects do.)

Three imaging modes, each with its own meaning of ``Specimen.field``:

* ``fluorescence``: emitter density >= 0 on a dark background (fluorescent cells, beads);
* ``absorption``: intensity transmittance 0..1 on a bright background (stained tissue, a chrome
  reticle, an empty slide), imaged in transmitted light;
* ``phase``: optical phase delay in radians of an almost transparent specimen (unstained cells),
  imaged in transmitted light; it absorbs ``absorption_per_radian`` (amplitude) per radian.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

__all__ = [
    "PHASE_ABSORPTION_PER_RAD",
    "PHASE_RAD",
    "SPECIMENS",
    "SPECIMEN_MODES",
    "Specimen",
    "generate_specimen",
    "make_specimen",
]

FloatArray = npt.NDArray[np.float32]

SPECIMENS = ("fluorescent-cells", "beads", "stained-tissue", "reticle", "transparent-cells", "empty")

SPECIMEN_MODES: dict[str, str] = {
    "fluorescent-cells": "fluorescence",
    "beads": "fluorescence",
    "stained-tissue": "absorption",
    "reticle": "absorption",
    "transparent-cells": "phase",
    "empty": "absorption",
}

PHASE_RAD = {"cytoplasm": 1.0, "nucleus": 0.6, "process": 0.5, "granule": 0.3}
"""Phase delay (radians at 550 nm) of the parts of an unstained cell, before smoothing; the
nucleus adds to the cytoplasm. Real cells reach ~1-3 rad, beyond the weak-phase regime of the
linear model, which then keeps the look (halos reversing through focus) but not the exact
intensities; chosen with ``condenser_sigma = 0.15`` so that, at 40x, plain intensity variance is
lowest at focus and stays high to ~30 um, as in the real brightfield set."""
PHASE_ABSORPTION_PER_RAD = 0.03

_SHIFT = 4  # cv2 sub-pixel bits: coordinates are passed in 1/16 pixel
_ONE = 1 << _SHIFT


@dataclass(frozen=True)
class Specimen:
    kind: str
    mode: str
    field: FloatArray
    absorption_per_radian: float = 0.0


class _Canvas:
    """Maps micrometres (origin at the centre of the field of view) to cv2 sub-pixel ints."""

    def __init__(self, shape: tuple[int, int], pixel_um: float) -> None:
        self.shape = shape
        self.pixel_um = pixel_um
        self.height_um = shape[0] * pixel_um
        self.width_um = shape[1] * pixel_um

    def pt(self, x_um: float, y_um: float) -> tuple[int, int]:
        x = (x_um / self.pixel_um + self.shape[1] / 2) * _ONE
        y = (y_um / self.pixel_um + self.shape[0] / 2) * _ONE
        return (round(x), round(y))

    def px(self, length_um: float) -> int:
        """A length in sub-pixel units (for radii and axes)."""
        return max(1, round(length_um / self.pixel_um * _ONE))

    def tiles(self, seed: int, salt: int, tile_um: float,
              margin_um: float) -> Iterator[tuple[np.random.Generator, float, float]]:
        """Every slide tile touching the view (plus a margin), with its own generator."""
        half_w = self.width_um / 2 + margin_um
        half_h = self.height_um / 2 + margin_um
        for ty in range(math.floor(-half_h / tile_um), math.floor(half_h / tile_um) + 1):
            for tx in range(math.floor(-half_w / tile_um), math.floor(half_w / tile_um) + 1):
                # Tile indices may be negative; offset them so SeedSequence gets naturals.
                rng = np.random.default_rng([seed, salt, tx + 2**20, ty + 2**20])
                yield rng, tx * tile_um, ty * tile_um

    def ellipse(self, img: np.ndarray, x_um: float, y_um: float, a_um: float, b_um: float,
                angle_deg: float, value: float) -> None:
        cv2.ellipse(img, self.pt(x_um, y_um), (self.px(a_um), self.px(b_um)), angle_deg, 0, 360,
                    value, -1, cv2.LINE_AA if img.dtype == np.uint8 else cv2.LINE_8, _SHIFT)

    def polygon(self, img: np.ndarray, pts_um: list[tuple[float, float]], value: float) -> None:
        pts = np.array([self.pt(x, y) for x, y in pts_um], dtype=np.int32)
        cv2.fillPoly(img, [pts], value, cv2.LINE_AA if img.dtype == np.uint8 else cv2.LINE_8,
                     _SHIFT)

    def bar(self, img: np.ndarray, x0: float, y0: float, x1: float, y1: float,
            width_um: float, value: float) -> None:
        """A straight bar of given width between two points (all in um)."""
        dx, dy = x1 - x0, y1 - y0
        norm = math.hypot(dx, dy) or 1.0
        nx, ny = -dy / norm * width_um / 2, dx / norm * width_um / 2
        self.polygon(img, [(x0 + nx, y0 + ny), (x1 + nx, y1 + ny), (x1 - nx, y1 - ny),
                           (x0 - nx, y0 - ny)], value)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int],
                  scale_px: float) -> FloatArray:
    """Zero-mean, unit-variance noise with correlation length ~``scale_px`` pixels."""
    h, w = shape
    if scale_px <= 1.0:
        white: FloatArray = rng.standard_normal(shape, dtype=np.float32)
        return white
    sh, sw = max(2, math.ceil(h / scale_px) + 2), max(2, math.ceil(w / scale_px) + 2)
    small = rng.standard_normal((sh, sw), dtype=np.float32)
    big = cv2.resize(small, (round(sw * scale_px), round(sh * scale_px)),
                     interpolation=cv2.INTER_CUBIC)[:h, :w]
    if big.shape != shape:  # guard against rounding in the resize target
        big = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    std = float(big[::7, ::7].std()) or 1.0  # a sparse sample estimates it well enough
    big *= np.float32(1.0 / std)
    out: FloatArray = np.ascontiguousarray(big)
    return out


def _centre_rng(seed: int, salt: int) -> np.random.Generator:
    """Generator of the object placed near the slide origin, so small views are never empty."""
    return np.random.default_rng([seed, salt, 7])


def _fluorescent_cells(cv: _Canvas, seed: int) -> Specimen:
    """Adherent cells: dim textured cytoplasm with fibres, a bright nucleus (DAPI-like)."""
    shape = cv.shape
    cyto = np.zeros(shape, np.float32)
    nuclei = np.zeros(shape, np.float32)
    fibres = np.zeros(shape, np.float32)
    fibre_um = 0.3
    def cell(rng: np.random.Generator, x: float, y: float) -> None:
        a = rng.uniform(7, 14)
        b = a * rng.uniform(0.5, 0.9)
        ang = rng.uniform(0, 180)
        cv.ellipse(cyto, x, y, a, b, ang, rng.uniform(0.12, 0.25))
        for _ in range(rng.integers(6, 14)):
            t = math.radians(ang + rng.normal(0, 25))
            cx, cy = x + rng.uniform(-0.5, 0.5) * a, y + rng.uniform(-0.5, 0.5) * b
            half = rng.uniform(0.3, 0.9) * a
            cv.bar(fibres, cx - half * math.cos(t), cy - half * math.sin(t),
                   cx + half * math.cos(t), cy + half * math.sin(t), fibre_um,
                   rng.uniform(0.1, 0.3))
        off = rng.uniform(0, 0.3) * a
        t = rng.uniform(0, 2 * math.pi)
        na = rng.uniform(3.0, 5.5)
        cv.ellipse(nuclei, x + off * math.cos(t), y + off * math.sin(t), na,
                   na * rng.uniform(0.7, 1.0), rng.uniform(0, 180), rng.uniform(0.6, 1.0))

    for rng, x0, y0 in cv.tiles(seed, 1, 60.0, 30.0):
        for _ in range(rng.poisson(1.3)):
            cell(rng, x0 + rng.uniform(0, 60), y0 + rng.uniform(0, 60))
    centre = _centre_rng(seed, 1)  # even a tiny field of view shows a cell
    cell(centre, centre.uniform(-4, 4), centre.uniform(-4, 4))
    rng = np.random.default_rng([seed, 11])
    inside = cyto > 0
    cyto *= np.clip(1 + 0.35 * _smooth_noise(rng, shape, 1.5 / cv.pixel_um), 0.2, None)
    nuclei *= np.clip(1 + 0.25 * _smooth_noise(rng, shape, 0.7 / cv.pixel_um), 0.3, None)
    field = cyto + fibres * inside + nuclei
    field += 0.01  # out-of-focus haze and autofluorescence
    return Specimen("fluorescent-cells", "fluorescence", field.astype(np.float32))


def _beads(cv: _Canvas, seed: int) -> Specimen:
    """Sparse 0.2 um beads (below the resolution of every preset) with a few doublets."""
    shape = cv.shape
    field = np.zeros(shape, np.float32)
    diameter_um = 0.2
    area_px = math.pi * (diameter_um / 2) ** 2 / cv.pixel_um**2
    ys: list[int] = []
    xs: list[int] = []
    flux: list[float] = []
    centre = _centre_rng(seed, 2)
    # (generator, tile corner x, y, tile size, bead count): one bead within 2 um of the
    # centre so that even a tiny view has one, then the slide's tiles.
    tiles = [(centre, -2.0, -2.0, 4.0, 1)]
    tiles += [(rng, x0, y0, 40.0, int(rng.poisson(1.5)))
              for rng, x0, y0 in cv.tiles(seed, 2, 40.0, 0.0)]
    for rng, x0, y0, size, count in tiles:
        for _ in range(count):
            x, y = x0 + rng.uniform(0, size), y0 + rng.uniform(0, size)
            f = float(rng.lognormal(0.0, 0.25))
            copies = 2 if rng.random() < 0.05 else 1
            for c in range(copies):
                if area_px >= 3.0:  # resolvable on the pixel grid: draw a disc
                    cv.ellipse(field, x + c * 0.6, y, diameter_um / 2, diameter_um / 2, 0, f)
                    continue
                col = round(x / cv.pixel_um + shape[1] / 2 + c * 0.6 / cv.pixel_um)
                row = round(y / cv.pixel_um + shape[0] / 2)
                if 0 <= row < shape[0] and 0 <= col < shape[1]:
                    ys.append(row)
                    xs.append(col)
                    flux.append(f * area_px)  # the bead's emission collected in one pixel
    if flux:
        np.add.at(field, (np.array(ys), np.array(xs)), np.array(flux, np.float32))
    return Specimen("beads", "fluorescence", field)


def _stained_tissue(cv: _Canvas, seed: int) -> Specimen:
    """H&E-like section seen in monochrome: dark nuclei, fibrous stroma, a few clear lumens."""
    shape = cv.shape
    od = np.zeros(shape, np.float32)
    for rng, x0, y0 in cv.tiles(seed, 3, 30.0, 15.0):
        for _ in range(rng.poisson(12)):  # collagen fibres
            x, y = x0 + rng.uniform(0, 30), y0 + rng.uniform(0, 30)
            t = rng.uniform(0, math.pi)
            half = rng.uniform(5, 15)
            cv.bar(od, x - half * math.cos(t), y - half * math.sin(t), x + half * math.cos(t),
                   y + half * math.sin(t), rng.uniform(0.5, 1.5), rng.uniform(0.25, 0.45))
    nuclei = np.zeros(shape, np.float32)
    for rng, x0, y0 in cv.tiles(seed, 4, 20.0, 10.0):
        for _ in range(rng.poisson(1.6)):
            a = rng.uniform(2.0, 4.0)
            cv.ellipse(nuclei, x0 + rng.uniform(0, 20), y0 + rng.uniform(0, 20), a,
                       a * rng.uniform(0.5, 1.0), rng.uniform(0, 180), rng.uniform(0.6, 1.1))
    rng = np.random.default_rng([seed, 13])
    eosin = 0.2 + 0.08 * _smooth_noise(rng, shape, 5.0 / cv.pixel_um)
    chromatin = np.clip(1 + 0.35 * _smooth_noise(rng, shape, 0.6 / cv.pixel_um), 0.2, None)
    lumen = _smooth_noise(rng, shape, 60.0 / cv.pixel_um)
    if lumen[shape[0] // 2, shape[1] // 2] < -0.5:
        lumen = -lumen  # keep tissue in the middle, so that even a tiny view shows some
    tissue = lumen > -0.9
    total = (np.maximum(od, eosin) + nuclei * chromatin) * tissue
    field = np.power(np.float32(10.0), -total).astype(np.float32)
    return Specimen("stained-tissue", "absorption", field)


def _reticle(cv: _Canvas, seed: int) -> Specimen:
    """Chrome-on-glass target like the tutorial's: a ruled grid with ticks, numbers,
    concentric circles and bar triplets (resolution groups) of many widths, repeated in
    120 um cells so every objective sees coarse and fine features."""
    shape = cv.shape
    mask = np.zeros(shape, np.uint8)
    cell = 120.0
    widths = (3.2, 2.4, 1.8, 1.4, 1.0, 0.7, 0.5, 0.35)  # a group spans 11 widths <= 40 um
    font = cv2.FONT_HERSHEY_SIMPLEX
    base_h = cv2.getTextSize("8", font, 1.0, 1)[0][1]
    for rng, x0, y0 in cv.tiles(seed, 5, cell, 0.0):
        cv.bar(mask, x0, y0, x0 + cell, y0, 2.0, 255)  # ruled grid
        cv.bar(mask, x0, y0, x0, y0 + cell, 2.0, 255)
        for i in range(1, 12):
            tick = 12.0 if i % 5 == 0 else 6.0
            cv.bar(mask, x0 + i * 10, y0, x0 + i * 10, y0 + tick, 1.0, 255)
            cv.bar(mask, x0, y0 + i * 10, x0 + tick, y0 + i * 10, 1.0, 255)
        cx, cy = x0 + cell / 2, y0 + cell / 2
        for radius in (12.0, 24.0):
            thick = max(1, round(1.0 / cv.pixel_um))
            cv2.circle(mask, cv.pt(cx, cy), cv.px(radius), 255, thick, cv2.LINE_AA, _SHIFT)
        cv.bar(mask, cx - 30, cy, cx + 30, cy, 0.7, 255)  # crosshair
        cv.bar(mask, cx, cy - 30, cx, cy + 30, 0.7, 255)
        label = f"{int(rng.integers(10, 100))}"
        height_px = 12.0 / cv.pixel_um
        thick = max(1, round(1.5 / cv.pixel_um))
        org = cv.pt(x0 + 16, y0 + 30)
        cv2.putText(mask, label, (org[0] >> _SHIFT, org[1] >> _SHIFT), font,
                    height_px / base_h, 255, thick, cv2.LINE_AA)
        # Two resolution groups per cell, widths chosen by the cell's generator.
        for gx, gy in ((x0 + 72, y0 + 14), (x0 + 14, y0 + 72)):
            w = float(widths[int(rng.integers(len(widths)))])
            length = 5 * w
            for i in range(3):  # vertical bars, then horizontal bars beside them
                xb = gx + i * 2 * w
                cv.bar(mask, xb, gy, xb, gy + length, w, 255)
                yb = gy + i * 2 * w
                cv.bar(mask, gx + 6 * w, yb, gx + 6 * w + length, yb, w, 255)
    chrome_transmittance = 0.03
    field = 1.0 - (1.0 - chrome_transmittance) * (mask.astype(np.float32) / 255.0)
    return Specimen("reticle", "absorption", field.astype(np.float32))


def _transparent_cells(cv: _Canvas, seed: int) -> Specimen:
    """Unstained adherent cells: smooth phase domes, thicker nuclei, granules and processes."""
    shape = cv.shape
    body = np.zeros(shape, np.float32)
    detail = np.zeros(shape, np.float32)
    def cell(rng: np.random.Generator, x: float, y: float) -> None:
        a = rng.uniform(11, 22)
        b = a * rng.uniform(0.45, 0.9)
        ang = rng.uniform(0, 180)
        for _ in range(rng.integers(1, 4)):  # processes (lamellipodia), thinner than the body
            t = rng.uniform(0, 2 * math.pi)
            ln = a + rng.uniform(5, 15)
            cv.bar(body, x, y, x + ln * math.cos(t), y + ln * math.sin(t),
                   rng.uniform(2.0, 5.0), PHASE_RAD['process'])
        cv.ellipse(body, x, y, a, b, ang, PHASE_RAD['cytoplasm'])
        na = rng.uniform(4.0, 6.5)
        cv.ellipse(body, x, y, na, na * rng.uniform(0.7, 1.0), rng.uniform(0, 180),
                   PHASE_RAD['nucleus'])
        for _ in range(rng.integers(10, 40)):  # granules around the nucleus
            r = na + rng.uniform(0, 0.6) * (a - na)
            t = rng.uniform(0, 2 * math.pi)
            g = rng.uniform(0.3, 0.8)
            cv.ellipse(detail, x + r * math.cos(t), y + r * math.sin(t), g, g, 0,
                       PHASE_RAD['granule'])

    for rng, x0, y0 in cv.tiles(seed, 6, 70.0, 35.0):
        for _ in range(rng.poisson(1.0)):
            cell(rng, x0 + rng.uniform(0, 70), y0 + rng.uniform(0, 70))
    centre = _centre_rng(seed, 6)
    cell(centre, centre.uniform(-6, 6), centre.uniform(-6, 6))
    # Cells flatten towards their edges: smooth the stepwise thickness over ~2 um.
    sigma = 2.0 / cv.pixel_um
    body = cv2.GaussianBlur(body, (0, 0), sigma)
    field = body + detail
    return Specimen("transparent-cells", "phase", field.astype(np.float32),
                    absorption_per_radian=PHASE_ABSORPTION_PER_RAD)


_BUILDERS: dict[str, Callable[[_Canvas, int], Specimen]] = {
    "fluorescent-cells": _fluorescent_cells,
    "beads": _beads,
    "stained-tissue": _stained_tissue,
    "reticle": _reticle,
    "transparent-cells": _transparent_cells,
}


def generate_specimen(kind: str, shape: tuple[int, int], pixel_um: float, seed: int) -> Specimen:
    """Build a specimen covering ``shape`` pixels of ``pixel_um`` (sample plane)."""
    if kind not in SPECIMENS:
        raise ValueError(f"unknown specimen {kind!r}; choose one of: {', '.join(SPECIMENS)}")
    if pixel_um <= 0:
        raise ValueError("pixel_um must be positive")
    if kind == "empty":  # a clean slide in transmitted light: nothing to focus on
        return Specimen("empty", "absorption", np.ones(shape, np.float32))
    return _BUILDERS[kind](_Canvas(shape, pixel_um), seed)


def make_specimen(kind: str, shape: tuple[int, int], pixel_um: float, seed: int) -> np.ndarray:
    """The specimen's field as float32 (see :class:`Specimen` for its meaning per mode)."""
    return generate_specimen(kind, shape, pixel_um, seed).field
