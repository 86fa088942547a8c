"""Focus curves: the samples a search collected, and what they say about the peak.

Two ways to read a curve:

- :meth:`FocusCurve.locate_best_frame` is the tutorial's answer (the best frame wins), made honest
  by two checks: a flat curve (an empty field, where scores differ only by noise) is not a focus,
  and neither is a best frame at an end of the range (focus may lie beyond it).
- :meth:`FocusCurve.locate_peak` fits the peak between samples and checks that the curve supports
  an answer at all: not flat, not highest at the edge of the range, one peak or one layer chosen
  among several (:mod:`autofocus.layers`), and enough points above the noise. Each failed check raises
  :class:`FocusNotFound` with the reason.

Transparent specimens (weak phase objects in transmitted light) are invisible at focus: their
contrast grows on both sides of it, so the curve has two humps and focus is the dip between them.
``expect="auto"`` (and ``"dip"``, a declared transparent specimen) takes a single peak as focus
and a balanced pair of humps around a dip as a transparent specimen, focused at the dip.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import signal

from autofocus.confidence import (
    CLEAR_RELATIVE,
    FIT_LEVEL,
    FLAT_SNR,
    contrast_term,
    evidence_confidence,
)
from autofocus.errors import FocusNotFound
from autofocus.layers import Layer, choose_layer, close_as_humps
from autofocus.numerics import fit_vertex, parabola_vertex, robust_sigma, run_above, top_window

__all__ = [
    "ABOVE_NOISE_SNR",
    "COMPARABLE",
    "FLAT_RELATIVE",
    "CurveStats",
    "Expect",
    "FocusCurve",
    "Peak",
    "Sample",
    "baseline_of",
    "check_not_flat",
    "check_one_peak",
    "curve_stats",
    "is_flat",
    "locate_dip",
    "profile",
    "significant_peaks",
    "transparent_humps",
]

FloatArray = npt.NDArray[np.float64]
Expect = Literal["peak", "dip", "auto"]
"""What focus looks like on the curve: its highest peak; or the dip between two humps when they
show, else the peak ("dip" and "auto" read curves alike and differ in the search)."""

# A curve whose peak rises less than this many noise deviations above its baseline is flat:
# on 101 frames of pure noise the largest value lies about 4 deviations above the 10th percentile.
# (FLAT_SNR is defined with the confidence, whose contrast term starts there.)
BASELINE_PERCENTILE = 10.0
# ... or less than this fraction of its baseline: focus measures on an empty field still vary by
# a fraction of a percent with illumination drift, which the noise estimate may not see.
FLAT_RELATIVE = 0.03
# A peak rising by more than this fraction of its baseline is never flat, whatever the noise
# estimate says: a densely sampled sharp peak can inflate that estimate, noise cannot do this.
# A second peak at least this high (relative to the main one, above the baseline) is a rival.
COMPARABLE = 0.5
# Points at least this many noise deviations above the baseline count as "above noise".
ABOVE_NOISE_SNR = 4.0
# The fit uses the contiguous points around the best one that reach FIT_LEVEL of its height.
# Two humps are a transparent specimen's when the lower one reaches this fraction of the higher
# one and the dip between them falls this far (fraction of the lower hump) below it.
HUMP_BALANCE = 0.4
DIP_DEPTH = 0.3


@dataclass(frozen=True)
class Sample:
    """One scored frame: where it was taken, its score, and when (clock seconds).

    ``coarse`` is the same frame's score on the coarse (downsampled, noise-robust) measure when
    the probe computed one; ``moving`` marks frames taken while the stage moved (their z comes
    from the frame's timestamp and their score carries motion blur)."""

    z_um: float
    score: float
    t_s: float = 0.0
    coarse: float | None = None
    moving: bool = False


@dataclass(frozen=True)
class Peak:
    """Where the curve says focus is."""

    z_um: float
    score: float
    confidence: float
    method: str


@dataclass(frozen=True)
class CurveStats:
    """Baseline, noise and height of a curve, in score units."""

    baseline: float
    noise: float
    top: float

    @property
    def prominence(self) -> float:
        return self.top - self.baseline

    @property
    def snr(self) -> float:
        return self.prominence / self.noise


@dataclass
class FocusCurve:
    """Samples in acquisition order (a z may repeat)."""

    samples: list[Sample] = field(default_factory=list)
    set_aside: list[Sample] = field(default_factory=list)
    """Frames taken but no longer trusted to say where they were taken (see :meth:`set_apart`):
    they count as frames used, and do not shape the curve."""

    def add(self, z_um: float, score: float, t_s: float = 0.0, *, coarse: float | None = None,
            moving: bool = False) -> Sample:
        sample = Sample(float(z_um), float(score), float(t_s),
                        None if coarse is None else float(coarse), moving)
        self.samples.append(sample)
        return sample

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def frames_taken(self) -> int:
        return len(self.samples) + len(self.set_aside)

    def set_apart(self, samples: list[Sample]) -> None:
        """Stop trusting these samples (e.g. a stream whose frame timing fell apart, so their z
        is unknown): analysis ignores them from now on, the frame count keeps them."""
        doubtful = {id(s) for s in samples}
        self.set_aside.extend(s for s in self.samples if id(s) in doubtful)
        self.samples = [s for s in self.samples if id(s) not in doubtful]

    def z(self) -> FloatArray:
        return np.array([s.z_um for s in self.samples], dtype=float)

    def scores(self) -> FloatArray:
        return np.array([s.score for s in self.samples], dtype=float)

    def select(self, keep: Callable[[Sample], bool]) -> FocusCurve:
        """A curve of the samples ``keep`` accepts (same order)."""
        return FocusCurve([s for s in self.samples if keep(s)])

    def coarse_curve(self) -> FocusCurve:
        """The coarse scores as a curve of their own (samples without one are left out)."""
        return FocusCurve([Sample(s.z_um, s.coarse, s.t_s, None, s.moving)
                           for s in self.samples if s.coarse is not None])

    def best_sample(self) -> Sample:
        """The highest-scoring sample (first one on ties, as the tutorial's strict '>')."""
        if not self.samples:
            raise FocusNotFound("no frames were scored", "no_data")
        return max(self.samples, key=lambda s: s.score)

    def locate_best_frame(self) -> Peak:
        """The tutorial's answer, made honest: the best frame, unless the curve is flat or broken.

        Flat means what :meth:`locate_peak` means by it (the same statistics), so a sweep over
        an empty field says "not found" exactly when the fitted search would."""
        z, scores = profile(self)
        stats = curve_stats(z, scores)
        check_not_flat(stats)
        best_frame = self.best_sample()
        best = int(np.argmin(np.abs(z - best_frame.z_um)))
        check_not_at_edge(z, best, None, None)
        peaks = significant_peaks(scores, stats)
        rival = max((p.height for p in peaks if p.index != best), default=0.0)
        confidence = evidence_confidence(z, scores, best, stats.baseline, stats.noise,
                                         rival / max(stats.prominence, 1e-300))
        return Peak(best_frame.z_um, best_frame.score, confidence=confidence, method="best-frame")

    def locate_peak(self, lo_um: float | None = None, hi_um: float | None = None, *,
                    expect: Expect = "peak", min_points: int = 3, layer: Layer = "auto",
                    start_um: float | None = None, dof_um: float | None = None) -> Peak:
        """The curve's answer with sub-sample fitting and confidence checks.

        ``lo_um``/``hi_um`` are the edges of the searched range (default: the outermost
        samples); a best sample on one of them is an edge peak. Several peaks are layers, chosen
        by ``layer`` (:mod:`autofocus.layers`; ``start_um`` is where "nearest" measures from);
        two humps around a dip are a transparent specimen's only when they lie as close as its
        humps do (``dof_um``: the depth of field, when known). Raises FocusNotFound with the
        reason when the curve does not support an answer."""
        z, scores = profile(self)
        stats = curve_stats(z, scores)
        check_not_flat(stats)
        peaks = significant_peaks(scores, stats)
        if expect != "peak" and len(peaks) >= 2:
            humps = transparent_humps(z, scores, peaks, stats)
            if humps is not None and close_as_humps(z, scores, *humps, stats.baseline, dof_um):
                return locate_dip(z, scores, humps, stats)
        # No humps: a transparent specimen sampled more coarsely than its humps lie apart (a few
        # depths of field) shows one peak, as the real brightfield_cells_set1 does (planes ~10 um
        # apart), and that peak is its focus. So "dip" reads the curve as "auto" does; the two
        # differ in the search, where the coarse score never leads a declared transparent one.
        tops = [(p.index, p.height) for p in peaks] or [(int(np.argmax(scores)), stats.prominence)]
        # Peaks as close as one peak's own width are one peak with a notch or noise on its
        # top, not layers: they only lower the confidence.
        first = tops[0][0]
        close = [t for t in tops[1:] if close_as_humps(z, scores, min(first, t[0]), max(first, t[0]),
                                                       stats.baseline, dof_um)]
        for other in close:
            check_no_close_rival(z, scores, first, other, stats.baseline)
        best, rival = choose_layer(z, [t for t in tops if t not in close], layer, start_um)
        if close and best == first:
            rival = max(rival, close[0][1] / tops[0][1])
        check_not_at_edge(z, best, lo_um, hi_um)
        # "Above noise" is capped at the fit level: a densely sampled sharp peak can inflate the
        # noise estimate past its own height, yet its points plainly carry the peak.
        level = min(ABOVE_NOISE_SNR * stats.noise, FIT_LEVEL * (scores[best] - stats.baseline))
        lo_run, hi_run = run_above(scores, best, stats.baseline + level)
        above = hi_run - lo_run + 1
        if above < min_points:
            raise FocusNotFound(
                f"only {above} point(s) rise above the noise; at least {min_points} are needed "
                "to place the peak (a spike, or the peak is narrower than the sampling)", "sparse"
            )
        z_fit, method = fit_peak(z, scores, best, stats.baseline)
        confidence = evidence_confidence(z, scores, best, stats.baseline, stats.noise, rival)
        return Peak(z_fit, float(scores[best]), confidence=confidence, method=method)


def profile(curve: FocusCurve) -> tuple[FloatArray, FloatArray]:
    """Positions sorted ascending, with the mean score of repeated positions."""
    if not curve.samples:
        raise FocusNotFound("no frames were scored", "no_data")
    z, scores = curve.z(), curve.scores()
    if not np.all(np.isfinite(scores)):
        raise FocusNotFound("some focus scores are not finite numbers", "no_data")
    unique, inverse = np.unique(np.round(z, 6), return_inverse=True)
    with np.errstate(over="ignore", invalid="ignore"):
        means = (np.bincount(inverse, weights=scores) / np.bincount(inverse)).astype(float)
        span = np.ptp(means)
    if not (np.all(np.isfinite(means)) and np.isfinite(span)):
        # Scores near the largest float (a broken measure): their sums or differences overflow,
        # so nothing about them (baseline, noise, peak) can be computed.
        raise FocusNotFound("the focus scores are too large to compare (a broken measure?)", "no_data")
    return unique.astype(float), means


def baseline_of(scores: FloatArray) -> float:
    """A curve's baseline: a low percentile of its scores (see :func:`curve_stats`)."""
    return float(np.percentile(scores, BASELINE_PERCENTILE))


def curve_stats(z: FloatArray, scores: FloatArray) -> CurveStats:
    """Baseline, noise and top of a curve.

    The baseline is a low percentile, not the median: a search that samples densely around the
    peak (refinement, Brent) has most of its points high on the peak, and their median would
    call the peak's own top "baseline".

    Noise is the robust spread of each point's residual from a quadratic through it and its two
    neighbours on either side: a smooth curve, however it is sampled (evenly over a range, or
    densely around its peak), follows a quadratic over five neighbouring points far closer than
    noise lets it, and the median ignores the few points where it does not (a sharp peak seen by
    a coarse grid). Plain second differences would count a densely sampled peak's curvature as
    noise. Too few points to tell noise from shape give a floor of 0.1 % of the baseline, so
    even a short curve has a scale to be compared against."""
    baseline = baseline_of(scores)
    floor = 1e-3 * abs(baseline) + 1e-12
    residuals = [quadratic_residual(z[i - 2 : i + 3], scores[i - 2 : i + 3]) for i in range(2, len(z) - 2)]
    # The centre point of a five-point quadratic carries about half the fit (leverage 17/35),
    # which shrinks its residual by sqrt(1 - 17/35) relative to the noise.
    noise = robust_sigma(np.array(residuals, dtype=float)) / math.sqrt(18 / 35)
    return CurveStats(baseline, max(noise, floor), float(np.max(scores)))


def quadratic_residual(z: FloatArray, scores: FloatArray) -> float:
    """Residual of the middle of five points from the least-squares quadratic through all five."""
    u = (z - z[2]) / (float(np.ptp(z)) or 1.0)
    try:
        with np.errstate(all="ignore"):
            coefficients = np.polyfit(u, scores, 2)
    except (np.linalg.LinAlgError, ValueError):
        return math.nan
    return float(scores[2] - coefficients[2])


def is_flat(z: FloatArray, scores: FloatArray) -> bool:
    """Whether :func:`check_not_flat` would call this profile flat."""
    try:
        check_not_flat(curve_stats(z, scores))
    except FocusNotFound:
        return True
    return False


def check_not_flat(stats: CurveStats) -> None:
    relative = stats.prominence / max(abs(stats.baseline), 1e-300)
    if relative < FLAT_RELATIVE or (stats.snr < FLAT_SNR and relative < CLEAR_RELATIVE):
        raise FocusNotFound(
            f"the focus curve is flat: its peak rises only {stats.snr:.1f} noise deviations "
            f"({100 * relative:.2g} %) above its "
            "baseline (empty field, or no specimen in range?)",
            "flat",
        )


@dataclass(frozen=True)
class LocalPeak:
    index: int
    height: float
    """Above the baseline."""


def significant_peaks(scores: FloatArray, stats: CurveStats) -> list[LocalPeak]:
    """Local maxima that stand out of the noise, highest first.

    The curve is padded with its minimum on both sides so a maximum at an end counts too: a
    rival peak that continues beyond the range is still a rival."""
    padded = np.concatenate(([scores.min()], scores, [scores.min()]))
    indices, _ = signal.find_peaks(padded, prominence=ABOVE_NOISE_SNR * stats.noise)
    peaks = [LocalPeak(int(i) - 1, float(padded[i] - stats.baseline)) for i in indices]
    return sorted(peaks, key=lambda p: p.height, reverse=True)


def check_one_peak(z: FloatArray, peaks: list[LocalPeak], stats: CurveStats) -> None:
    if len(peaks) >= 2 and peaks[1].height >= COMPARABLE * peaks[0].height:
        first, second = z[peaks[0].index], z[peaks[1].index]
        raise FocusNotFound(
            f"several comparable peaks: at {first:.2f} um and {second:.2f} um "
            f"({100 * peaks[1].height / peaks[0].height:.0f} % as high); which one is focus is "
            "ambiguous (two layers, dust on a coverslip, or a transparent specimen: try --mode auto)",
            "rivals",
        )


def check_no_close_rival(z: FloatArray, scores: FloatArray, first: int, other: tuple[int, float],
                         baseline: float) -> None:
    """Two close peaks of similar height with a deep dip between them (a transparent
    specimen's humps read as peaks) are ambiguous; a shallow dip is one peak's notch."""
    left, right = sorted((first, other[0]))
    height = float(scores[first]) - baseline
    if other[1] < COMPARABLE * height or right - left < 2:
        return
    dip = float(scores[left + 1 : right].min()) - baseline
    if dip <= (1.0 - DIP_DEPTH) * min(height, other[1]):
        raise FocusNotFound(
            f"several comparable peaks close together: at {z[left]:.2f} um and {z[right]:.2f} um "
            "(a transparent specimen's two humps? try --mode auto)", "rivals")


def check_not_at_edge(z: FloatArray, best: int, lo_um: float | None, hi_um: float | None) -> None:
    lo = z[0] if lo_um is None else lo_um
    hi = z[-1] if hi_um is None else hi_um
    tolerance = 1e-6 + 1e-9 * max(abs(lo), abs(hi))
    if best == 0 and z[0] <= lo + tolerance:
        raise FocusNotFound(f"the score is highest at the lower edge of the range ({z[0]:.2f} um): "
                            "focus may lie below it", "beyond_lower")
    if best == len(z) - 1 and z[-1] >= hi - tolerance:
        raise FocusNotFound(f"the score is highest at the upper edge of the range ({z[-1]:.2f} um): "
                            "focus may lie above it", "beyond_upper")


def fit_peak(z: FloatArray, scores: FloatArray, best: int, baseline: float) -> tuple[float, str]:
    """Sub-sample position of the peak at index ``best``.

    A Gaussian (a parabola on log scores above the baseline) through the contiguous points that
    reach ``TOP_LEVEL`` of the peak's height: near their maximum, focus curves are close to
    Gaussian, and the log makes the fit insensitive to the overall scale. Falls back to a
    parabola through the three points around the best one, then to the best point itself."""
    return fit_vertex(z, scores, best, baseline, top_window(scores, best, baseline))


def transparent_humps(z: FloatArray, scores: FloatArray, peaks: list[LocalPeak],
                      stats: CurveStats) -> tuple[int, int] | None:
    """The two main peaks, left to right, when they look like a transparent specimen's: of
    similar height, with a clear dip between them and no rival of their size elsewhere."""
    first, second = peaks[0], peaks[1]
    if second.height < HUMP_BALANCE * first.height:
        return None
    if len(peaks) > 2 and peaks[2].height >= COMPARABLE * second.height:
        return None
    left, right = sorted((first.index, second.index))
    if right - left < 2:
        return None
    dip = float(scores[left + 1 : right].min()) - stats.baseline
    if dip > (1.0 - DIP_DEPTH) * min(first.height, second.height):
        return None
    return left, right


def locate_dip(z: FloatArray, scores: FloatArray, humps: tuple[int, int], stats: CurveStats) -> Peak:
    """Focus of a transparent specimen: the bottom of the dip between its two humps.

    The contrast of a weak phase object grows with the square of the defocus near focus, so
    the dip is a parabola; when it holds fewer than three samples the midpoint of the humps
    (the curve is symmetric about focus) is used instead."""
    left, right = humps
    inner = np.arange(left + 1, right)
    low = int(inner[np.argmin(scores[inner])])
    z_dip: float | None = None
    if len(inner) >= 3:  # low is then strictly between the humps, so it has two neighbours
        three = np.arange(low - 1, low + 2)
        z_dip = parabola_vertex(z[three], -scores[three])
    if z_dip is None:
        z_dip = 0.5 * (float(z[left]) + float(z[right]))
        method = "hump-midpoint"
    else:
        method = "dip-fit"
    balance = min(scores[left], scores[right]) - stats.baseline
    balance /= max(scores[left], scores[right]) - stats.baseline
    confidence = snr_confidence(stats) * float(balance) * 0.8  # a dip is a weaker signature than a peak
    return Peak(z_dip, float(scores[low]), confidence=clip01(confidence), method=method)


def snr_confidence(stats: CurveStats) -> float:
    """The contrast term of the confidence (:mod:`autofocus.confidence`) of a curve."""
    return contrast_term(stats.snr, stats.prominence / max(abs(stats.baseline), 1e-300))


def clip01(value: float) -> float:
    return float(min(1.0, max(0.0, value)))
