"""Objectives and defocus transfer functions computed from a scalar pupil.

Incoherent imaging (fluorescence, and absorbing specimens under a wide condenser)
------------------------------------------------------------------------------
The pupil of an aberration-free objective, written over transverse spatial frequency
``rho`` (cycles/um), is ``P(rho) = exp(i W(rho, z))`` for ``rho <= NA/lambda`` and 0 beyond,
with the exact (non-paraxial) defocus phase

    W(rho, z) = 2 pi z (sqrt((n/lambda)^2 - rho^2) - n/lambda)

(the same optical path difference as the Gibson-Lanni scalar model when sample, coverslip and
immersion match their design values). The pupil is radially symmetric, so everything is a
Hankel transform:

    h(r, z)   = integral_0^{NA/lambda} P(rho) J0(2 pi rho r) 2 pi rho d rho   (amplitude PSF)
    OTF(k, z) = integral_0^inf |h(r, z)|^2 J0(2 pi k r) 2 pi r dr / integral |h|^2 2 pi r dr

Both integrals are midpoint sums with matrices of Bessel values built once per objective and
wavelength (:class:`DefocusOTF`); a new defocus then costs two small matrix products (~ms), so the
profile is computed exactly at every requested z instead of interpolated from a coarse table.
The grids are sized so the defocused PSF fits within ``R_MAX_AIRY`` Airy radii; beyond the
defocus where it would not (hundreds of depths of field) the geometric-optics limit is used:
there the OTF is a function of ``k * z`` times the in-focus diffraction OTF, and that function is
read off the exact profile at the largest exact defocus, so the model is continuous.

Spherical aberration from a cover glass of the wrong thickness
--------------------------------------------------------------
A dry objective is corrected for one cover-glass thickness (0.17 mm). A glass thicker by
``dt`` adds the optical path ``dt (n_g cos theta_g - n_i cos theta_i)`` to the ray that leaves
the pupil at transverse frequency ``rho`` (``n sin theta = lambda rho`` in every layer), i.e. the
pupil phase

    W_sa(rho) = 2 pi dt (sqrt((n_g/lambda)^2 - rho^2) - sqrt((n_i/lambda)^2 - rho^2))

(the cover-glass terms of the Gibson-Lanni model; zero for oil immersion, where ``n_g = n_i``).
Its least-squares defocus and piston are removed, so the configured true focus stays the
aberrated image's centre of best focus; what is left is the spherical aberration proper, which
makes the curve asymmetric: the image degrades faster on one side of focus than on the other
(marginal and paraxial rays focus at different depths), and the sharpest plane moves a little
off that centre (the simulator exposes where: ``SimulatedMicroscope.sharpest_focus_um``). The
aberration grows with the fourth power of the NA: negligible at 10x/0.3, strong at 40x/0.75.
With a thicker glass the flank below focus (stage lower, focal plane deeper) is the broad one;
the on-axis profile matches psfmodels' scalar Gibson-Lanni PSF within 2 % (tests/sim).
At defocus beyond the exact range (hundreds of depths of field) the geometric limit is kept
symmetric: there the aberration is a small part of the blur.

Transmitted light, transparent (weak phase) specimens
-----------------------------------------------------
For a specimen ``t = exp(i phi) (1 - a)`` with small ``phi`` and ``a``, the linear part of the
image spectrum under illumination from a condenser of numerical aperture ``sigma * NA`` is

    I(k) = delta(k) - 2 E(k, z) A(k) [Phi(k) sin W(k, z) + a(k) cos W(k, z)]

with ``E`` the partial-coherence envelope: averaging the defocus phase over the condenser disc
(radius ``q_c = sigma NA / lambda``) turns the lateral phase gradient into
``jinc(q_c |dW/dk|)``, and ``A`` the fraction of the condenser disc, shifted by ``k``, that the
objective pupil still accepts. At focus ``sin W = 0``: a pure phase object is invisible, and its
contrast grows on both sides of focus with opposite sign, as real unstained cells do.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special

__all__ = [
    "BLUR_MAX_AIRY",
    "OBJECTIVES",
    "R_MAX_AIRY",
    "DefocusOTF",
    "Objective",
    "defocus_model",
    "defocus_otf",
]

FloatArray = npt.NDArray[np.float32]
Float64Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Objective:
    name: str
    magnification: float
    na: float
    immersion_index: float = 1.0

    def depth_of_field_um(self, wavelength_um: float, pixel_um: float) -> float:
        """Total depth of field (Berek / Young): ``lambda n / NA^2 + n e / (M NA)``.

        The first term is the diffraction-limited axial range (the wave-optical depth), the
        second the range over which the geometric blur stays below one camera pixel of size
        ``e`` (um, on the sensor) at magnification ``M``.
        """
        n = self.immersion_index
        return wavelength_um * n / self.na**2 + n * pixel_um / (self.magnification * self.na)

    def pupil_cutoff(self, wavelength_um: float) -> float:
        """Largest transverse spatial frequency (cycles/um) the pupil passes: ``NA / lambda``."""
        return self.na / wavelength_um

    def max_tan_theta(self) -> float:
        """Tangent of the marginal ray angle in the immersion medium."""
        n = self.immersion_index
        return self.na / math.sqrt(n * n - self.na * self.na)


OBJECTIVES: dict[str, Objective] = {
    "10x": Objective("10x/0.3", 10, 0.3),
    "20x": Objective("20x/0.4", 20, 0.4),
    "40x": Objective("40x/0.75", 40, 0.75),
    "60x": Objective("60x/1.4 oil", 60, 1.4, 1.515),
}

COVER_GLASS_INDEX = 1.515
"""Refractive index of cover glass (borosilicate, ~550 nm)."""

R_MAX_AIRY = 128.0
"""Radius (in units of lambda/NA) of the PSF window of the exact Hankel computation."""
BLUR_MAX_AIRY = 100.0
"""Largest geometric blur radius (lambda/NA units) computed exactly; beyond: geometric limit."""


def _jinc(x: Float64Array) -> Float64Array:
    """``2 J1(x) / x`` with its limit 1 at 0."""
    out = np.ones_like(x)
    nz = np.abs(x) > 1e-9
    out[nz] = 2.0 * special.j1(x[nz]) / x[nz]
    return out


def _disc_overlap_fraction(k: Float64Array, pupil: float, condenser: float) -> Float64Array:
    """Fraction of a disc of radius ``condenser`` centred at distance ``k`` lying inside a
    disc of radius ``pupil`` centred at 0 (the standard lens-area formula)."""
    r1, r2 = pupil, condenser
    d = np.asarray(k, dtype=np.float64)
    out = np.zeros_like(d)
    inside = d <= abs(r1 - r2)
    out[inside] = 1.0 if r2 <= r1 else (r1 / r2) ** 2
    part = (~inside) & (d < r1 + r2)
    dp = d[part]
    a1 = np.arccos(np.clip((dp**2 + r1**2 - r2**2) / (2 * dp * r1), -1, 1))
    a2 = np.arccos(np.clip((dp**2 + r2**2 - r1**2) / (2 * dp * r2), -1, 1))
    tri = 0.5 * np.sqrt(np.clip((-dp + r1 + r2) * (dp + r1 - r2) * (dp - r1 + r2)
                                * (dp + r1 + r2), 0, None))
    out[part] = (r1**2 * a1 + r2**2 * a2 - tri) / (math.pi * r2**2)
    return out


class DefocusOTF:
    """Radially symmetric defocus transfer functions of one objective at one wavelength.

    Profiles are sampled at ``k = i * dk`` for ``i = 0 .. n_k - 1`` (``dk = 2 NA / lambda / n_k``)
    and the incoherent OTF is zero from ``2 NA / lambda`` on. Use :meth:`profile` for the OTF at
    a defocus, :meth:`phase_profile` for the weak-phase transfer, and :meth:`evaluate` for
    arbitrary frequency arrays.
    """

    def __init__(self, objective: Objective, wavelength_um: float, n_k: int = 1024,
                 n_r: int = 1536, n_rho: int = 1024, cover_glass_error_um: float = 0.0) -> None:
        if not math.isfinite(cover_glass_error_um):
            raise ValueError("cover_glass_error_um must be finite")
        self.objective = objective
        self.cover_glass_error_um = float(cover_glass_error_um)
        self.wavelength_um = wavelength_um
        self.n_index = objective.immersion_index
        self.rho_max = objective.pupil_cutoff(wavelength_um)
        self.k_cut = 2.0 * self.rho_max
        self.n_k = n_k
        self.dk = self.k_cut / n_k
        self.k = np.arange(n_k, dtype=np.float64) * self.dk
        airy = wavelength_um / objective.na
        self.z_exact_max_um = BLUR_MAX_AIRY * airy / objective.max_tan_theta()
        # Sampling: |h|^2 is band-limited to 2 NA/lambda and the OTF integrand to 4 NA/lambda,
        # so dr = 1/(12 NA/lambda) keeps the midpoint rule free of aliasing (its O(dr^2) error at
        # r = 0 is removed below); the pupil integrand oscillates at most at (r_max + blur
        # radius) = 228 lambda/NA cycles per unit rho, which 1024 samples resolve ~2x over.
        dr = (R_MAX_AIRY * airy) / n_r
        self._r = (np.arange(n_r) + 0.5) * dr
        drho = self.rho_max / n_rho
        self._rho = (np.arange(n_rho) + 0.5) * drho
        self._to_field = special.j0(2 * np.pi * np.outer(self._r, self._rho)) * (
            2 * np.pi * self._rho * drho)
        self._r_weight = 2 * np.pi * self._r * dr
        self._to_otf = special.j0(2 * np.pi * np.outer(self.k, self._r)) * self._r_weight
        # Row 0 of the field matrix gives h(r = 0) for the end-point correction.
        self._to_field = np.vstack([2 * np.pi * self._rho * drho, self._to_field])
        # Euler-Maclaurin: the midpoint sum of f(r) = 2 pi r I(r) J0(2 pi k r) over [0, r_max]
        # exceeds the integral by dr^2/24 * f'(0) = dr^2/24 * 2 pi I(0), the same for every k.
        self._end_correction = dr * dr / 24.0 * 2 * np.pi
        kz = (self.n_index / wavelength_um) ** 2 - self._rho**2
        self._axial = np.sqrt(kz) - self.n_index / wavelength_um  # W / (2 pi z)
        self._aberration = self._spherical_phase(drho)
        self.aberrated = bool(np.any(self._aberration != 0.0))
        self._cache: dict[float, Float64Array] = {}
        self.in_focus = self._exact(np.array([0.0]))[:, 0]
        self._geometric: Float64Array | None = None

    def _spherical_phase(self, drho: float) -> Float64Array:
        """Pupil phase (radians) of the cover-glass error, without its piston and defocus."""
        dt = self.cover_glass_error_um
        lam = self.wavelength_um
        if dt == 0.0 or self.n_index == COVER_GLASS_INDEX:
            return np.zeros_like(self._rho)
        glass = np.sqrt((COVER_GLASS_INDEX / lam) ** 2 - self._rho**2)
        medium = np.sqrt((self.n_index / lam) ** 2 - self._rho**2)
        phase = 2 * np.pi * dt * (glass - medium)
        # Least squares over the pupil's area (weight rho d rho) on {piston, defocus}.
        basis = np.stack([np.ones_like(self._rho), 2 * np.pi * self._axial], axis=1)
        weight = np.sqrt(self._rho * drho)
        coeffs, *_ = np.linalg.lstsq(basis * weight[:, None], phase * weight, rcond=None)
        residual: Float64Array = phase - basis @ coeffs
        return residual

    # -- incoherent OTF -------------------------------------------------------------------
    def _exact(self, z_um: Float64Array) -> Float64Array:
        """Exact OTF profiles, one column per defocus (all ``|z| <= z_exact_max_um``)."""
        out = np.empty((self.n_k, len(z_um)))
        for j, z in enumerate(z_um):
            # numpy's own single-threaded loops (einsum), not BLAS: these products take
            # ~0.3 ms, while threaded BLAS on a loaded 2-core machine waits 5-50 ms on thread
            # wake-ups and would dominate the frame time.
            phase = (2 * np.pi * z) * self._axial + self._aberration
            field_re = np.einsum("ij,j->i", self._to_field, np.cos(phase))
            field_im = np.einsum("ij,j->i", self._to_field, np.sin(phase))
            intensity = field_re**2 + field_im**2
            centre = self._end_correction * intensity[0]
            intensity = intensity[1:]
            energy = float(np.einsum("i,i->", self._r_weight, intensity)) - centre
            out[:, j] = (np.einsum("ij,j->i", self._to_otf, intensity) - centre) / energy
        return out

    def _geometric_factor(self) -> Float64Array:
        """Geometric-optics factor G(u), u = k z, tabulated on u = k_i * z_exact_max."""
        if self._geometric is None:
            edge = self._exact(np.array([self.z_exact_max_um]))[:, 0]
            ok = self.in_focus > 1e-3
            g = np.zeros_like(edge)
            g[ok] = edge[ok] / self.in_focus[ok]
            self._geometric = g
        return self._geometric

    def profile(self, defocus_um: float) -> Float64Array:
        """OTF at ``self.k`` for one defocus (cached). Symmetric in z without aberration;
        with it, signed (one side of focus differs from the other)."""
        z = round(float(defocus_um), 6)
        if not self.aberrated:
            z = abs(z)
        hit = self._cache.get(z)
        if hit is not None:
            return hit
        if abs(z) <= self.z_exact_max_um:
            prof = self._exact(np.array([z]))[:, 0]
        else:
            # Geometric regime: OTF(k, z) = G(k z) * OTF(k, 0), G read at the exact edge.
            scaled_k = self.k * (abs(z) / self.z_exact_max_um)
            g = np.interp(scaled_k, self.k, self._geometric_factor(), right=0.0)
            prof = g * self.in_focus
        if len(self._cache) > 512:
            self._cache.clear()
        self._cache[z] = prof
        return prof

    def profiles(self, defocus_um: npt.ArrayLike) -> Float64Array:
        """Mean OTF over several defocus values (motion or vibration within one exposure)."""
        zs = np.atleast_1d(np.asarray(defocus_um, dtype=np.float64))
        return np.mean([self.profile(float(z)) for z in zs], axis=0)

    # -- weak phase / amplitude transfer (transmitted light) -------------------------------
    def phase_profile(self, defocus_um: float, condenser_sigma: float,
                      absorption_per_radian: float = 0.0) -> Float64Array:
        """Transfer of a weak phase map (radians) to intensity, at ``self.k``.

        Returns ``-2 E A (sin W + eps cos W)`` where ``eps`` is the amplitude absorption per
        radian of phase (unstained cells absorb a little where they are thick). Multiply by
        the spectrum of the phase map and add the unit background.
        """
        n_over_lambda = self.n_index / self.wavelength_um
        k = self.k
        kz = np.sqrt(np.clip(n_over_lambda**2 - k**2, 1e-12, None))
        w = 2 * np.pi * defocus_um * (kz - n_over_lambda)
        grad = 2 * np.pi * abs(defocus_um) * k / kz  # |dW/dk|
        q_c = condenser_sigma * self.rho_max
        envelope = _jinc(grad * q_c)
        if q_c > 0:
            aperture = _disc_overlap_fraction(k, self.rho_max, q_c)
        else:
            aperture = (k <= self.rho_max).astype(np.float64)
        result: Float64Array = -2.0 * envelope * aperture * (
            np.sin(w) + absorption_per_radian * np.cos(w))
        return result

    def evaluate(self, k_cyc_per_um: npt.ArrayLike, defocus_um: float) -> Float64Array:
        """OTF at arbitrary spatial frequencies (linear interpolation of :meth:`profile`)."""
        k = np.abs(np.asarray(k_cyc_per_um, dtype=np.float64))
        out: Float64Array = np.interp(k, self.k, self.profile(defocus_um), right=0.0)
        return out


@functools.lru_cache(maxsize=16)
def defocus_model(objective: Objective, wavelength_um: float,
                  cover_glass_error_um: float = 0.0) -> DefocusOTF:
    """The (cached) :class:`DefocusOTF` of an objective; building one takes ~0.2 s.
    ``cover_glass_error_um``: cover glass this much thicker than the design (see above)."""
    return DefocusOTF(objective, wavelength_um, cover_glass_error_um=cover_glass_error_um)


def defocus_otf(k_cyc_per_um: np.ndarray, defocus_um: float, objective: Objective,
                wavelength_um: float) -> np.ndarray:
    """Incoherent OTF at spatial frequencies ``k`` (cycles/um) and one defocus (um)."""
    return defocus_model(objective, wavelength_um).evaluate(k_cyc_per_um, defocus_um)
