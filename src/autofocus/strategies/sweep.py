"""``sweep``: the tutorial's search, every step from one end of the range to the other."""

from __future__ import annotations

from autofocus.curve import Peak
from autofocus.space import Probe, SearchSpace, sweep_positions

__all__ = ["sweep"]


def sweep(probe: Probe, space: SearchSpace) -> Peak:
    """The tutorial's search: every step from one end to the other, best frame wins.

    The only change to its answer: a flat curve (an empty field) raises FocusNotFound, judged by
    the same statistics as the fitted strategies, instead of naming whichever frame's noise won."""
    for z in sweep_positions(space.lo_um, space.hi_um, space.step_um):
        probe.sample(z)
    return probe.curve.locate_best_frame()
