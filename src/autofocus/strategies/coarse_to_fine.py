"""``coarse-to-fine`` (the default strategy), and the first pass every pass-based strategy
starts with (:func:`search_in_passes`, which ``continuous`` runs with a peak route of its own).

A pass over the whole range at ``COARSE_FACTOR`` user steps on the coarse score, a second pass
between its frames when nothing stood out, then zoom passes over windows shrinking about
``ZOOM_POINTS`` times each until the fine score shows a resolved peak that the coarse score
agrees with (:mod:`autofocus.strategies.passes`). With ``expect`` dip or auto the first pass
may instead call for a transparent specimen's route (:mod:`autofocus.strategies.transparent`).
"""

from __future__ import annotations

from collections.abc import Callable

from autofocus.curve import FocusCurve, Peak
from autofocus.errors import FocusNotFound
from autofocus.space import Probe, SearchSpace, StopWhen, sweep_positions
from autofocus.strategies.grid import grid_search
from autofocus.strategies.passes import (
    coarse_spacing,
    interleaved_pass,
    pass_noise,
    whole_pass,
    zoom,
)
from autofocus.strategies.transparent import (
    focus_transparent,
    overlooked_fine_peak,
    transparent_in_passes,
    transparent_lead,
)
from autofocus.strategies.verdict import bracket_or_candidates, judged

__all__ = ["COARSE_FACTOR", "coarse_to_fine", "search_in_passes"]

# The coarse pass steps this many user steps. The user's step is the tutorial's "small enough
# that focus is not skipped" for the full-resolution score; the coarse score's capture range is
# several times wider (benchmarks/search.py measures the trade-off).
COARSE_FACTOR = 5.5
# Ranges of fewer sweep positions than this are searched on the step grid.
GRID_BELOW_FRAMES = 40
# Zoom passes take 2 * points + 1 frames over a window that shrinks ``points`` times per pass.
ZOOM_POINTS = 3


def coarse_to_fine(probe: Probe, space: SearchSpace) -> Peak:
    """A pass over the whole range on the coarse score, then zoom passes until the fine peak
    is resolved, then a fit.

    Every pass is a probe ``sweep``: on a continuous stage one constant-speed move with frames
    streaming (no stop, no settling, no ringing per frame), elsewhere one stop per frame."""
    return search_in_passes(probe, space, coarse_spacing(space, COARSE_FACTOR), ZOOM_POINTS)


PeakRoute = Callable[[Probe, SearchSpace, float, int], Peak]
"""How a pass-based strategy finds a peak after its first pass: (probe, space, spacing, points)."""


def search_in_passes(probe: Probe, space: SearchSpace, spacing: float, points: int, *,
                     peak_route: PeakRoute | None = None,
                     first_stop: StopWhen | None = None) -> Peak:
    """The first pass, then the route its curve calls for: the coarse score's peak, or (expect
    dip or auto) a transparent specimen's focus led by the fine score. ``peak_route``
    (default :func:`peak_in_passes`) is the coarse score's route; ``first_stop`` (default:
    none) may end the first pass early."""
    if not probe.coarse_measured or len(sweep_positions(
            space.lo_um, space.hi_um, space.step_um)) < GRID_BELOW_FRAMES:
        # One score only, or a range so short that the passes would cost about as many frames
        # as the sweep: the sweep's own positions, sparsest first (never more than the sweep).
        return grid_search(probe, space)
    route = peak_route or peak_in_passes
    whole_pass(probe, space, space.lo_um, space.hi_um, spacing, stop_when=first_stop)
    if space.expect == "peak":
        return judged(probe, space, route(probe, space, spacing, points))
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
    return judged(probe, space, peak)


def peak_in_passes(probe: Probe, space: SearchSpace, spacing: float, points: int) -> Peak:
    """After the first pass: bracket the coarse score's peak, zoom in on the fine one."""
    found = bracket_or_candidates(probe, space, spacing, points, interleaved_pass)
    if isinstance(found, Peak):
        return found
    return zoom(probe, space, found, points, pass_noise(probe.curve))

