"""Search strategies. A strategy sees only a :class:`Probe` (``score at z``) and the allowed
interval, never hardware, so the same code runs on live devices, recorded stacks and plain
callables.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from autofocus.curve import FocusCurve, Peak, Sample
from autofocus.errors import FocusNotFound, InputError, LimitError
from autofocus.result import FocusResult

# Positions closer than this are the same position: it absorbs float rounding in step arithmetic.
POSITION_TOLERANCE_UM = 1e-6


@dataclass(frozen=True)
class SearchSpace:
    """Where a strategy may look. ``lo_um``..``hi_um`` is already the intersection of the user's
    range and the device's limits; ``step_um`` is the user's step; ``start_um`` is where the stage
    was when the search began (local strategies start there)."""

    lo_um: float
    hi_um: float
    step_um: float
    start_um: float

    def __post_init__(self) -> None:
        values = (self.lo_um, self.hi_um, self.step_um, self.start_um)
        if not all(math.isfinite(v) for v in values):
            raise InputError("range, step and start must be finite numbers")
        if self.lo_um >= self.hi_um:
            raise InputError(f"empty search range: {self.lo_um} um .. {self.hi_um} um")
        if self.step_um <= 0:
            raise InputError("step must be positive")

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
        """Score the frame at ``z_um`` (recorded on ``curve``)."""
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


def sweep(probe: Probe, space: SearchSpace) -> Peak:
    """The tutorial's search: every step from one end to the other, best frame wins."""
    for z in sweep_positions(space.lo_um, space.hi_um, space.step_um):
        probe.sample(z)
    return probe.curve.locate_best_frame()


STRATEGIES: dict[str, Strategy] = {
    "sweep": sweep,
}
DEFAULT_STRATEGY = "sweep"


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        known = ", ".join(sorted(STRATEGIES))
        raise InputError(f"unknown strategy {name!r}; choose one of: {known}") from None


class CallableProbe:
    """A probe over a plain ``score(z_um) -> float`` function, guarding the allowed interval."""

    def __init__(self, score: Callable[[float], float], space: SearchSpace) -> None:
        self._score = score
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
        self._curve.add(z, value, t_s=float(len(self._curve)))
        return value

    def sweep(self, start_um: float, end_um: float, spacing_um: float) -> list[Sample]:
        lo, hi = sorted((start_um, end_um))
        positions = sweep_positions(lo, hi, spacing_um)
        if end_um < start_um:
            positions.reverse()
        first = len(self._curve)
        for z in positions:
            self.sample(z)
        return self._curve.samples[first:]


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
) -> FocusResult:
    """Find the peak of ``score(z_um)`` between ``start_um`` and ``end_um``.

    For users who bring their own acquisition, and for benchmarks: the result is the same
    object a live run returns (``hardware_s`` stays 0, as no hardware was timed here).
    """
    space = SearchSpace(
        start_um, end_um, step_um, start_um if start_z_um is None else start_z_um
    )
    get_strategy(strategy)  # reject an unknown name before any scoring
    probe = CallableProbe(score, space)
    began = time.perf_counter()
    peak, reason = run_strategy(strategy, probe, space)
    elapsed = time.perf_counter() - began
    if peak is None:
        return FocusResult("not_found", None, None, probe.curve, strategy, reason=reason,
                           compute_s=elapsed)
    return FocusResult("focused", peak.z_um, peak.score, probe.curve, strategy,
                       confidence=peak.confidence, compute_s=elapsed)
