"""The pass machinery that ``coarse-to-fine`` and ``continuous`` share.

A pass is one probe ``sweep`` over a window (on a continuous stage one constant-speed move with
frames streaming, elsewhere one stop per frame). The first pass over the whole range brackets
focus on the coarse score (:func:`bracket_focus`: an empty field or several comparable peaks end
the search there); zoom passes over windows shrinking about ``points`` times each
(:func:`zoom`, :func:`next_window`) follow the coarse score until the fine score shows a
resolved peak that the coarse score agrees with (:func:`fit_fine`, :func:`coarse_agrees`); a
Gaussian fit places it. A peak on an edge of the range is "not found".

The routes that put these passes together live in :mod:`autofocus.strategies.coarse_to_fine`
(the first pass and the route it calls for) and :mod:`autofocus.strategies.transparent`
(transparent specimens, where the fine score leads).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from autofocus.confidence import FIT_LEVEL, half_widths
from autofocus.curve import (
    ABOVE_NOISE_SNR,
    FocusCurve,
    Peak,
    Sample,
    baseline_of,
    check_not_flat,
    check_one_peak,
    curve_stats,
    is_flat,
    profile,
    significant_peaks,
)
from autofocus.errors import FocusNotFound, beyond
from autofocus.numerics import (
    POSITION_TOLERANCE_UM,
    difference_noise,
    fit_vertex,
    in_window,
    log_parabola_vertex,
    top_window,
)
from autofocus.space import Probe, SearchSpace, StopWhen, stepped_sweep

__all__ = [
    "COARSE_AGREES",
    "INSIDE_PEAK",
    "MIN_SPACING_FRACTION",
    "NEAREST_HALF",
    "Bracket",
    "bracket_or_look_between",
    "coarse_agrees",
    "coarse_of",
    "coarse_spacing",
    "fit_fine",
    "interior_peak_index",
    "interleaved_pass",
    "next_window",
    "pass_noise",
    "whole_pass",
    "zoom",
]

Lead = Literal["coarse", "fine"]
"""The score that leads the passes (brackets, moves the zoom window): the coarse one, whose
capture range is wide; or, for transparent specimens, whose coarse score has humps, the fine one."""

# ... but the coarse pass keeps at least this many intervals over the range, so short ranges are
# still bracketed rather than sampled at their two ends.
MIN_COARSE_INTERVALS = 8
# A zoom that has not resolved the fine peak after this many passes gives up.
MAX_ZOOM_PASSES = 8
# The next window spans this many spacings either side of the best frame (focus is nearer to it
# than to its neighbours) ...
NEAREST_HALF = 0.6
# ... or of a Gaussian's vertex through it and its neighbours.
FITTED_HALF = 0.4
# A pass resolves the fine peak when three frames around the best one reach this fraction of
# its height above the pass's lowest score.
RESOLVED_LEVEL = 0.2
# ... and its height stands this many noise deviations (of the fine score along the first pass)
# above that lowest score: noise alone can look like a resolved peak in a narrow window.
FINE_SNR = 8.0
COARSE_AGREES = 0.5
MIN_NOISE_FRAMES = 6
# Refinement halves its spacing until the fine score's neighbours both reach this fraction of
# the peak's height (then a Gaussian fit has three points inside the peak) ...
INSIDE_PEAK = 0.35
# ... or the spacing falls below this fraction of the user's step (a focus curve narrower than
# that is beyond what the user's step was meant to resolve).
MIN_SPACING_FRACTION = 0.02


@dataclass(frozen=True)
class Bracket:
    """Where refinement looks: ``centre_um`` +- ``half_um``."""

    centre_um: float
    half_um: float
    fitted: bool = False
    """Whether the centre is a fit's vertex (good to a fraction of the half-width)."""


def coarse_spacing(space: SearchSpace, factor: float) -> float:
    return max(space.step_um, min(factor * space.step_um, space.width_um / MIN_COARSE_INTERVALS))



def interleaved_pass(probe: Probe, space: SearchSpace, spacing: float) -> None:
    whole_pass(probe, space, space.lo_um + spacing / 2, space.hi_um - spacing / 2, spacing)


def bracket_or_look_between(probe: Probe, space: SearchSpace, spacing: float,
                            look_between: Callable[[Probe, SearchSpace, float], None]) -> Bracket:
    """The coarse bracket of the first pass; when that pass is flat, ``look_between`` takes a
    pass between its frames first (a narrow focus curve, e.g. small beads at high NA, can fall
    between them) before the field is called empty."""
    try:
        return bracket_focus(probe.curve, space, spacing)
    except FocusNotFound as first:
        if first.kind != "flat" or spacing <= space.step_um:
            raise
    look_between(probe, space, spacing)
    return bracket_focus(probe.curve, space, spacing / 2)


def lead_of(sample: Sample, lead: Lead) -> float:
    return coarse_of(sample) if lead == "coarse" else sample.score


def lead_curve(samples: list[Sample], lead: Lead) -> FocusCurve:
    """The leading score of ``samples`` as a curve (coarse: the samples that carry one)."""
    curve = FocusCurve(list(samples))
    return curve.coarse_curve() if lead == "coarse" else curve


def pass_noise(curve: FocusCurve, lead: Lead = "coarse") -> float:
    """Frame-to-frame noise of the fine score along the first pass(es): the robust spread of
    second differences (they ignore a smooth trend) over the frames whose leading score is at
    most its median, i.e. away from the peak, whose curvature is not noise."""
    leading = np.array([lead_of(s, lead) for s in curve.samples])
    far = curve.select(lambda s: lead_of(s, lead) <= float(np.median(leading)))
    _, scores = profile(far)
    if len(scores) < MIN_NOISE_FRAMES:
        return 0.0  # too few frames to tell noise from shape: no noise guard
    return difference_noise(scores, 2)


def whole_pass(probe: Probe, space: SearchSpace, a: float, b: float, spacing: float, *,
               stop_when: StopWhen | None = None) -> list[Sample]:
    """A pass from whichever of ``a``/``b`` is nearer the stage to the other; ``stop_when``
    (optional) may end it early (see :meth:`autofocus.space.Probe.sweep`)."""
    here = last_z(probe.curve, space.start_um)
    if abs(b - here) < abs(a - here):
        a, b = b, a
    a, b = space.clamp(a), space.clamp(b)
    samples = probe.sweep(a, b, spacing, stop_when=stop_when)
    if stop_when is not None and samples and stop_when(samples):
        return samples  # ended early on purpose, not a stream that fell short
    expected = abs(b - a) / spacing + 1
    if len(samples) < expected / 2:
        # The stream fell short (a stage faster than its timing promised, a camera on another
        # clock or a busy computer): its frames' z is not to be trusted, so set them apart and
        # take the frames one stop at a time instead, on the way back.
        probe.discard(samples)
        samples = stepped_sweep(probe, b, a, spacing)
    return samples


def last_z(curve: FocusCurve, default: float) -> float:
    return curve.samples[-1].z_um if curve.samples else default


def bracket_focus(curve: FocusCurve, space: SearchSpace, spacing_um: float) -> Bracket:
    """Where the coarse scores put focus, and how far from there it may be.

    An empty field ends here: a flat coarse curve raises FocusNotFound before any refinement,
    and so do several comparable coarse peaks. With ``expect`` dip or auto, two balanced humps
    bracket the dip between them instead."""
    coarse = curve.coarse_curve()
    z, scores = profile(coarse)
    stats = curve_stats(z, scores)
    check_not_flat(stats)
    check_one_peak(z, significant_peaks(scores, stats), stats)
    best = int(np.argmax(scores))
    if best in (0, len(z) - 1):
        fine_best = interior_fine_peak(curve)
        if fine_best is not None:
            # The coarse score is highest at an end of the range but the fine one peaks inside
            # it: on transparent specimens a coarse (low-frequency) measure can grow with
            # defocus while fine detail still peaks at focus. Follow the fine score.
            return Bracket(fine_best, NEAREST_HALF * spacing_um)
    # With a unimodal curve the best frame is the one nearest focus, so focus lies within half
    # a spacing of it (a margin covers noise and frames bunched at the ends of a pass). When
    # its neighbours rise from the noise too, a Gaussian through them narrows that down.
    if 0 < best < len(z) - 1:
        neighbours = scores[[best - 1, best + 1]] - stats.baseline
        if np.all(neighbours > ABOVE_NOISE_SNR * stats.noise):
            window = top_window(scores, best, stats.baseline, FIT_LEVEL)
            vertex = log_parabola_vertex(z[window], scores[window] - stats.baseline)
            if vertex is not None:
                return Bracket(vertex, FITTED_HALF * spacing_um, fitted=True)
    return Bracket(float(z[best]), NEAREST_HALF * spacing_um)


def interior_fine_peak(curve: FocusCurve) -> float | None:
    """Where the fine score of the curve so far peaks, when that is a clear peak (not flat)
    strictly inside the sampled positions; else None."""
    z, scores = profile(curve)
    best = interior_peak_index(z, scores)
    return None if best is None else float(z[best])


def interior_peak_index(z: npt.NDArray[np.float64], scores: npt.NDArray[np.float64]) -> int | None:
    """Index of the highest score of a profile when it lies strictly inside the sampled
    positions and the curve is not flat; else None."""
    best = int(np.argmax(scores))
    if best in (0, len(z) - 1) or is_flat(z, scores):
        return None
    return best


def zoom(probe: Probe, space: SearchSpace, bracket: Bracket, points: int, noise: float,
         lead: Lead = "coarse") -> Peak:
    """Passes over ever narrower windows, about ``2 * points + 1`` frames each, until the fine
    score has a resolved peak in one of them; then its fit.

    Each window is centred where the last pass put focus (the coarse score's fit when it has
    one, else its best frame) and spans the last pass's spacing on either side, so the window
    shrinks ``points`` times per pass; a best frame at a window's end shifts the window instead.
    ``lead`` is the score that moves the window and must agree with the fine peak."""
    centre, half, fitted = bracket.centre_um, bracket.half_um, bracket.fitted
    min_spacing = MIN_SPACING_FRACTION * space.step_um
    for _ in range(MAX_ZOOM_PASSES):
        # Around a fitted centre the window is already narrow: fewer frames cover it.
        spacing = max(half / (points - 1 if fitted and points > 2 else points), min_spacing)
        lo, hi = space.clamp(centre - half), space.clamp(centre + half)
        samples = whole_pass(probe, space, lo, hi, spacing)
        window = in_window(samples, lo, hi) or samples
        # Frames that no longer change (a recorded stack replays its nearest plane) end the
        # zoom as the finest spacing does.
        final = spacing <= min_spacing or len({s.score for s in window}) <= 1
        fit = fit_fine(window, space, spacing, noise, final=False, lead=lead,
                       reference=probe.curve.samples)
        if fit is None and final:
            # The window may have shrunk inside a fine peak broader than it (the coarse score
            # led the way), or below the planes of a recording: all frames together show both
            # flanks.
            fit = fit_fine(probe.curve.samples, space, spacing, noise, final=True, lead=lead)
        if fit is not None:
            return fit
        nxt = next_window(window, space, spacing, half, lead)
        beyond_end = fine_beyond_window(window, probe.curve, space, spacing) if lead == "coarse" else None
        if beyond_end is not None and abs(beyond_end - nxt[0]) > nxt[1]:
            # The fine peak lies past this window, where the coarse score is still high, and
            # the coarse score's next window would leave it out (the two peaks apart by
            # aberration): move the window towards it, do not shrink it.
            centre, fitted = beyond_end, False
            continue
        centre, half, fitted = nxt
    raise FocusNotFound("the fine score has no resolved peak where the coarse score put focus "
                        f"(after {MAX_ZOOM_PASSES} passes)", "unresolved")


def fit_fine(window: list[Sample], space: SearchSpace, spacing: float, noise: float, *,
             final: bool, lead: Lead = "coarse", reference: list[Sample] | None = None) -> Peak | None:
    """The fine peak of one pass, fitted, or None when the pass does not resolve it yet.

    Resolved: the best frame is not at the pass's ends and at least three frames, one on each
    side of it, rise above ``RESOLVED_LEVEL`` of its height above the pass's lowest score, so a
    Gaussian fit has points on both flanks. A best frame on an edge of the whole range is an
    edge peak: focus may lie beyond it. ``reference`` (default: the window) is what the coarse
    score's agreement and width are judged over: all frames so far."""
    z, scores = profile(FocusCurve(list(window)))
    best = int(np.argmax(scores))
    at_end = best in (0, len(z) - 1)
    if at_end and final:
        edge = edge_name(float(z[best]), space, spacing)
        if edge:
            raise FocusNotFound(f"the score is highest at the {edge} edge of the range "
                                f"({z[best]:.2f} um): focus may lie beyond it", beyond(edge))
    base = float(scores.min())
    height = float(scores[best]) - base
    idx = top_window(scores, best, base, FIT_LEVEL) if height > 0 else None
    if idx is not None:
        level = base + RESOLVED_LEVEL * height
        idx = idx[scores[idx] > level]
    whole = reference or window
    resolved = (not at_end and idx is not None and len(idx) >= 3 and height > FINE_SNR * noise
                and int(idx.min()) < best < int(idx.max())
                and (lead == "fine" or (coarse_agrees(whole, float(z[best]))
                                        and narrower_than_coarse(z, scores, best, base, whole))))
    if not resolved:
        if final:
            raise FocusNotFound("the fine score shows no resolved peak where the coarse score put "
                                "focus, even at the finest spacing", "unresolved")
        return None
    assert idx is not None
    # Resolved by the frames above RESOLVED_LEVEL; placed by the top alone.
    vertex, method = fit_vertex(z, scores, best, base, top_window(scores, best, base))
    confidence = min(1.0, len(idx) / 5.0)
    return Peak(float(vertex), float(scores[best]), confidence=confidence, method=method)


def fine_beyond_window(window: list[Sample], curve: FocusCurve, space: SearchSpace,
                       spacing: float) -> float | None:
    """The end of this pass's window where its fine score is highest, when it is highest there
    (not at an edge of the range) and the coarse score agrees there over the whole curve."""
    z, scores = profile(FocusCurve(list(window)))
    best = int(np.argmax(scores))
    if best not in (0, len(z) - 1) or len(z) < 3 or edge_name(float(z[best]), space, spacing):
        return None
    return float(z[best]) if coarse_agrees(curve.samples, float(z[best])) else None


def narrower_than_coarse(z: npt.NDArray[np.float64], scores: npt.NDArray[np.float64], best: int,
                         base: float, samples: list[Sample]) -> bool:
    """Whether the fine peak at ``best`` (width at half height above ``base``) is narrower than
    the coarse score's peak over ``samples``. Fine detail fades with defocus before coarse
    detail does, so a focus peak of the fine score is always the narrower: a fine "peak" as
    wide as the coarse one, in a pass too sparse to show the real one, is noise on its tail."""
    coarse = FocusCurve(list(samples)).coarse_curve()
    if not coarse.samples:
        return True
    cz, cs = profile(coarse)
    top = int(np.argmax(cs))
    floor = baseline_of(cs)
    coarse_width = sum(half_widths(cz, cs, top, floor + 0.5 * (float(cs[top]) - floor)))
    fine_width = sum(half_widths(z, scores, best, base + 0.5 * (float(scores[best]) - base)))
    return fine_width < coarse_width


def coarse_agrees(window: list[Sample], z_um: float) -> bool:
    """Whether the coarse score is high (``COARSE_AGREES`` of its range over ``window``: a
    pass, or all frames) at the fine score's best frame. Some fine measures have side lobes or
    plateaus away from focus (on dim fluorescence the band-pass energy is lowest tens of um
    around focus and rises again farther out); the broad coarse score has none, so a fine peak
    it does not share is not focus. Over all frames, not one narrow pass: near its broad top
    the coarse score varies little, and aberration shifts its peak from the fine one's."""
    coarse = FocusCurve(list(window)).coarse_curve()
    if not coarse.samples:
        return True
    z, scores = profile(coarse)
    lo, hi = float(scores.min()), float(scores.max())
    at = float(np.interp(z_um, z, scores))
    return hi <= lo or at >= lo + COARSE_AGREES * (hi - lo)


def edge_name(z_um: float, space: SearchSpace, spacing: float) -> Literal["lower", "upper", ""]:
    """"lower"/"upper" when ``z_um`` is within half a spacing of that edge of the range."""
    if z_um - space.lo_um <= spacing / 2 + POSITION_TOLERANCE_UM:
        return "lower"
    if space.hi_um - z_um <= spacing / 2 + POSITION_TOLERANCE_UM:
        return "upper"
    return ""


def next_window(window: list[Sample], space: SearchSpace, spacing: float,
                half: float, lead: Lead = "coarse") -> tuple[float, float, bool]:
    """Centre and half-width of the next pass: where this pass puts focus (on the ``lead``
    score), give or take."""
    z, _ = profile(FocusCurve(list(window)))
    _, coarse = profile(lead_curve(window, lead))
    best = int(np.argmax(coarse))
    if best in (0, len(z) - 1):
        end = float(z[best])
        if edge_name(end, space, spacing):
            # Against an edge of the range: look closer at the edge (the final pass decides
            # whether the peak lies inside).
            return end, half / 2, False
        # Focus lies beyond this window: move it, do not shrink it.
        return end, half, False
    base = float(coarse.min())
    idx = top_window(coarse, best, base, FIT_LEVEL)
    level = base + INSIDE_PEAK * (coarse[best] - base)
    if coarse[best - 1] > level and coarse[best + 1] > level:
        vertex = log_parabola_vertex(z[idx], coarse[idx] - base)
        if vertex is not None:
            return vertex, FITTED_HALF * spacing, True
    return float(z[best]), NEAREST_HALF * spacing, False


def coarse_of(sample: Sample) -> float:
    return sample.score if sample.coarse is None else sample.coarse
