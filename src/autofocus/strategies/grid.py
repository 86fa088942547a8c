"""The pass-based search on the user's step grid, for probes with one score only.

The user's step is the tutorial's promise: "small enough that focus is not skipped". A probe
with a coarse measure (a downsampled frame: broad, smooth, wide capture) may be sampled more
sparsely than the step, because the coarse score cannot hide a narrow peak between its frames.
A plain ``score(z)`` callable has no coarse score: its one score may peak between any two
frames more than a step apart. So here every frame lies on the sweep's own positions
(``sweep_positions``), and sparser frames only say where to look closer:

1. a first pass at every ``GRID_FACTOR``-th position (a peak two steps wide above half height
   still lifts the nearest frame, at most 1.5 steps from its top, to a fifth of its height);
   a flat pass is followed by passes between its frames, down to the full sweep, before the
   field is called empty;
2. every local maximum that stands out of the noise is a candidate that could hide the global
   maximum (its top may lie between the frames): the positions between it and its sampled
   neighbours are all taken, until every candidate is resolved at the user's step (its
   neighbours at the step are sampled and lower). A rise at an end of the range is a
   candidate too;
3. the curve, now resolved at the step around every candidate, is judged as a sweep's is
   (:meth:`FocusCurve.locate_peak`: flat, edge, two layers, the fit, the confidence); a peak
   narrower than the step (fewer than three frames inside it) gets frames beside its best one,
   half as far each time, while the sweep's frame count allows; when it allows no more, the
   answer is the sweep's (the best frame, with the confidence of a peak one frame wide).

Every frame before the last step is one the sweep would take, and the last one stops at the
sweep's frame count, so the search never takes more frames than the sweep.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from autofocus.curve import (
    ABOVE_NOISE_SNR,
    FocusCurve,
    Peak,
    curve_stats,
    significant_peaks,
)
from autofocus.curve import is_flat as curve_is_flat
from autofocus.errors import FocusNotFound
from autofocus.space import Probe, SearchSpace, sweep_positions
from autofocus.strategies.passes import MIN_SPACING_FRACTION

__all__ = ["grid_search"]

# The first pass takes every this many of the sweep's positions ...
GRID_FACTOR = 3
# ... but keeps at least this many intervals over the range.
MIN_GRID_INTERVALS = 8


def grid_search(probe: Probe, space: SearchSpace) -> Peak:
    """The first pass on the sweep's grid, every candidate resolved at the step, then the
    curve's answer."""
    grid = sweep_positions(space.lo_um, space.hi_um, space.step_um)
    every = max(1, min(GRID_FACTOR, (len(grid) - 1) // MIN_GRID_INTERVALS))
    taken: dict[int, float] = {}

    def take(indices: list[int]) -> None:
        order = sorted(set(indices) - set(taken))
        # Walk from the end nearer the stage, as a pass would.
        here = probe.curve.samples[-1].z_um if probe.curve.samples else space.start_um
        if order and abs(grid[order[-1]] - here) < abs(grid[order[0]] - here):
            order.reverse()
        for i in order:
            taken[i] = probe.sample(grid[i])

    take([*range(0, len(grid), every), len(grid) - 1])
    while every > 1 and is_flat(taken):
        every = max(1, every // 2)
        take(list(range(0, len(grid), every)))
    while True:
        missing = unresolved_neighbours(taken, len(grid))
        if not missing:
            break
        take(missing)
    budget = len(grid)
    h = space.step_um / 2
    while True:
        try:
            return at_rest(probe).locate_peak(space.lo_um, space.hi_um, expect=space.expect,
                                              layer=space.layer, start_um=space.start_um,
                                              dof_um=space.dof_um)
        except FocusNotFound as exc:
            # A peak narrower than the step (fewer than three frames inside it): frames beside
            # its best one, closer each time, while the sweep's frame count allows.
            if exc.kind != "sparse":
                raise
            if h < MIN_SPACING_FRACTION * space.step_um or probe.curve.frames_taken + 2 > budget:
                # No frames left to place it between steps: every candidate is resolved at the
                # step, so the best frame is the sweep's answer (never worse than the sweep),
                # with the low confidence of a peak one frame wide.
                return at_rest(probe).locate_best_frame()
        best = at_rest(probe).best_sample().z_um
        for z in (best - h, best + h):
            if space.contains(z) and not any(abs(s.z_um - z) < h / 4 for s in probe.curve.samples):
                probe.sample(space.clamp(z))
        h /= 2


def at_rest(probe: Probe) -> FocusCurve:
    return FocusCurve([s for s in probe.curve.samples if not s.moving])


def is_flat(taken: dict[int, float]) -> bool:
    return curve_is_flat(*sorted_profile(taken))


def sorted_profile(taken: dict[int, float]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    indices = sorted(taken)
    return np.array(indices, dtype=float), np.array([taken[i] for i in indices], dtype=float)


def unresolved_neighbours(taken: dict[int, float], size: int) -> list[int]:
    """The grid positions still to take: those between each candidate (a significant local
    maximum of the frames so far, an end of the range included) and its nearest sampled
    neighbours, for candidates whose neighbours one step away are not both sampled."""
    z, scores = sorted_profile(taken)
    if len(z) < 3:
        return [i for i in range(size) if i not in taken]
    stats = curve_stats(z, scores)
    candidates = [p.index for p in significant_peaks(scores, stats)]
    best = int(np.argmax(scores))
    if best not in candidates:
        candidates.append(best)
    if stats.noise > 0:
        # A frame that rises above both neighbours by more than the noise is a candidate too:
        # the top of a narrow peak may lie beside it.
        for i in range(1, len(z) - 1):
            if scores[i] - max(scores[i - 1], scores[i + 1]) > ABOVE_NOISE_SNR * stats.noise:
                candidates.append(i)
    missing: list[int] = []
    indices = [int(v) for v in z]
    for c in sorted(set(candidates)):
        at = indices[c]
        lo = indices[c - 1] if c > 0 else at
        hi = indices[c + 1] if c < len(indices) - 1 else at
        missing += [i for i in range(lo + 1, hi) if i not in taken]
    return missing
