"""``brent``: bounded local refinement around the start position (Micro-Manager's OughtaFocus
idea), for refocusing when focus is known to be near: a time series, a neighbouring field.

1. The two ends of a window of ``BRENT_HALF_WINDOW_STEPS`` user steps either side of the start,
   first: they give the curve its baseline and tell whether the peak lies inside the window,
   and their long moves ring out before the frames that place focus (the runner does not
   settle unless asked; every move rings the stand).
2. A bounded Brent search on the coarse score (broad and smooth, so it converges from anywhere
   in the window; the fine score is flat a few depths of field out).
3. A stepped climb on the fine score from Brent's best frame until three frames lie inside the
   fine peak, then a Gaussian fit. Brent's own frames cluster on whichever side it approached
   from; a fit through them alone lands on that side (the earlier version's errors of up to a
   fifth of the depth of field).

A coarse peak at an end of the window is "not found": focus may lie beyond it.
"""

from __future__ import annotations

from typing import Literal

from scipy import optimize

from autofocus.curve import FocusCurve, Peak
from autofocus.errors import FocusNotFound, beyond
from autofocus.numerics import in_window
from autofocus.space import Probe, SearchSpace
from autofocus.strategies.passes import MIN_SPACING_FRACTION, coarse_agrees, coarse_of
from autofocus.strategies.stepped import climb_fine, locate_at_rest

__all__ = ["brent"]

# The window: this many user steps either side of the start.
BRENT_HALF_WINDOW_STEPS = 5.0
# Brent stops when it has the coarse peak to this fraction of a step; the fine climb takes over.
BRENT_TOLERANCE_STEPS = 0.1
BRENT_MAX_FRAMES = 16
# The fine climb starts with frames this fraction of a step either side of Brent's best.
CLIMB_START_STEPS = 0.25
# Brent's best within this many tolerances of an end of the window is a peak at that end.
EDGE_TOLERANCES = 2.0


def brent(probe: Probe, space: SearchSpace) -> Peak:
    """Bounded Brent on the coarse score around the start, then a stepped fine fit."""
    lo, hi = brent_window(space)
    here = space.start_um
    for z in sorted((lo, hi), key=lambda end: abs(end - here)):
        probe.sample(z)
    tolerance = BRENT_TOLERANCE_STEPS * space.step_um
    best = coarse_brent(probe, space, lo, hi, tolerance)
    check_inside_window(best, lo, hi, EDGE_TOLERANCES * tolerance)
    climb_fine(probe, lo, hi, best, CLIMB_START_STEPS * space.step_um,
               MIN_SPACING_FRACTION * space.step_um)
    peak = locate_at_rest(probe, lo, hi, space.expect)
    window = in_window(probe.curve.samples, lo, hi)
    if not coarse_agrees(window, peak.z_um):
        # Far from focus the fine score can wander (side lobes, drift) where the coarse one is
        # flat: a fine peak the broad coarse score does not share is not focus.
        raise FocusNotFound(f"the fine score peaks at {peak.z_um:.2f} um where the coarse score "
                            "is low: no focus in brent's window (start nearer focus?)", "unresolved")
    return peak


def brent_window(space: SearchSpace) -> tuple[float, float]:
    """Start +- the half window, inside the range; shifted inward (not shrunk) at a range end."""
    half = BRENT_HALF_WINDOW_STEPS * space.step_um
    lo, hi = space.clamp(space.start_um - half), space.clamp(space.start_um + half)
    if hi - lo < space.step_um:
        lo, hi = space.clamp(hi - 2 * half), space.clamp(lo + 2 * half)
    return lo, hi


def coarse_brent(probe: Probe, space: SearchSpace, lo: float, hi: float, tolerance: float) -> float:
    """Bounded Brent on the coarse score; returns the position of the best coarse frame."""

    def cost(z: float) -> float:
        probe.sample(space.clamp(z))
        return -coarse_of(probe.curve.samples[-1])

    optimize.minimize_scalar(cost, bounds=(lo, hi), method="bounded",
                             options={"xatol": tolerance, "maxiter": BRENT_MAX_FRAMES})
    coarse = FocusCurve(probe.curve.samples).coarse_curve()
    return max(coarse.samples, key=lambda s: s.score).z_um if coarse.samples else (lo + hi) / 2


def check_inside_window(best_um: float, lo: float, hi: float, margin: float) -> None:
    """Brent converging on an end of its window means the coarse score still rises there."""
    if best_um - lo <= margin or hi - best_um <= margin:
        end: Literal["lower", "upper"] = "lower" if best_um - lo <= margin else "upper"
        raise FocusNotFound(f"the coarse score is highest at the {end} edge of brent's window "
                            f"{lo:.2f}..{hi:.2f} um: focus may lie beyond it (start nearer "
                            "focus, or use coarse-to-fine)", beyond(end))
