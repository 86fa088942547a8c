"""One confidence for every answer: what the curve's own evidence says about its peak.

Every strategy and ``autofocus stack`` report this number (0..1), computed from the frames
that placed the answer, as the product of five terms, each 1 when its evidence is clear:

- contrast: how far the peak rises above the baseline, in noise deviations (0 at the flatness
  threshold, approaching 1 far above it; :func:`contrast_term`);
- sampling: how many points lie inside the peak (above ``FIT_LEVEL`` of its height): one
  point cannot place a peak, three can (:func:`sampling_term`);
- rivals: 1 minus the height of the highest other peak relative to this one;
- flat top: the width of the top (the points within ``FLAT_TOP`` of the top's value, as a
  light-sheet series whose top ten planes lie within 3 %) relative to the peak's width at half
  height; a Gaussian's top is a fifth of it, a plateau most of it (:func:`top_term`);
- symmetry: the narrower over the wider half-width at half height: an uneven peak (a flank
  broadened by aberration, two peaks merged) places focus less surely (:func:`symmetry_term`).

``benchmarks/real_curves.py`` and ``benchmarks/search.py`` check it against outcomes: answers
at 0.9 or more are right in at least 97 % of cases, answers more than 1 DOF (1 position) off
stay below 0.5.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from autofocus.numerics import run_above

__all__ = [
    "CLEAR_RELATIVE",
    "FIT_LEVEL",
    "FLAT_SNR",
    "UNEXAMINED_CAP",
    "contrast_term",
    "evidence_confidence",
    "half_widths",
]

FloatArray = npt.NDArray[np.float64]

# The contrast term: 0 at this SNR (the flatness threshold), 1 - 1/e at SNR_SCALE above it.
FLAT_SNR = 10.0
SNR_SCALE = 40.0
# A curve that passed the flatness check on its rise alone (few points, an inflated noise
# estimate): 0 at this relative rise, 1 - 1/e at RISE_SCALE above it.
CLEAR_RELATIVE = 0.5
RISE_SCALE = 2.0
# Points inside the peak: those above this fraction of its height; this many suffice.
FIT_LEVEL = 0.3
SAMPLING_POINTS = 3
# The top: points within this fraction of the top's value.
FLAT_TOP = 0.03
# A top this wide (relative to the width at half height) or more has no clear maximum; one
# this narrow or less (a Gaussian's is 0.21) is a clear one.
TOP_PLATEAU = 0.6
TOP_CLEAR = 0.3
# The symmetry term never goes below this (an uneven peak is still a peak).
SYMMETRY_FLOOR = 0.6
# An answer whose search left part of the range where another focus (a layer) could lie
# unexamined is worth at most this: the focus of what was examined, not necessarily the focus
# (confident answers are 0.5 or more).
UNEXAMINED_CAP = 0.45


def clip01(value: float) -> float:
    return float(min(1.0, max(0.0, value)))


def contrast_term(snr: float, relative_rise: float) -> float:
    if snr >= FLAT_SNR:
        return clip01(1.0 - math.exp(-(snr - FLAT_SNR) / SNR_SCALE))
    return clip01(1.0 - math.exp(-(relative_rise - CLEAR_RELATIVE) / RISE_SCALE))


def sampling_term(scores: FloatArray, best: int, baseline: float) -> float:
    lo, hi = run_above(scores, best, baseline + FIT_LEVEL * (scores[best] - baseline))
    return clip01((hi - lo + 1) / SAMPLING_POINTS)


def half_widths(z: FloatArray, scores: FloatArray, best: int, level: float) -> tuple[float, float]:
    """Distances from the best point to where the curve crosses ``level`` on either side
    (linear interpolation; to the outermost point where it never does)."""
    lo, hi = run_above(scores, best, level)

    def crossing(inner: int, outer: int) -> float:
        if outer < 0 or outer >= len(z):
            return float(z[inner])
        a, b = scores[inner], scores[outer]
        t = (a - level) / (a - b) if a != b else 0.0
        return float(z[inner] + t * (z[outer] - z[inner]))

    return float(z[best]) - crossing(lo, lo - 1), crossing(hi, hi + 1) - float(z[best])


def top_term(z: FloatArray, scores: FloatArray, best: int, baseline: float) -> float:
    top = float(scores[best])
    half = sum(half_widths(z, scores, best, baseline + 0.5 * (top - baseline)))
    plateau = sum(half_widths(z, scores, best, top - FLAT_TOP * abs(top)))
    if half <= 0:
        return 1.0
    ratio = plateau / half
    return clip01((TOP_PLATEAU - ratio) / (TOP_PLATEAU - TOP_CLEAR))


def symmetry_term(z: FloatArray, scores: FloatArray, best: int, baseline: float) -> float:
    left, right = half_widths(z, scores, best, baseline + 0.5 * (scores[best] - baseline))
    if max(left, right) <= 0:
        return 1.0
    return SYMMETRY_FLOOR + (1 - SYMMETRY_FLOOR) * min(left, right) / max(left, right)


def evidence_confidence(z: FloatArray, scores: FloatArray, best: int, baseline: float,
                        noise: float, rival: float) -> float:
    """The confidence of the peak at index ``best`` of a profile (positions ascending), given
    the curve's baseline and noise and the height of its highest rival (relative)."""
    prominence = float(scores[best]) - baseline
    snr = prominence / noise if noise > 0 else math.inf
    relative = prominence / max(abs(baseline), 1e-300)
    value = (contrast_term(snr, relative) * sampling_term(scores, best, baseline)
             * (1.0 - clip01(rival)) * top_term(z, scores, best, baseline)
             * symmetry_term(z, scores, best, baseline))
    return clip01(value)
