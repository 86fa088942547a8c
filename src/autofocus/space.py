"""What every strategy works on: the search space, the probe protocol and pass positions.

A strategy sees only a :class:`Probe` (``score at z``) and the allowed interval
(:class:`SearchSpace`), never hardware. These types live here, below both
:mod:`autofocus.search` (the registry and entry points) and :mod:`autofocus.strategies` (the
strategies), so the dependency runs one way: ``search -> strategies -> space``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from autofocus.curve import Expect, FocusCurve, Peak, Sample
from autofocus.errors import InputError
from autofocus.layers import Layer, check_layer
from autofocus.numerics import POSITION_TOLERANCE_UM

__all__ = [
    "MAX_POSITIONS",
    "ON_MISS",
    "STREAM_LAG",
    "FrameBudget",
    "OnMiss",
    "OverBudget",
    "Probe",
    "SearchSpace",
    "StopWhen",
    "Strategy",
    "even_positions",
    "grid_positions",
    "stepped_sweep",
    "sweep_positions",
]

MAX_POSITIONS = 1_000_000
"""The most positions a step grid may have: every strategy works on it, and more is a typing
error (a step in mm given as um) whose grid would fill memory (the runner's frame budget,
10,000 by default, refuses far fewer first; this guards every caller, ``find_focus`` too)."""

def grid_positions(lo_um: float, hi_um: float, step_um: float) -> float:
    """How many positions the step grid over ``lo_um``..``hi_um`` has (``step_um`` > 0); inf when
    the step underflows against the span, or is too small to move from ``lo_um`` at all."""
    if lo_um + step_um == lo_um:
        return math.inf
    return (hi_um - lo_um) / step_um + 1


OnMiss = Literal["widen", "search", "fail"]
ON_MISS: tuple[OnMiss, ...] = ("widen", "search", "fail")


@dataclass(frozen=True)
class SearchSpace:
    """Where a strategy may look. ``lo_um``..``hi_um`` is already the intersection of the user's
    range and the device's limits; ``step_um`` is the user's step; ``start_um`` is where the stage
    was when the search began (local strategies start there). ``expect`` says what focus looks
    like on the curve (a peak, a dip between two humps for transparent specimens, or either).

    ``dof_um`` is the objective's depth of field when known (the width local strategies expect
    the focus curve to have; None: they measure it from the user's step), and ``on_miss`` what
    a local strategy does when focus is not within its window: ``widen`` its window, hand over
    to the default ``search`` over the whole range, or ``fail`` (focus not found)."""

    lo_um: float
    hi_um: float
    step_um: float
    start_um: float
    expect: Expect = "peak"
    layer: Layer = "auto"
    """Which of several separated peaks (layers) is focus (:mod:`autofocus.layers`)."""
    dof_um: float | None = None
    """The optics' depth of field when known (the runner fills it from the objective): two humps
    are a transparent specimen's only within a few of it; else their widths decide; refocus
    takes it as the expected curve width."""
    on_miss: OnMiss = "widen"
    expected_top: float | None = None
    """The fine score at focus found here before (a time-lapse: :mod:`autofocus.track`): with
    it ``track`` may answer from two frames; None: ``track`` refocuses."""

    def __post_init__(self) -> None:
        values = (self.lo_um, self.hi_um, self.step_um, self.start_um)
        if not all(math.isfinite(v) for v in values):
            raise InputError("range, step and start must be finite numbers")
        if self.lo_um >= self.hi_um:
            raise InputError(f"empty search range: {self.lo_um} um .. {self.hi_um} um")
        if self.step_um <= 0:
            raise InputError("step must be positive")
        if not grid_positions(self.lo_um, self.hi_um, self.step_um) <= MAX_POSITIONS:
            raise InputError(f"a {self.width_um:g} um range in steps of {self.step_um:g} um is more than "
                             f"{MAX_POSITIONS:,} positions; use a larger step")
        if self.expect not in ("peak", "dip", "auto"):
            raise InputError(f"expect must be peak, dip or auto, got {self.expect!r}")
        check_layer(self.layer)
        if self.dof_um is not None and not (math.isfinite(self.dof_um) and self.dof_um > 0):
            raise InputError("the depth of field must be a positive number of um")
        if self.on_miss not in ON_MISS:
            raise InputError(f"on_miss must be one of {', '.join(ON_MISS)}, got {self.on_miss!r}")
        if self.expected_top is not None and not (math.isfinite(self.expected_top)
                                                  and self.expected_top > 0):
            raise InputError("the expected score at focus must be a positive number")

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

    @property
    def coarse_measured(self) -> bool:
        """Whether frames carry a coarse score of their own (a wide-capture measure on a
        downsampled frame); without one the coarse score is the fine one."""
        ...

    def sample(self, z_um: float) -> float:
        """Score the frame at ``z_um`` (recorded on ``curve``, with its coarse score)."""
        ...

    def sweep(self, start_um: float, end_um: float, spacing_um: float, *,
              stop_when: StopWhen | None = None) -> list[Sample]:
        """Score frames from ``start_um`` to ``end_um`` about ``spacing_um`` apart. A live
        probe may do this in one continuous move; the fallback samples step by step.

        ``stop_when`` (optional) is asked after each frame with the pass's frames so far; when
        it answers True the pass ends there (a moving stage stops where it is, inside the
        segment) and returns those frames."""
        ...

    def discard(self, samples: list[Sample]) -> None:
        """Stop trusting these frames of ``curve`` (a stream that fell short: their z is
        unknown). They still count as frames taken (:meth:`FocusCurve.set_apart`); only the
        probe changes its curve."""
        ...


StopWhen = Callable[[list[Sample]], bool]
"""Whether a pass may end early, given its frames so far (see :meth:`Probe.sweep`)."""

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


def stepped_sweep(probe: Probe, start_um: float, end_um: float, spacing_um: float, *,
                  stop_when: StopWhen | None = None) -> list[Sample]:
    """A probe's ``sweep`` done one stop at a time (for stages that cannot stream)."""
    lo, hi = sorted((start_um, end_um))
    positions: Sequence[float] = even_positions(lo, hi, spacing_um)
    if end_um < start_um:
        positions = positions[::-1]
    first = len(probe.curve)
    for z in positions:
        probe.sample(z)
        if stop_when is not None and stop_when(probe.curve.samples[first:]):
            break
    return probe.curve.samples[first:]


class OverBudget(Exception):
    """A strategy asked for more frames than the sweep over the same range would take."""


STREAM_LAG = 2
"""Frames a streaming probe may have taken but not yet scored when it asks whether to stop
(the depth of :class:`autofocus.pipeline.ScoringPipeline`'s queue)."""


class FrameBudget:
    """A probe that lets a strategy take at most ``limit`` frames (the sweep's count over the
    same range and step), then raises :class:`OverBudget`. It adds no state of its own: the
    curve is the probe's own object."""

    def __init__(self, probe: Probe, limit: int) -> None:
        self._probe = probe
        self.limit = limit

    @property
    def curve(self) -> FocusCurve:
        return self._probe.curve

    @property
    def coarse_measured(self) -> bool:
        return self._probe.coarse_measured

    def _check(self, frames: int = 1) -> None:
        if self._probe.curve.frames_taken + frames > self.limit:
            raise OverBudget(f"more than the sweep's {self.limit} frames")

    def sample(self, z_um: float) -> float:
        self._check()
        return self._probe.sample(z_um)

    def sweep(self, start_um: float, end_um: float, spacing_um: float, *,
              stop_when: StopWhen | None = None) -> list[Sample]:
        self._check()
        limit = self.limit

        def stop(frames: list[Sample]) -> bool:
            # A streaming probe scores frames while the next ones are exposed: by the time it
            # asks, up to STREAM_LAG more frames are taken, and they count too.
            full = self._probe.curve.frames_taken + STREAM_LAG >= limit
            return full or (stop_when is not None and stop_when(frames))

        samples = self._probe.sweep(start_um, end_um, spacing_um, stop_when=stop)
        if self._probe.curve.frames_taken + STREAM_LAG >= limit and not (
                stop_when is not None and samples and stop_when(samples)):
            lo, hi = sorted((start_um, end_um))
            expected = len(even_positions(lo, hi, spacing_um))
            if len(samples) < expected:
                raise OverBudget(f"the sweep's {limit} frames were used up during a pass")
        return samples

    def discard(self, samples: list[Sample]) -> None:
        self._probe.discard(samples)
