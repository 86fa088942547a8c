"""The small numerical idioms the curve analysis and the strategies share, one copy each.

- robust noise: the MAD-based spread of a set of deviations, or of a sequence's differences;
- the position window: samples within ``lo``..``hi`` give or take ``POSITION_TOLERANCE_UM``;
- the run of points around a peak above a level, and the top of a peak (:func:`top_window`);
- peak placement: a Gaussian (parabola on log heights) through the points around the best one,
  else a parabola through its three neighbours, else the best point itself.

Pure numpy, no knowledge of probes or strategies: the analysis floor builds on it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from statistics import NormalDist
from typing import Protocol, TypeVar

import numpy as np
import numpy.typing as npt

__all__ = [
    "MAD_TO_SIGMA",
    "POSITION_TOLERANCE_UM",
    "difference_noise",
    "fit_vertex",
    "in_window",
    "log_parabola_vertex",
    "parabola_vertex",
    "robust_sigma",
    "run_above",
    "top_window",
    "within",
]

FloatArray = npt.NDArray[np.float64]

# Positions closer than this are the same position: it absorbs float rounding in step arithmetic.
POSITION_TOLERANCE_UM = 1e-6
# The MAD of normal noise times this is its standard deviation.
MAD_TO_SIGMA = 1.4826


def robust_sigma(deviations: npt.ArrayLike, quantile: float = 0.5) -> float:
    """Standard deviation of normal noise estimated from deviations about zero: the
    ``quantile`` of their absolute values, scaled (0.5: the MAD). A few outliers (a peak among
    flat frames) do not move it; a lower quantile tolerates more of them. 0 for no finite
    deviations."""
    values = np.abs(np.asarray(deviations, dtype=float))
    values = values[np.isfinite(values)]
    if not len(values):
        return 0.0
    scale = 1.0 / MAD_TO_SIGMA if quantile == 0.5 else NormalDist().inv_cdf((1 + quantile) / 2)
    return float(np.quantile(values, quantile)) / scale


def difference_noise(values: npt.ArrayLike, order: int = 1, quantile: float = 0.5) -> float:
    """Noise of a sequence from its ``order``-th differences (1: frame to frame; 2: also blind
    to a linear trend): their robust spread (:func:`robust_sigma` at ``quantile``) divided by
    how much differencing amplifies white noise (sqrt 2 and sqrt 6)."""
    differences = np.diff(np.asarray(values, dtype=float), order)
    gain = math.sqrt({1: 2.0, 2: 6.0}[order])
    return robust_sigma(differences, quantile) / gain


class Positioned(Protocol):
    @property
    def z_um(self) -> float: ...


P = TypeVar("P", bound=Positioned)


def within(z_um: float, lo_um: float, hi_um: float) -> bool:
    return lo_um - POSITION_TOLERANCE_UM <= z_um <= hi_um + POSITION_TOLERANCE_UM


def in_window(samples: Iterable[P], lo_um: float, hi_um: float) -> list[P]:
    """The samples taken within ``lo``..``hi`` (same order)."""
    return [s for s in samples if within(s.z_um, lo_um, hi_um)]


# Peaks are placed from their top only: the points above this fraction of the height. A focus
# curve is Gaussian near its top, but its flanks need not be (spherical aberration broadens one;
# a dim specimen's baseline lifts both), and a flank would pull the fit towards it.
TOP_LEVEL = 0.5


def run_above(scores: FloatArray, best: int, level: float) -> tuple[int, int]:
    """First and last index of the contiguous run around ``best`` above ``level``."""
    lo = best
    while lo > 0 and scores[lo - 1] > level:
        lo -= 1
    hi = best
    while hi < len(scores) - 1 and scores[hi + 1] > level:
        hi += 1
    return lo, hi


def top_window(scores: FloatArray, best: int, baseline: float,
               fraction: float = TOP_LEVEL) -> npt.NDArray[np.intp]:
    """Indices of the contiguous run around ``best`` above ``fraction`` of its height over
    ``baseline``; at least the best point's two neighbours, so a sharp peak still gets three."""
    lo, hi = run_above(scores, best, baseline + fraction * (scores[best] - baseline))
    lo, hi = min(lo, max(best - 1, 0)), max(hi, min(best + 1, len(scores) - 1))
    return np.arange(lo, hi + 1)


def fit_vertex(z: FloatArray, scores: FloatArray, best: int, baseline: float,
               window: Sequence[int] | npt.NDArray[np.intp]) -> tuple[float, str]:
    """Sub-sample position of the peak at index ``best`` and how it was placed.

    A Gaussian through the points ``window`` (heights above ``baseline``), else a parabola
    through the best point and its two neighbours, else the best point itself."""
    idx = np.asarray(window, dtype=np.intp)
    if len(idx) >= 3:
        vertex = log_parabola_vertex(z[idx], scores[idx] - baseline)
        if vertex is not None:
            return vertex, "gaussian-fit"
    if 0 < best < len(z) - 1:
        vertex = parabola_vertex(z[best - 1 : best + 2], scores[best - 1 : best + 2])
        if vertex is not None:
            return vertex, "parabola-fit"
    return float(z[best]), "best-sample"


def log_parabola_vertex(z: FloatArray, heights: FloatArray) -> float | None:
    """Vertex of a weighted parabola through ``log(heights)``, if it is a maximum inside the points.

    Weights are proportional to the height: the log stretches the noise of small heights."""
    positive = heights > 0
    if np.count_nonzero(positive) < 3:
        return None
    hs = heights[positive]
    return maximum_vertex(z[positive], np.log(hs), hs / hs.max())


def parabola_vertex(z: FloatArray, scores: FloatArray) -> float | None:
    """Vertex of a parabola through ``scores``, if it is a maximum inside the points."""
    return maximum_vertex(z, scores, np.ones_like(scores))


def maximum_vertex(z: FloatArray, y: FloatArray, w: FloatArray) -> float | None:
    """Vertex of a parabola fitted to ``y`` over ``z`` with weights ``w``, if it is a maximum
    (the parabola opens downward) inside the span of ``z``; else None."""
    centre, scale = float(z.mean()), float(np.ptp(z)) or 1.0
    u = (z - centre) / scale  # conditioning: z may be 10 000 um with a 1 um spread
    coefficients = safe_polyfit(u, y, w)
    if coefficients is None:
        return None
    a, b = coefficients
    if not a < 0:
        return None
    vertex = centre + scale * (-b / (2 * a))
    return float(vertex) if z.min() <= vertex <= z.max() else None


def safe_polyfit(u: FloatArray, y: FloatArray, w: FloatArray) -> tuple[float, float] | None:
    """Quadratic and linear coefficients of a weighted parabola fit, or None when the points
    cannot determine one (coincident positions, overflowing scores)."""
    if not (np.all(np.isfinite(u)) and np.all(np.isfinite(y)) and np.ptp(u) > 0):
        return None
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", np.exceptions.RankWarning)
            a, b, _ = np.polyfit(u, y, 2, w=w)
    except (np.linalg.LinAlgError, ValueError):
        return None
    return (float(a), float(b)) if math.isfinite(a) and math.isfinite(b) else None
