"""Search strategies. A strategy sees only a :class:`Probe` (``score at z``) and the allowed
interval, never hardware, so the same code runs on live devices, recorded stacks and plain
callables.

Every frame a probe scores carries two scores (see :class:`autofocus.curve.Sample`): ``score``,
the chosen focus measure on the full frame, and ``coarse``, a noise-robust measure on a
downsampled copy of the same frame. A downsampled frame keeps only coarse detail, and coarse
detail survives much more defocus than fine detail, so the coarse score rises from the noise
several times farther from focus (its *capture range*) and averages away most pixel noise.
Strategies bracket focus with the coarse score and place it with the fine one; one frame, two
scores, so no frame is taken twice. A probe without a coarse measure (a plain ``score(z)``
callable) reports its one score as both.

Strategies (``STRATEGIES``):

- ``sweep``: the tutorial's; every step, best frame wins (flat curves are "not found").
- ``coarse-to-fine`` (default): a pass over the whole range at ``COARSE_FACTOR`` user steps on
  the coarse score (streamed during one constant-speed move on a continuous stage; one stop per
  frame otherwise), a second pass between its frames when nothing stood out, then zoom passes
  over windows shrinking about ``ZOOM_POINTS`` times each until the fine score shows a resolved
  peak that the coarse score agrees with; a Gaussian fit places it. A peak on an edge of the
  range is "not found".
- ``continuous``: a sparser streamed first pass, one streamed pass over the bracket, then a
  few frames at rest (:mod:`autofocus.strategies.continuous`).
- ``brent``: bounded Brent search around the start position, for refocusing near a known focus.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from autofocus.curve import (
    ABOVE_NOISE_SNR,
    FIT_LEVEL,
    CurveStats,
    Expect,
    FocusCurve,
    Peak,
    Sample,
    check_not_flat,
    check_one_peak,
    curve_stats,
    fit_window,
    locate_dip,
    log_parabola_vertex,
    parabola_vertex,
    profile,
    significant_peaks,
    transparent_humps,
)
from autofocus.errors import FocusNotFound, InputError, LimitError
from autofocus.result import FocusResult

# Positions closer than this are the same position: it absorbs float rounding in step arithmetic.
POSITION_TOLERANCE_UM = 1e-6

# The coarse pass steps this many user steps. The user's step is the tutorial's "small enough
# that focus is not skipped" for the full-resolution score; the coarse score's capture range is
# several times wider (benchmarks/search.py measures the trade-off).
COARSE_FACTOR = 5.5
# ... but the coarse pass keeps at least this many intervals over the range, so short ranges are
# still bracketed rather than sampled at their two ends.
MIN_COARSE_INTERVALS = 8
# Zoom passes take 2 * points + 1 frames over a window that shrinks ``points`` times per pass.
ZOOM_POINTS = 3
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
class SearchSpace:
    """Where a strategy may look. ``lo_um``..``hi_um`` is already the intersection of the user's
    range and the device's limits; ``step_um`` is the user's step; ``start_um`` is where the stage
    was when the search began (local strategies start there). ``expect`` says what focus looks
    like on the curve (a peak, a dip between two humps for transparent specimens, or either)."""

    lo_um: float
    hi_um: float
    step_um: float
    start_um: float
    expect: Expect = "peak"

    def __post_init__(self) -> None:
        values = (self.lo_um, self.hi_um, self.step_um, self.start_um)
        if not all(math.isfinite(v) for v in values):
            raise InputError("range, step and start must be finite numbers")
        if self.lo_um >= self.hi_um:
            raise InputError(f"empty search range: {self.lo_um} um .. {self.hi_um} um")
        if self.step_um <= 0:
            raise InputError("step must be positive")
        if self.expect not in ("peak", "dip", "auto"):
            raise InputError(f"expect must be peak, dip or auto, got {self.expect!r}")

    @property
    def width_um(self) -> float:
        return self.hi_um - self.lo_um

    def contains(self, z_um: float) -> bool:
        return self.lo_um - POSITION_TOLERANCE_UM <= z_um <= self.hi_um + POSITION_TOLERANCE_UM

    def clamp(self, z_um: float) -> float:
        return min(max(z_um, self.lo_um), self.hi_um)


class Probe(Protocol):
    """What a strategy may ask: a score at one position, or a continuous pass over a segment."""

    @property
    def curve(self) -> FocusCurve: ...

    def sample(self, z_um: float) -> float:
        """Score the frame at ``z_um`` (recorded on ``curve``, with its coarse score)."""
        ...

    def sweep(self, start_um: float, end_um: float, spacing_um: float) -> list[Sample]:
        """Score frames from ``start_um`` to ``end_um`` about ``spacing_um`` apart. A live
        probe may do this in one continuous move; the fallback samples step by step."""
        ...


Strategy = Callable[[Probe, SearchSpace], Peak]
"""Runs a search on a probe and returns the peak, or raises FocusNotFound with the reason."""


def sweep_positions(start_um: float, end_um: float, step_um: float) -> list[float]:
    """The tutorial's positions, start to end inclusive, without its repeated last frame.

    The tutorial computes ``ceil((end - start) / step) + 1`` positions clipped to ``end``; when
    the division rounds up past a whole number (0.2 / 0.005 = 40.000000000000004) the clip makes
    the last two positions both ``end``. Counting whole steps with a tolerance avoids that.
    """
    if step_um <= 0:
        raise InputError("step must be positive")
    whole_steps = math.floor((end_um - start_um) / step_um + 1e-9)
    positions = [start_um + i * step_um for i in range(whole_steps + 1)]
    if end_um - positions[-1] > POSITION_TOLERANCE_UM:
        positions.append(end_um)
    else:
        positions[-1] = min(positions[-1], end_um)
    return positions


def even_positions(lo_um: float, hi_um: float, max_spacing_um: float) -> list[float]:
    """Evenly spaced positions covering ``lo``..``hi`` (both ends) no more than
    ``max_spacing_um`` apart; unlike the tutorial's grid the last interval is not a stub."""
    intervals = max(1, math.ceil((hi_um - lo_um) / max_spacing_um - 1e-9))
    return [lo_um + (hi_um - lo_um) * i / intervals for i in range(intervals + 1)]


def nearest_end_first(positions: list[float], start_um: float) -> list[float]:
    """Start a pass at the end nearer the stage, to save the longest move."""
    if abs(positions[-1] - start_um) < abs(positions[0] - start_um):
        return positions[::-1]
    return positions


# ---------------------------------------------------------------- sweep (the tutorial's)


def sweep(probe: Probe, space: SearchSpace) -> Peak:
    """The tutorial's search: every step from one end to the other, best frame wins.

    The only change to its answer: a flat curve (an empty field) raises FocusNotFound, judged by
    the same statistics as the fitted strategies, instead of naming whichever frame's noise won."""
    for z in sweep_positions(space.lo_um, space.hi_um, space.step_um):
        probe.sample(z)
    return probe.curve.locate_best_frame()


# ---------------------------------------------------------------- coarse-to-fine / continuous


@dataclass(frozen=True)
class Bracket:
    """Where refinement looks: ``centre`` +- ``half_um``; ``sense`` is +1 for a peak, -1 for the
    dip of a transparent specimen."""

    centre_um: float
    half_um: float
    sense: int = 1
    fitted: bool = False
    """Whether the centre is a fit's vertex (good to a fraction of the half-width)."""


def coarse_spacing(space: SearchSpace, factor: float) -> float:
    return max(space.step_um, min(factor * space.step_um, space.width_um / MIN_COARSE_INTERVALS))


def coarse_to_fine(probe: Probe, space: SearchSpace) -> Peak:
    """A pass over the whole range on the coarse score, then zoom passes until the fine peak
    is resolved, then a fit.

    Every pass is a probe ``sweep``: on a continuous stage one constant-speed move with frames
    streaming (no stop, no settling, no ringing per frame), elsewhere one stop per frame."""
    return search_in_passes(probe, space, coarse_spacing(space, COARSE_FACTOR), ZOOM_POINTS)


def continuous(probe: Probe, space: SearchSpace) -> Peak:
    """Streamed passes, then a few frames at rest (:mod:`autofocus.strategies.continuous`)."""
    from autofocus.strategies.continuous import continuous as run  # imports this module

    return run(probe, space)


PeakRoute = Callable[[Probe, SearchSpace, float, int], Peak]
"""How a pass-based strategy finds a peak after its first pass: (probe, space, spacing, points)."""


def search_in_passes(probe: Probe, space: SearchSpace, spacing: float, points: int, *,
                     peak_route: PeakRoute | None = None) -> Peak:
    """The first pass, then the route its curve calls for: the coarse score's peak, or (expect
    dip or auto) a transparent specimen's focus led by the fine score. ``peak_route``
    (default :func:`peak_in_passes`) is the coarse score's route."""
    route = peak_route or peak_in_passes
    whole_pass(probe, space, space.lo_um, space.hi_um, spacing)
    if space.expect == "peak":
        return route(probe, space, spacing, points)
    if space.expect == "dip":
        return transparent_in_passes(probe, space, spacing, points)
    lead = transparent_lead(probe.curve, space)
    if lead is not None:
        return focus_transparent(probe, space, lead, spacing, points)
    first_pass = FocusCurve(list(probe.curve.samples))
    try:
        peak: Peak | None = route(probe, space, spacing, points)
        missed = None
    except FocusNotFound as exc:
        peak, missed = None, exc
    lead = overlooked_fine_peak(first_pass, peak)
    if lead is not None:
        return focus_transparent(probe, space, lead, spacing, points)
    if missed is not None:
        raise missed
    assert peak is not None
    return peak


def peak_in_passes(probe: Probe, space: SearchSpace, spacing: float, points: int) -> Peak:
    """After the first pass: bracket the coarse score's peak, zoom in on the fine one."""
    try:
        bracket = bracket_focus(probe.curve, space, spacing)
    except FocusNotFound as first:
        if "flat" not in first.reason or spacing <= space.step_um:
            raise
        # Nothing stood out: look again between the first pass's frames before calling the
        # field empty (a narrow focus curve, e.g. small beads at high NA, can fall between).
        interleaved_pass(probe, space, spacing)
        bracket = bracket_focus(probe.curve, space, spacing / 2)
    return zoom(probe, space, bracket, points, pass_noise(probe.curve))


def interleaved_pass(probe: Probe, space: SearchSpace, spacing: float) -> None:
    whole_pass(probe, space, space.lo_um + spacing / 2, space.hi_um - spacing / 2, spacing)


def pass_noise(curve: FocusCurve) -> float:
    """Frame-to-frame noise of the fine score along the first pass(es): the robust spread of
    second differences (they ignore a smooth trend) over the frames whose coarse score is at
    most its median, i.e. away from the peak, whose curvature is not noise."""
    coarse = np.array([coarse_of(s) for s in curve.samples])
    far = curve.select(lambda s: coarse_of(s) <= float(np.median(coarse)))
    _, scores = profile(far)
    if len(scores) < MIN_NOISE_FRAMES:
        return 0.0  # too few frames to tell noise from shape: no noise guard
    return 1.4826 * float(np.median(np.abs(np.diff(scores, 2)))) / math.sqrt(6)


def whole_pass(probe: Probe, space: SearchSpace, a: float, b: float, spacing: float) -> list[Sample]:
    """A pass from whichever of ``a``/``b`` is nearer the stage to the other."""
    here = last_z(probe.curve, space.start_um)
    if abs(b - here) < abs(a - here):
        a, b = b, a
    a, b = space.clamp(a), space.clamp(b)
    samples = probe.sweep(a, b, spacing)
    expected = abs(b - a) / spacing + 1
    if len(samples) < expected / 2:
        # The stream fell short (a stage faster than its timing promised, a camera on another
        # clock): take the frames one stop at a time instead, on the way back.
        samples = samples + stepped_sweep(probe, b, a, spacing)
    return samples


def last_z(curve: FocusCurve, default: float) -> float:
    return curve.samples[-1].z_um if curve.samples else default


def largest_gap(curve: FocusCurve) -> float:
    z = np.unique(curve.z())
    return float(np.max(np.diff(z))) if len(z) > 1 else 0.0


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
            window = fit_window(scores, best, stats.baseline)
            vertex = log_parabola_vertex(z[window], scores[window] - stats.baseline)
            if vertex is not None:
                return Bracket(vertex, FITTED_HALF * spacing_um, fitted=True)
    return Bracket(float(z[best]), NEAREST_HALF * spacing_um)


def interior_fine_peak(curve: FocusCurve) -> float | None:
    """Where the fine score of the curve so far peaks, when that is a clear peak (not flat)
    strictly inside the sampled positions; else None."""
    z, scores = profile(curve)
    best = int(np.argmax(scores))
    if best in (0, len(z) - 1):
        return None
    try:
        check_not_flat(curve_stats(z, scores))
    except FocusNotFound:
        return None
    return float(z[best])


# Transparent specimens (expect "auto" or "dip"). Low-frequency contrast grows with defocus on
# both sides of focus (the coarse score has humps tens of um out and a valley at focus), while
# the fine score's envelope peaks at focus with a notch one depth of field wide in its middle.
# So the coarse score must not lead there: it would bracket a hump.
#
# In auto mode the fine score's peak must lie in a valley of the coarse score: the coarse score
# rises by at least this fraction of its range on both sides of it. A peak specimen's fine and
# coarse scores peak together, so its coarse score is at its top there, never in a valley.
VALLEY_RISE = 0.25
# The second look around a transparent specimen's first resolved fine peak spans this many of
# its half-widths on either side (the humps are about one half-width apart), in this many frames
# per side.
LOOK_REACH = 2.0
LOOK_POINTS = 4


def transparent_lead(curve: FocusCurve, space: SearchSpace) -> float | None:
    """Where the first pass puts the focus of a transparent specimen (the fine score's best
    frame), or None when the curve is not a transparent specimen's (or ``expect`` is peak)."""
    if space.expect == "peak":
        return None
    z, fine = profile(curve)
    best = int(np.argmax(fine))
    if best in (0, len(z) - 1):
        return None
    try:
        check_not_flat(curve_stats(z, fine))
    except FocusNotFound:
        return None
    if space.expect == "dip":
        return float(z[best])
    _, coarse = profile(curve.coarse_curve())
    rise = min(float(coarse[:best].max()), float(coarse[best + 1 :].max())) - float(coarse[best])
    return float(z[best]) if rise >= VALLEY_RISE * float(np.ptp(coarse)) else None


def transparent_in_passes(probe: Probe, space: SearchSpace, spacing: float, points: int) -> Peak:
    """A declared transparent specimen: follow the fine score's first-pass peak; at high NA its
    envelope (a few depths of field) can fall between the first pass's frames, so look between
    them once before giving up. The coarse score never leads: it would find a hump."""
    lead = transparent_lead(probe.curve, space)
    if lead is None and spacing > space.step_um:
        interleaved_pass(probe, space, spacing)
        lead = transparent_lead(probe.curve, space)
    if lead is None:
        raise FocusNotFound("the fine score shows no clear peak inside the range (transparent "
                            "specimen: no cells in view, or focus outside the range?)")
    return focus_transparent(probe, space, lead, spacing, points)


def overlooked_fine_peak(first_pass: FocusCurve, peak: Peak | None) -> float | None:
    """Auto mode, after the coarse route: the first pass's clear fine peak, when the coarse
    route found nothing or a fine peak lower than it, and the coarse score was not at its top
    there (the coarse score led elsewhere). On a peak specimen the fine and coarse scores peak
    together, so this is a transparent specimen whose coarse humps misled the route."""
    z, fine = profile(first_pass)
    best = int(np.argmax(fine))
    if best in (0, len(z) - 1) or (peak is not None and peak.score >= fine[best]):
        return None
    try:
        check_not_flat(curve_stats(z, fine))
    except FocusNotFound:
        return None
    _, coarse = profile(first_pass.coarse_curve())
    top = float(coarse.min()) + COARSE_AGREES * float(np.ptp(coarse))
    return float(z[best]) if coarse[best] < top else None


def focus_transparent(probe: Probe, space: SearchSpace, lead_um: float, spacing: float,
                      points: int) -> Peak:
    """Zoom passes led by the fine score alone, then the dip between its humps if they show."""
    led = FineLed(probe)
    hump = zoom(led, space, Bracket(lead_um, NEAREST_HALF * spacing), points, pass_noise(led.curve))
    # The zoom stops at the first resolved peak, which may be one hump of two. A second look,
    # symmetric about it and wide enough to reach its twin, tells a dip from a single peak.
    reach = LOOK_REACH * peak_half_width(probe.curve, hump)
    lo, hi = space.clamp(hump.z_um - reach), space.clamp(hump.z_um + reach)
    # Its own frames only: evenly spaced and taken in one go, unlike the zoom's, which mix
    # spacings and motion blur and can make a third hump of noise between the two.
    look = whole_pass(probe, space, lo, hi, reach / LOOK_POINTS)
    return dip_between_humps(look, pass_noise(led.curve)) or envelope_centre(look) or hump


def dip_between_humps(look: list[Sample], noise: float) -> Peak | None:
    """The dip between two balanced humps of the fine score in one evenly spaced pass, or None.

    Judged against the frame-to-frame noise of the first pass: a pass of a few frames around a
    sharp structure cannot estimate its own noise (the curve's statistics would call it flat)."""
    z, scores = profile(FocusCurve(list(look)))
    stats = CurveStats(float(scores.min()), max(noise, 1e-12), float(scores.max()))
    peaks = significant_peaks(scores, stats)
    humps = transparent_humps(z, scores, peaks, stats) if len(peaks) >= 2 else None
    return None if humps is None else locate_dip(z, scores, humps, stats)


def envelope_centre(look: list[Sample]) -> Peak | None:
    """The centre of the fine score's envelope over one pass, when the pass does not resolve
    two humps: the envelope of a transparent specimen is symmetric about focus, so a Gaussian
    through every frame above ``FIT_LEVEL`` of its height (a notch frame below it is left out,
    not a break) centres on focus whether or not a frame fell into the notch."""
    z, scores = profile(FocusCurve(list(look)))
    base = float(scores.min())
    inside = scores > base + FIT_LEVEL * (float(scores.max()) - base)
    if np.count_nonzero(inside) < 3:
        return None
    vertex = log_parabola_vertex(z[inside], scores[inside] - base)
    if vertex is None:
        return None
    return Peak(vertex, float(scores.max()), confidence=min(1.0, np.count_nonzero(inside) / 5.0),
                method="envelope-fit")


def peak_half_width(curve: FocusCurve, peak: Peak) -> float:
    """Distance from ``peak`` to the farther of the nearest frames on either side where the
    fine score has fallen to half its height (above the curve's lowest score)."""
    z, scores = profile(curve)
    z_um, base = peak.z_um, float(scores.min())
    half = base + 0.5 * (peak.score - base)
    low = z[scores <= half]
    below, above = low[low < z_um], low[low > z_um]
    sides = [z_um - float(below.max())] if len(below) else []
    sides += [float(above.min()) - z_um] if len(above) else []
    return max(sides) if sides else float(np.ptp(z)) / 2


def fine_led(sample: Sample) -> Sample:
    return replace(sample, coarse=sample.score)


class FineLed:
    """A probe seen with its fine score in the coarse score's place, so the passes that
    bracket, zoom and check agreement on the coarse score follow the fine one."""

    def __init__(self, probe: Probe) -> None:
        self._probe = probe

    @property
    def curve(self) -> FocusCurve:
        return FocusCurve([fine_led(s) for s in self._probe.curve.samples])

    def sample(self, z_um: float) -> float:
        return self._probe.sample(z_um)

    def sweep(self, start_um: float, end_um: float, spacing_um: float) -> list[Sample]:
        return [fine_led(s) for s in self._probe.sweep(start_um, end_um, spacing_um)]


def zoom(probe: Probe, space: SearchSpace, bracket: Bracket, points: int, noise: float) -> Peak:
    """Passes over ever narrower windows, about ``2 * points + 1`` frames each, until the fine
    score has a resolved peak in one of them; then its fit.

    Each window is centred where the last pass put focus (the coarse score's fit when it has
    one, else its best frame) and spans the last pass's spacing on either side, so the window
    shrinks ``points`` times per pass; a best frame at a window's end shifts the window instead."""
    centre, half, fitted = bracket.centre_um, bracket.half_um, bracket.fitted
    min_spacing = MIN_SPACING_FRACTION * space.step_um
    for _ in range(MAX_ZOOM_PASSES):
        # Around a fitted centre the window is already narrow: fewer frames cover it.
        spacing = max(half / (points - 1 if fitted and points > 2 else points), min_spacing)
        lo, hi = space.clamp(centre - half), space.clamp(centre + half)
        samples = whole_pass(probe, space, lo, hi, spacing)
        window = [s for s in samples if lo - 1e-9 <= s.z_um <= hi + 1e-9] or samples
        # Frames that no longer change (a recorded stack replays its nearest plane) end the
        # zoom as the finest spacing does.
        final = spacing <= min_spacing or len({s.score for s in window}) <= 1
        fit = fit_fine(window, space, spacing, noise, final=False)
        if fit is None and final:
            # The window may have shrunk inside a fine peak broader than it (the coarse score
            # led the way), or below the planes of a recording: all frames together show both
            # flanks.
            fit = fit_fine(probe.curve.samples, space, spacing, noise, final=True)
        if fit is not None:
            return fit
        centre, half, fitted = next_window(window, space, spacing, half)
    raise FocusNotFound("the fine score has no resolved peak where the coarse score put focus "
                        f"(after {MAX_ZOOM_PASSES} passes)")


def fit_fine(window: list[Sample], space: SearchSpace, spacing: float, noise: float, *,
             final: bool) -> Peak | None:
    """The fine peak of one pass, fitted, or None when the pass does not resolve it yet.

    Resolved: the best frame is not at the pass's ends and at least three frames, one on each
    side of it, rise above ``RESOLVED_LEVEL`` of its height above the pass's lowest score, so a
    Gaussian fit has points on both flanks. A best frame on an edge of the whole range is an
    edge peak: focus may lie beyond it."""
    z, scores = profile(FocusCurve(list(window)))
    best = int(np.argmax(scores))
    at_end = best in (0, len(z) - 1)
    if at_end and final:
        edge = edge_name(float(z[best]), space, spacing)
        if edge:
            raise FocusNotFound(f"the score is highest at the {edge} edge of the range "
                                f"({z[best]:.2f} um): focus may lie beyond it")
    base = float(scores.min())
    height = float(scores[best]) - base
    idx = fit_window(scores, best, base) if height > 0 else None
    if idx is not None:
        level = base + RESOLVED_LEVEL * height
        idx = idx[scores[idx] > level]
    resolved = (not at_end and idx is not None and len(idx) >= 3 and height > FINE_SNR * noise
                and int(idx.min()) < best < int(idx.max()) and coarse_agrees(window, float(z[best])))
    if not resolved:
        if final:
            raise FocusNotFound("the fine score shows no resolved peak where the coarse score put "
                                "focus, even at the finest spacing")
        return None
    assert idx is not None
    vertex = log_parabola_vertex(z[idx], scores[idx] - base)
    method = "gaussian-fit"
    if vertex is None:
        vertex = parabola_vertex(z[best - 1 : best + 2], scores[best - 1 : best + 2])
        method = "parabola-fit"
    if vertex is None:
        vertex, method = float(z[best]), "best-sample"
    confidence = min(1.0, len(idx) / 5.0)
    return Peak(float(vertex), float(scores[best]), confidence=confidence, method=method)


def coarse_agrees(window: list[Sample], z_um: float) -> bool:
    """Whether the coarse score is high (``COARSE_AGREES`` of its range in the window) at the
    fine score's best frame. Some fine measures have side lobes or plateaus away from focus (on
    dim fluorescence the band-pass energy is lowest tens of um around focus and rises again
    farther out); the broad coarse score has none, so a fine peak it does not share is not focus."""
    coarse = FocusCurve(list(window)).coarse_curve()
    if not coarse.samples:
        return True
    z, scores = profile(coarse)
    lo, hi = float(scores.min()), float(scores.max())
    at = float(np.interp(z_um, z, scores))
    return hi <= lo or at >= lo + COARSE_AGREES * (hi - lo)


def edge_name(z_um: float, space: SearchSpace, spacing: float) -> str:
    """"lower"/"upper" when ``z_um`` is within half a spacing of that edge of the range."""
    if z_um - space.lo_um <= spacing / 2 + POSITION_TOLERANCE_UM:
        return "lower"
    if space.hi_um - z_um <= spacing / 2 + POSITION_TOLERANCE_UM:
        return "upper"
    return ""


def next_window(window: list[Sample], space: SearchSpace, spacing: float,
                half: float) -> tuple[float, float, bool]:
    """Centre and half-width of the next pass: where this pass puts focus, give or take."""
    curve = FocusCurve(list(window))
    z, _ = profile(curve)
    _, coarse = profile(curve.coarse_curve())
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
    idx = fit_window(coarse, best, base)
    level = base + INSIDE_PEAK * (coarse[best] - base)
    if coarse[best - 1] > level and coarse[best + 1] > level:
        vertex = log_parabola_vertex(z[idx], coarse[idx] - base)
        if vertex is not None:
            return vertex, FITTED_HALF * spacing, True
    return float(z[best]), NEAREST_HALF * spacing, False


def refine_and_locate(probe: Probe, space: SearchSpace, bracket: Bracket, *,
                      stationary_only: bool = False) -> Peak:
    """Halve the spacing around the best point until the peak is resolved, then fit it."""
    refine(probe, space, bracket)
    curve = probe.curve.select(lambda s: not s.moving) if stationary_only else probe.curve
    return curve.locate_peak(space.lo_um, space.hi_um, expect=space.expect)


def refine(probe: Probe, space: SearchSpace, bracket: Bracket) -> None:
    """Sample ``best +- h`` with ``h`` halving from half the bracket.

    The best point is chosen on the coarse score (broad, smooth, symmetric about focus, so it
    leads the way even where the fine score is still flat) and the halving stops once the fine
    score's two neighbours are inside its peak, when a Gaussian fit is well determined."""
    h = bracket.half_um / 2.0
    min_h = MIN_SPACING_FRACTION * space.step_um
    lo = space.clamp(bracket.centre_um - bracket.half_um)
    hi = space.clamp(bracket.centre_um + bracket.half_um)
    if not stationary_in(probe.curve, lo, hi):
        probe.sample(space.clamp(bracket.centre_um))
    while True:
        centre = best_stationary(probe.curve, lo, hi, bracket.sense)
        for z in (centre.z_um - h, centre.z_um + h):
            if space.contains(z) and not sampled_near(probe.curve, z, h / 4):
                probe.sample(space.clamp(z))
        centre = best_stationary(probe.curve, lo, hi, bracket.sense)
        if h <= min_h or fine_peak_resolved(probe.curve, centre, h, bracket.sense):
            return
        h /= 2.0


def stationary_in(curve: FocusCurve, lo: float, hi: float) -> list[Sample]:
    return [s for s in curve.samples if not s.moving and lo - 1e-9 <= s.z_um <= hi + 1e-9]


def best_stationary(curve: FocusCurve, lo: float, hi: float, sense: int) -> Sample:
    """The stationary sample in ``lo..hi`` with the best coarse score (lowest for a dip).

    (:func:`refine` samples the bracket's centre first when a continuous pass left none.)"""
    inside = stationary_in(curve, lo, hi)
    return max(inside, key=lambda s: sense * coarse_of(s))


def coarse_of(sample: Sample) -> float:
    return sample.score if sample.coarse is None else sample.coarse


def sampled_near(curve: FocusCurve, z_um: float, tolerance_um: float) -> bool:
    return any(abs(s.z_um - z_um) <= tolerance_um and not s.moving for s in curve.samples)


def fine_peak_resolved(curve: FocusCurve, centre: Sample, h: float, sense: int) -> bool:
    """Whether the fine scores at ``centre +- h`` both lie inside the fine peak (or dip)."""
    stationary = [s for s in curve.samples if not s.moving]
    baseline = float(np.median([s.score for s in stationary]))
    neighbours = [s for s in stationary if abs(abs(s.z_um - centre.z_um) - h) <= h / 4]
    below = [s for s in neighbours if s.z_um < centre.z_um]
    above = [s for s in neighbours if s.z_um > centre.z_um]
    if not below or not above:
        return False
    if sense < 0:
        # A dip is resolved when both neighbours climb out of it by a clear margin.
        return min(below[0].score, above[0].score) > centre.score * 1.2
    height = centre.score - baseline
    if height <= 0:
        return False
    return all(s.score - baseline >= INSIDE_PEAK * height for s in (below[0], above[0]))


# ---------------------------------------------------------------- brent (local)


def brent(probe: Probe, space: SearchSpace) -> Peak:
    """Bounded local refinement around the start (:mod:`autofocus.strategies.brent`)."""
    from autofocus.strategies.brent import brent as run  # imports this module

    return run(probe, space)


STRATEGIES: dict[str, Strategy] = {
    "coarse-to-fine": coarse_to_fine,
    "continuous": continuous,
    "brent": brent,
    "sweep": sweep,
}
DEFAULT_STRATEGY = "coarse-to-fine"


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        known = ", ".join(sorted(STRATEGIES))
        raise InputError(f"unknown strategy {name!r}; choose one of: {known}") from None


class CallableProbe:
    """A probe over a plain ``score(z_um) -> float`` function, guarding the allowed interval.

    ``coarse`` (optional) scores the coarse measure at the same z; without it the one score
    serves as both. ``sweep`` samples step by step: a function has no stage to keep moving."""

    def __init__(self, score: Callable[[float], float], space: SearchSpace,
                 coarse: Callable[[float], float] | None = None) -> None:
        self._score = score
        self._coarse = coarse
        self._space = space
        self._curve = FocusCurve()

    @property
    def curve(self) -> FocusCurve:
        return self._curve

    def sample(self, z_um: float) -> float:
        if not self._space.contains(z_um):
            raise LimitError(
                f"strategy asked for {z_um:.3f} um, outside "
                f"{self._space.lo_um:.3f}..{self._space.hi_um:.3f} um"
            )
        z = self._space.clamp(z_um)
        value = float(self._score(z))
        coarse = value if self._coarse is None else float(self._coarse(z))
        self._curve.add(z, value, t_s=float(len(self._curve)), coarse=coarse)
        return value

    def sweep(self, start_um: float, end_um: float, spacing_um: float) -> list[Sample]:
        return stepped_sweep(self, start_um, end_um, spacing_um)


def stepped_sweep(probe: Probe, start_um: float, end_um: float, spacing_um: float) -> list[Sample]:
    """A probe's ``sweep`` done one stop at a time (for stages that cannot stream)."""
    lo, hi = sorted((start_um, end_um))
    positions: Sequence[float] = even_positions(lo, hi, spacing_um)
    if end_um < start_um:
        positions = positions[::-1]
    first = len(probe.curve)
    for z in positions:
        probe.sample(z)
    return probe.curve.samples[first:]


def run_strategy(strategy_name: str, probe: Probe, space: SearchSpace) -> tuple[Peak | None, str]:
    """Run a strategy; return its peak, or None and the reason focus was not found."""
    strategy = get_strategy(strategy_name)
    try:
        return strategy(probe, space), ""
    except FocusNotFound as exc:
        return None, exc.reason


def find_focus(
    score: Callable[[float], float],
    start_um: float,
    end_um: float,
    step_um: float,
    strategy: str = DEFAULT_STRATEGY,
    *,
    start_z_um: float | None = None,
    coarse_score: Callable[[float], float] | None = None,
    expect: Expect = "peak",
) -> FocusResult:
    """Find the peak of ``score(z_um)`` between ``start_um`` and ``end_um``.

    For users who bring their own acquisition, and for benchmarks: the result is the same
    object a live run returns (``hardware_s`` stays 0, as no hardware was timed here).
    ``coarse_score(z_um)``, when given, is the wide-capture score strategies bracket focus with
    (for instance the same measure on a downsampled frame); ``start_z_um`` is where local
    strategies start (default: ``start_um``); ``expect`` is ``"peak"``, ``"dip"`` (transparent
    specimens) or ``"auto"``.
    """
    space = SearchSpace(
        start_um, end_um, step_um, start_um if start_z_um is None else start_z_um, expect
    )
    get_strategy(strategy)  # reject an unknown name before any scoring
    probe = CallableProbe(score, space, coarse_score)
    began = time.perf_counter()
    peak, reason = run_strategy(strategy, probe, space)
    elapsed = time.perf_counter() - began
    if peak is None:
        return FocusResult("not_found", None, None, probe.curve, strategy, reason=reason,
                           compute_s=elapsed)
    return FocusResult("focused", peak.z_um, peak.score, probe.curve, strategy,
                       confidence=peak.confidence, compute_s=elapsed)
