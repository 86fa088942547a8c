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
- ``refocus``: a few frames near a known focus (:mod:`autofocus.strategies.refocus`); ``track``:
  a time point of a time-lapse, two frames when focus barely moved, else refocus
  (:mod:`autofocus.strategies.tracking`).

Layout: the probe protocol, the search space and pass positions are in :mod:`autofocus.space`;
each strategy is a module of :mod:`autofocus.strategies` (``sweep``, ``coarse_to_fine`` with the
pass machinery of ``passes`` and ``transparent``, ``continuous``, ``brent``, and the stepped
refinement ``stepped`` they share). This module is the registry and the entry points over them.
Dependencies run one way, ``search -> strategies -> space``: no strategy imports this module.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from itertools import pairwise

from autofocus.curve import Expect, FocusCurve, Peak, Sample
from autofocus.errors import FocusNotFound, InputError, LimitError
from autofocus.layers import Layer
from autofocus.result import FocusResult
from autofocus.space import (
    ON_MISS,
    FrameBudget,
    OnMiss,
    OverBudget,
    Probe,
    SearchSpace,
    StopWhen,
    Strategy,
    stepped_sweep,
    sweep_positions,
)
from autofocus.strategies.brent import brent
from autofocus.strategies.coarse_to_fine import COARSE_FACTOR, coarse_to_fine
from autofocus.strategies.continuous import continuous
from autofocus.strategies.passes import coarse_spacing
from autofocus.strategies.refocus import refocus
from autofocus.strategies.sweep import sweep
from autofocus.strategies.tracking import track
from autofocus.strategies.verdict import judged

__all__ = [
    "DEFAULT_STRATEGY",
    "ON_MISS",
    "STRATEGIES",
    "CallableProbe",
    "OnMiss",
    "Probe",
    "SearchSpace",
    "StopWhen",
    "Strategy",
    "find_focus",
    "get_strategy",
    "run_strategy",
]

STRATEGIES: dict[str, Strategy] = {
    "coarse-to-fine": coarse_to_fine,
    "continuous": continuous,
    "brent": brent,
    "refocus": refocus,
    "track": track,
    "sweep": sweep,
}
# Frames that a strategy stopped at the sweep's count leave gaps; wider than this many first-pass
# spacings, they are not judged as a sweep's (nothing covered that stretch).
UNJUDGED_GAP = 1.5
DEFAULT_STRATEGY = "coarse-to-fine"
# Strategies that widen from a prior: stopped at the sweep's count, their frames crowd near it.
LOCAL_FIRST = ("refocus", "track")


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

    @property
    def coarse_measured(self) -> bool:
        return self._coarse is not None

    def sample(self, z_um: float) -> float:
        if not self._space.contains(z_um):
            raise LimitError(
                f"strategy asked for {z_um:.3f} um, outside "
                f"{self._space.lo_um:.3f}..{self._space.hi_um:.3f} um"
            )
        z = self._space.clamp(z_um)
        for _attempt in range(1 + self.RETRIES):
            value = float(self._score(z))
            coarse = value if self._coarse is None else float(self._coarse(z))
            if math.isfinite(value) and math.isfinite(coarse):
                self._curve.add(z, value, t_s=float(len(self._curve)), coarse=coarse)
                return value
        # A score that is not a number is a failed measurement, never a number to optimise
        # (comparisons with NaN are all false: a search could loop on it for ever).
        raise FocusNotFound(
            f"the score at {z:.3f} um was not a finite number ({value:g}, coarse {coarse:g}) "
            f"{1 + self.RETRIES} times: a failed measurement"
        )

    RETRIES = 2
    """Calls again at the same z after a non-finite score (a noisy acquisition may recover)."""

    def sweep(self, start_um: float, end_um: float, spacing_um: float, *,
              stop_when: StopWhen | None = None) -> list[Sample]:
        return stepped_sweep(self, start_um, end_um, spacing_um, stop_when=stop_when)

    def discard(self, samples: list[Sample]) -> None:
        self._curve.set_apart(samples)


def run_strategy(strategy_name: str, probe: Probe,
                 space: SearchSpace) -> tuple[Peak | None, FocusNotFound | None]:
    """Run a strategy; return its peak, or None and why focus was not found."""
    strategy = get_strategy(strategy_name)
    # Never more frames than the sweep over the same range and step: a strategy that would
    # exceed them is stopped there and the frames it has are judged as a sweep's would be.
    budget = FrameBudget(probe, len(sweep_positions(space.lo_um, space.hi_um, space.step_um)))
    try:
        return strategy(budget, space), None
    except OverBudget:
        gap = widest_gap(probe.curve, space)
        if strategy_name in LOCAL_FIRST and gap > UNJUDGED_GAP * coarse_spacing(space, COARSE_FACTOR):
            # refocus was widening because its prior missed: its frames crowd near that wrong
            # prior and do not cover the range, so judging them as a sweep's would be a guess.
            # (brent's frames, cut short near the optimum it converged on, are judged.)
            return None, FocusNotFound(
                f"the search needed more frames than the sweep ({budget.limit}) and its frames "
                f"leave a {gap:.2f} um gap: focus not placed (use coarse-to-fine or sweep over "
                "this range)", "sparse")
        try:
            return judged(probe, space, probe.curve.locate_peak(
                space.lo_um, space.hi_um, expect=space.expect, layer=space.layer,
                start_um=space.start_um, dof_um=space.dof_um)), None
        except FocusNotFound as exc:
            return None, exc
    except FocusNotFound as exc:
        return None, exc


def widest_gap(curve: FocusCurve, space: SearchSpace) -> float:
    """The widest stretch of ``space`` (ends included) without a frame of ``curve``."""
    z = sorted({s.z_um for s in curve.samples})
    edges = [space.lo_um, *z, space.hi_um]
    return max(b - a for a, b in pairwise(edges))


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
    layer: Layer = "auto",
    dof_um: float | None = None,
) -> FocusResult:
    """Find the peak of ``score(z_um)`` between ``start_um`` and ``end_um``.

    For users who bring their own acquisition, and for benchmarks: the result is the same
    object a live run returns (``hardware_s`` stays 0, as no hardware was timed here).
    ``coarse_score(z_um)``, when given, is the wide-capture score strategies bracket focus with
    (for instance the same measure on a downsampled frame); ``start_z_um`` is where local
    strategies start (default: ``start_um``); ``expect`` is ``"peak"``, ``"dip"`` (transparent
    specimens) or ``"auto"``; ``layer`` picks among separated peaks (:mod:`autofocus.layers`);
    ``dof_um`` is the optics' depth of field, when known.
    """
    space = SearchSpace(
        start_um, end_um, step_um, start_um if start_z_um is None else start_z_um, expect,
        layer, dof_um,
    )
    get_strategy(strategy)  # reject an unknown name before any scoring
    probe = CallableProbe(score, space, coarse_score)
    began = time.perf_counter()
    peak, failure = run_strategy(strategy, probe, space)
    elapsed = time.perf_counter() - began
    if peak is None:
        assert failure is not None
        return FocusResult("not_found", None, None, probe.curve, strategy, reason=failure.reason,
                           reason_code=failure.kind, compute_s=elapsed, wall_s=elapsed)
    return FocusResult("focused", peak.z_um, peak.score, probe.curve, strategy,
                       confidence=peak.confidence, method=peak.method, compute_s=elapsed,
                       wall_s=elapsed)
