"""Keep one or several positions in focus through a time-lapse.

At every time point, for each position:

1. **predict** where focus is now from this position's earlier answers (:class:`DriftModel`: a
   robust straight line through the recent ones, extrapolated to now; thermal drift and
   evaporation creep are smooth over a few intervals);
2. **focus near the prediction** with the fewest frames: the ``track`` strategy
   (:mod:`autofocus.strategies.tracking`: two frames when focus barely moved, checked against
   the height of this position's focus peak; else a refocus, which widens when focus is not
   near); when that finds nothing, the full search (the settings' strategy over the whole
   range). The first time point at a position is that full search;
3. **learn**: a correction far beyond the model's scatter is a jump (someone bumped the table):
   the model starts again from it, so the bump is not smeared into the trend, and the positions
   after it in this round expect the same jump (a bump moves the whole stand).

Every move goes through the runner (:func:`autofocus.runner.run_autofocus`: limits, budgets,
signals, the return to the start on failure) and, between positions, through
:class:`autofocus.xy.SafeXY` (the focus drive lowered to a clearance before the XY stage moves).
Between time points the run waits on the microscope's clock: the real one on hardware, the
simulator's virtual one (instant) on ``sim``. A time point not found is logged and the run goes
on; a hardware error or a signal ends it, saying where the stages are.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from itertools import combinations

import numpy as np

from autofocus.devices.base import Microscope
from autofocus.errors import AutofocusError, InputError
from autofocus.events import EventHandler
from autofocus.interrupt import Interrupted
from autofocus.numerics import robust_sigma
from autofocus.result import FocusResult
from autofocus.runner import AutofocusSettings, allowed_interval, check_before_motion, run_autofocus
from autofocus.strategies import refocus
from autofocus.strategies.refocus import MAX_RMS_LN, SIGMA_PER_DOF, WIDTH_RANGE, gaussian_fit
from autofocus.strategies.tracking import TWO_FRAME
from autofocus.track_log import LOG_COLUMNS, TrackLog, TrackRow, check_log_path, write_log
from autofocus.xy import Region, SafeXY

__all__ = ["LOG_COLUMNS", "DriftModel", "TrackLog", "TrackRow", "TrackSettings", "check_log_path",
           "check_track_before_motion", "depth_of_field", "track", "write_log"]

TRACK_STRATEGY = "track"
HISTORY = 8
"""Answers the drift line is fitted through: at 5-minute intervals 40 minutes, over which a
daily thermal cycle and a creep of hours are straight."""
MIN_LINE = 3
"""With fewer answers the prediction is the last one (a slope from two noisy points would throw
the next prediction as far as their noise)."""
JUMP_SIGMAS = 5.0
JUMP_FLOOR_DOF = 0.5
"""A correction beyond ``JUMP_SIGMAS`` times the model's robust scatter and beyond this many
depths of field is a jump (the two-frame answers scatter by a few hundredths of one)."""
JUMP_YOUNG_DOF = 1.5
"""Until the model has a line and a scatter about it, its prediction is the last answer, which
a steady drift leaves behind by a whole interval's drift: only a correction beyond this many
depths of field is a jump then."""
TOP_LEARNING = 0.3
"""Weight of a new two-frame reading in the learned height of the focus peak (a specimen
bleaches or brightens slowly; one noisy reading must not move it far)."""
DEFAULT_CLEARANCE_UM = 50.0
"""Before an XY move the focus drive goes this far below the next position's prediction."""
XY_TOLERANCE_UM = 0.5
MAX_TIME_POINTS = 1_000_000
"""A year at half-minute intervals: more is a typing error (and a log that fills memory)."""
DIP_METHODS = ("dip-fit", "hump-midpoint", "envelope-fit", refocus.V_FIT)
"""Answers that read a transparent specimen's dip: its score at focus is a minimum, no top to
check two frames against."""
WIDTH_REACH_DOF = 1.5
"""A refocus's frames this close to its answer show the peak's width (farther: its tails)."""
PRECISE = (*refocus.METHODS, TWO_FRAME)
"""Answers placed from frames at rest near the top (refocus's fit, the two-frame reading)."""


@dataclass(frozen=True)
class DriftModel:
    """What one position's focus did so far, since its last jump: (t_s, z_um) answers."""

    history: tuple[tuple[float, float], ...] = ()

    def line(self) -> tuple[float, float] | None:
        """Theil-Sen line (slope, intercept) through the recent answers; None with too few.
        Medians of pairwise slopes resist a stray answer that least squares would follow."""
        recent = self.history[-HISTORY:]
        if len(recent) < MIN_LINE:
            return None
        slopes = [(z1 - z0) / (t1 - t0) for (t0, z0), (t1, z1) in combinations(recent, 2) if t1 > t0]
        if not slopes:
            return None
        slope = statistics.median(slopes)
        return slope, statistics.median(z - slope * t for t, z in recent)

    def predict(self, t_s: float) -> float | None:
        """Where focus should be at ``t_s``; None before any answer."""
        if not self.history:
            return None
        fit = self.line()
        if fit is None:
            return self.history[-1][1]
        return fit[0] * t_s + fit[1]

    def scatter_um(self) -> float:
        """Robust spread (:func:`autofocus.numerics.robust_sigma`) of the answers about the
        line; 0 until there are more answers than the line has parameters."""
        fit = self.line()
        recent = self.history[-HISTORY:]
        if fit is None or len(recent) <= MIN_LINE:
            return 0.0
        return robust_sigma([z - fit[0] * t - fit[1] for t, z in recent])

    def is_jump(self, t_s: float, z_um: float, dof_um: float) -> bool:
        """Whether an answer lies so far from the prediction that focus jumped."""
        predicted = self.predict(t_s)
        if predicted is None:
            return False
        young = len(self.history[-HISTORY:]) <= MIN_LINE
        floor = (JUMP_YOUNG_DOF if young else JUMP_FLOOR_DOF) * dof_um
        threshold = max(JUMP_SIGMAS * self.scatter_um(), floor)
        return abs(z_um - predicted) > threshold

    def observe(self, t_s: float, z_um: float, dof_um: float) -> tuple[DriftModel, bool]:
        """The model with this answer learned, and whether it was a jump (then the model
        starts again from it)."""
        if self.is_jump(t_s, z_um, dof_um):
            return DriftModel(((t_s, z_um),)), True
        return DriftModel((*self.history[-(HISTORY - 1):], (t_s, z_um))), False


@dataclass(frozen=True)
class TrackSettings:
    """What to keep in focus, how often and for how long. ``search`` is the full search (range,
    step, measure, budgets per run); positions and region in micrometres."""

    search: AutofocusSettings
    every_s: float
    duration_s: float
    positions: tuple[tuple[float, float], ...] | None = None
    """XY positions, visited in this order at every time point; None: where the stage is."""
    region: Region | None = None
    """Where the XY stage may go; None: the positions' bounding box."""
    clearance_um: float = DEFAULT_CLEARANCE_UM

    def validate(self) -> None:
        """Raise InputError for anything impossible; called before anything moves."""
        self.search.validate()
        for name in ("every_s", "duration_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InputError(f"{'--every' if name == 'every_s' else '--for'} must be a "
                                 f"positive number of seconds, got {value:g}")
        if self.duration_s / self.every_s > MAX_TIME_POINTS:
            raise InputError(f"{self.duration_s:g} s every {self.every_s:g} s is more than "
                             f"{MAX_TIME_POINTS:,} time points; take them less often")
        if not (math.isfinite(self.clearance_um) and self.clearance_um >= 0):
            raise InputError("the clearance must be a non-negative number of micrometres")
        if self.positions is not None:
            if not self.positions:
                raise InputError("the position list is empty")
            for x, y in self.positions:
                if not (math.isfinite(x) and math.isfinite(y)):
                    raise InputError("positions must be finite numbers")
                if not self.xy_region().contains(x, y):
                    raise InputError(f"position ({x / 1000:g}, {y / 1000:g}) mm lies outside the region")

    def xy_region(self) -> Region:
        if self.region is not None:
            return self.region
        assert self.positions
        xs, ys = [p[0] for p in self.positions], [p[1] for p in self.positions]
        return Region(min(xs), min(ys), max(xs), max(ys))

    def time_points(self) -> list[float]:
        """Seconds after the start: 0, every, 2 every, ... before ``duration_s``."""
        count = max(1, math.ceil(self.duration_s / self.every_s - 1e-9))
        return [k * self.every_s for k in range(count)]


Searcher = Callable[[Microscope, AutofocusSettings, EventHandler | None], FocusResult]


def _search(scope: Microscope, settings: AutofocusSettings, on_event: EventHandler | None) -> FocusResult:
    return run_autofocus(scope, settings, on_event=on_event)


def depth_of_field(scope: Microscope, search: AutofocusSettings) -> float:
    """The width tracking sizes its frames and jumps by: the one a run uses
    (:meth:`AutofocusSettings.depth_of_field`), else the search's step (as refocus does)."""
    return search.depth_of_field(scope) or search.step_um


@dataclass(frozen=True)
class Known:
    """What the run has learned about one position: its drift, its focus peak's height (the
    two-frame steps are checked against it) and the peak's width (they are sized by it)."""

    model: DriftModel = DriftModel()
    top: float | None = None
    width_um: float | None = None
    """The focus curve's width here as a depth of field (what refocus measured at rest)."""


def track(scope: Microscope, settings: TrackSettings, *, on_event: EventHandler | None = None,
          on_row: Callable[[TrackRow], None] | None = None,
          truth: Callable[[], float] | None = None, searcher: Searcher = _search) -> TrackLog:
    """Run the time-lapse; see the module's description. ``truth`` (optional) says where focus
    truly is now (a simulator's ground truth), logged beside each answer; ``searcher`` runs one
    search (the runner by default; tests and benchmarks may wrap it)."""
    settings.validate()
    run = _Run(scope, settings, on_event, truth, searcher)
    targets: Sequence[tuple[float, float] | None] = settings.positions or (None,)
    known = [Known() for _ in targets]
    rows: list[TrackRow] = []
    for k, offset in enumerate(settings.time_points()):
        try:
            scope.clock.sleep(run.began + offset - scope.clock.now())  # late (an overrun): at once
        except Interrupted as exc:
            _note(exc, f"stopped before time point {k + 1}, the stage at its last focus "
                  f"({scope.stage.position_um() / 1000:.6f} mm)")
            raise
        shift = 0.0  # the jump seen at an earlier position of this round
        for i, target in enumerate(targets):
            try:
                row, known[i], jumped_by = run.one(known[i], target, (k, offset, i), shift)
            except (AutofocusError, Interrupted) as exc:
                if run.safe is not None:
                    run.safe.stop()
                _note(exc, f"time-lapse stopped at time point {k + 1}, position {i + 1}")
                raise
            shift = jumped_by if jumped_by is not None else shift
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return TrackLog(tuple(rows), settings.every_s, settings.duration_s, run.dof, len(targets))


def _safe_xy(scope: Microscope, settings: TrackSettings, z_floor_um: float) -> SafeXY | None:
    """The positions' guard (None without positions): refuses a region beyond the XY travel."""
    if not settings.positions:
        return None
    if scope.xy_stage is None:
        raise InputError("positions need an XY stage, and this microscope has none")
    return SafeXY(scope, settings.xy_region(), z_floor_um)


def check_track_before_motion(scope: Microscope, settings: TrackSettings) -> None:
    """What the devices can tell before anything moves, as :func:`track` checks it: the search's
    range within the focus travel and the positions' region within the XY stage's travel. The
    command line runs it before an unhomed Zaber axis homes."""
    z_lo, _ = check_before_motion(scope, settings.search)
    _safe_xy(scope, settings, z_lo)


class _Run:
    """One time-lapse's fixed parts: the microscope, the limits, the start time."""

    def __init__(self, scope: Microscope, settings: TrackSettings, on_event: EventHandler | None,
                 truth: Callable[[], float] | None, searcher: Searcher) -> None:
        base = settings.search
        self.scope, self.settings, self.on_event = scope, settings, on_event
        self.truth, self.searcher = truth, searcher
        self.z_lo, self.z_hi = allowed_interval(base, scope.stage.limits_um)
        self.dof = depth_of_field(scope, base)
        self.safe = _safe_xy(scope, settings, self.z_lo)
        self.began = scope.clock.now()

    def move_to(self, target: tuple[float, float], predicted: float | None) -> None:
        """XY to the target (when not there), the focus drive below the prediction first."""
        xy = self.scope.xy_stage
        if self.safe is None or xy is None:
            return
        x_now, y_now = xy.position_um()
        if math.hypot(target[0] - x_now, target[1] - y_now) > XY_TOLERANCE_UM:
            below = predicted if predicted is not None else self.z_lo
            self.safe.move_to(target[0], target[1], below - self.settings.clearance_um)

    def one(self, known: Known, target: tuple[float, float] | None, where: tuple[int, float, int],
            shift: float) -> tuple[TrackRow, Known, float | None]:
        """One position at one time point: move there, predict, focus, learn. Returns the row,
        what is known now, and the jump when there was one."""
        base, clock = self.settings.search, self.scope.clock
        predicted = known.model.predict(clock.now() - self.began)
        if predicted is not None:
            predicted = min(max(predicted + shift, self.z_lo), self.z_hi)
        if target is not None:
            self.move_to(target, predicted)
        results: list[FocusResult] = []
        method = "search"
        if predicted is not None:
            local = replace(base, strategy=TRACK_STRATEGY, near_um=predicted,
                            dof_um=known.width_um or self.dof, expected_top=known.top, on_miss="widen")
            results.append(self.searcher(self.scope, local, self.on_event))
            method = "track" if results[-1].method == TWO_FRAME else "refocus"
        if not results or not results[-1].focused:
            results.append(self.searcher(self.scope, base, self.on_event))
            method = "search"
        result = results[-1]
        if result.focused and result.best_z_um is not None and result.method not in PRECISE:
            # A pass-based answer (the first search, a widened refocus) is placed from frames
            # taken on the move, a fraction of a depth of field off at times: a refocus from it
            # (3-4 frames at rest) places it as well as the two-frame steps that follow it will,
            # and measures the peak's height at rest, which they are checked against.
            near = min(max(result.best_z_um, self.z_lo), self.z_hi)
            polish = replace(base, strategy="refocus", near_um=near, dof_um=self.dof, on_miss="fail")
            results.append(self.searcher(self.scope, polish, self.on_event))
            result = results[-1] if results[-1].focused else result
        jumped, model, top, jump_um = False, known.model, known.top, None
        width = known.width_um
        if result.focused and result.best_z_um is not None:
            now = clock.now() - self.began
            model, jumped = known.model.observe(now, result.best_z_um, self.dof)
            top = _learn_top(known.top, result, method, base.mode)
            width = _learn_width(width, result, self.dof)
            trend = known.model.predict(now)
            if jumped and trend is not None:  # the jump itself, beside this position's trend
                jump_um = result.best_z_um - trend
        row = TrackRow(
            time_point=where[0], time_s=where[1], position=where[2],
            x_um=None if target is None else target[0], y_um=None if target is None else target[1],
            predicted_z_um=predicted, z_um=result.best_z_um, final_z_um=result.final_z_um,
            frames=sum(r.frames for r in results), light_dose_s=sum(r.light_dose_s for r in results),
            hardware_s=sum(r.hardware_s for r in results), wall_s=sum(r.wall_s for r in results),
            confidence=result.confidence, status=result.status, reason_code=result.reason_code,
            reason=result.reason, method=method, jump=jumped,
            true_z_um=None if self.truth is None else self.truth())
        return row, Known(model, top, width), jump_um


def _learn_top(top: float | None, result: FocusResult, method: str, mode: str) -> float | None:
    """The focus peak's height after this answer: a two-frame reading moves it a little, a
    refocus or a search (frames at the top) sets it; a dip has no top to learn."""
    if mode == "transparent" or result.method in DIP_METHODS or result.score is None:
        return None
    if not (math.isfinite(result.score) and result.score > 0):
        return top
    if method == "track" and top is not None:
        return (1 - TOP_LEARNING) * top + TOP_LEARNING * result.score
    return result.score


def _learn_width(width: float | None, result: FocusResult, dof: float) -> float | None:
    """The curve's width from a refocus's frames at rest near its answer, as the depth of field
    that width stands for (a specimen's own curve is narrower or wider than the objective's)."""
    if result.method != refocus.GAUSSIAN_FIT or result.best_z_um is None:
        return width
    answer = result.best_z_um
    near = [s for s in result.curve.samples if not s.moving and abs(s.z_um - answer) <= WIDTH_REACH_DOF * dof]
    if len(near) < 3:
        return width
    fit = gaussian_fit(np.array([s.z_um for s in near]), np.array([s.score for s in near]), dof)
    if fit.rms_ln > MAX_RMS_LN:
        return width
    return dof * min(max(fit.sigma_dof / SIGMA_PER_DOF, WIDTH_RANGE[0]), WIDTH_RANGE[1])


def _note(exc: BaseException, text: str) -> None:
    """Add where the time-lapse stopped to what the exception says about the stages."""
    state = getattr(exc, "stage_state", "")
    with suppress(AttributeError):  # an exception type with __slots__: nothing to add to
        exc.stage_state = f"{state}; {text}" if state else text  # type: ignore[attr-defined]
