"""Run a search strategy on real (or simulated) hardware, safely.

The runner owns everything that touches the world: the allowed interval (the user's range
intersected with the device's limits), settling after each move, a one-direction final approach
that takes up backlash, frame and time budgets, progress events, and putting the stage back
where it started when anything goes wrong (also on Ctrl-C or SIGTERM, with signals deferred
while it returns). The probe that moves, settles and grabs is :mod:`autofocus.hardware_probe`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

from autofocus.curve import Peak
from autofocus.devices.base import Microscope, Stage
from autofocus.errors import FocusNotFound, InputError
from autofocus.events import EventHandler, ProgressEvent
from autofocus.frames import Frame
from autofocus.hardware_probe import (
    DEFAULT_MAX_FRAMES,
    DEFAULT_TIMEOUT_S,
    Budget,
    FrameHandler,
    HardwareProbe,
)
from autofocus.interrupt import Interrupted, annotate, signals_deferred
from autofocus.layers import check_layer
from autofocus.metrics import Roi, make_metric
from autofocus.modes import COARSE_DOWNSAMPLE, coarse_metric_for_mode, expect_for_mode, metric_for_mode
from autofocus.result import FocusResult
from autofocus.search import DEFAULT_STRATEGY, OnMiss, SearchSpace, get_strategy, run_strategy
from autofocus.space import grid_positions

__all__ = ["AutofocusSettings", "FrameHandler", "HardwareProbe", "ReturnOutcome", "allowed_interval",
           "return_to", "run_autofocus"]

# With ``near_um`` farther than this from the stage, the stage goes there first and waits
# PRIOR_RING_OUT_S (a few decay times of a stand's ringing) before the search's frames.
PRIOR_MOVE_UM = 1.0
PRIOR_RING_OUT_S = 0.1


@dataclass(frozen=True)
class AutofocusSettings:
    """What to search and how. Positions in micrometres."""

    start_um: float
    end_um: float
    step_um: float
    strategy: str = DEFAULT_STRATEGY
    metric: str | None = None
    """None: the measured default of ``mode`` (see :mod:`autofocus.modes`)."""
    mode: str = "auto"
    blur: int = 9
    roi: Roi | None = None
    downsample: int = 1
    settle_s: float = 0.0
    backlash_um: float = 0.0
    timeout_s: float | None = None
    """Wall time the run may take (on its clock); None: ``DEFAULT_TIMEOUT_S``."""
    max_frames: int = DEFAULT_MAX_FRAMES
    """Frames the run may take; a range whose step grid needs more is refused up front."""

    @property
    def budget(self) -> Budget:
        timeout = DEFAULT_TIMEOUT_S if self.timeout_s is None else self.timeout_s
        return Budget(timeout, self.max_frames)
    near_um: float | None = None
    """Where focus is expected (the prior of ``refocus`` and ``brent``); None: where the stage is."""
    layer: str = "auto"
    """Which of several separated peaks is focus (:mod:`autofocus.layers`)."""
    dof_um: float | None = None
    """The objective's depth of field; None: the microscope's, when it knows it (two humps are a
    transparent specimen's only within a few of it; refocus takes it as the curve's width)."""
    on_miss: OnMiss = "widen"
    """What ``refocus`` does when focus is not within its window (see :class:`SearchSpace`)."""
    expected_top: float | None = None
    """The fine score at focus found here before (``track``; see :class:`SearchSpace`)."""
    pipeline: bool = True
    """Score streamed frames while the next one is exposed (:mod:`autofocus.pipeline`)."""
    compute_waits: bool = False
    """On a virtual clock, let the clock wait for the measured compute the loop waits for (an
    honest ``wall_s``, as the benchmarks report it). Off (the default): the timeline holds the
    hardware alone, so a simulated run is the same whatever the computer's load (tests, tuning);
    then ``wall_s`` = ``hardware_s``. On real hardware the clock is the wall clock either way."""

    def validate(self) -> None:
        """Raise InputError for anything impossible; called before anything moves."""
        for name in ("start_um", "end_um", "step_um", "settle_s", "backlash_um"):
            if not math.isfinite(getattr(self, name)):
                label = name.removesuffix("_um").removesuffix("_s")
                raise InputError(f"{label} must be a finite number")
        if self.timeout_s is not None and not (self.timeout_s > 0 and math.isfinite(self.timeout_s)):
            raise InputError("timeout must be a positive number of seconds")
        if self.start_um >= self.end_um:
            raise InputError(
                f"start ({self.start_um / 1000:g} mm) must be below end ({self.end_um / 1000:g} mm)"
            )
        self.check_plan_fits()  # first: its refusal of a tiny step suggests one within the budget
        # step, layer, depth of field, on_miss and the expected score: their owner is the search
        # space (its checks raise here, before anything opens, as well as on the library's path)
        SearchSpace(self.start_um, self.end_um, self.step_um, self.start_um, layer=check_layer(self.layer),
                    dof_um=self.dof_um, on_miss=self.on_miss, expected_top=self.expected_top)
        if self.step_um > self.end_um - self.start_um:
            raise InputError("step is larger than the range: there would be nothing to compare")
        if self.settle_s < 0 or self.backlash_um < 0:
            raise InputError("settle time and backlash must not be negative")
        if self.near_um is not None and not math.isfinite(self.near_um):
            raise InputError("the expected focus position must be a finite number")
        if self.near_um is not None and not self.start_um <= self.near_um <= self.end_um:
            raise InputError(f"the expected focus {self.near_um / 1000:g} mm lies outside the range "
                             f"{self.start_um / 1000:g}..{self.end_um / 1000:g} mm")
        get_strategy(self.strategy)
        self.score_functions()  # metric, blur, roi and downsample: checked by their owner, metrics

    def check_plan_fits(self) -> None:
        """Refuse, before anything moves, a plan that cannot fit its budgets: a step grid with
        more positions than the frame budget (every strategy works on that grid; a tiny step
        would otherwise run for hours or exhaust memory), or a settle time longer than the
        whole time budget."""
        if isinstance(self.max_frames, bool) or not isinstance(self.max_frames, int) \
                or self.max_frames < 2:
            raise InputError("the frame budget (--max-frames) must be a whole number of 2 or more")
        span = self.end_um - self.start_um
        if self.step_um > 0:  # a step of 0 or less: the search space says so
            positions = grid_positions(self.start_um, self.end_um, self.step_um)
            if not positions <= self.max_frames:
                count = (f"{math.floor(positions + 1e-9):,}" if positions < 1e9
                         else f"{positions:.3g}" if math.isfinite(positions) else "too many")
                raise InputError(
                    f"a {span / 1000:g} mm range in steps of {self.step_um / 1000:g} mm is {count} "
                    f"positions, more than the budget of {self.max_frames} frames; use a step of "
                    f"at least {suggest_step_mm(span, self.max_frames):g} mm (or raise --max-frames)"
                )
        budget = self.budget.timeout_s
        if self.settle_s > budget:
            raise InputError(
                f"the settle time ({self.settle_s:g} s per move) is longer than the time budget "
                f"({budget:g} s, --timeout-s): the run could not take a single frame"
            )

    @property
    def metric_name(self) -> str:
        return self.metric if self.metric is not None else metric_for_mode(self.mode)

    def depth_of_field(self, microscope: Microscope) -> float | None:
        """The depth of field a run sizes its frames by: ``dof_um``, else the microscope's
        own (None when neither knows it)."""
        return self.dof_um if self.dof_um is not None else microscope.depth_of_field_um

    def score_functions(self) -> tuple[Callable[[Frame], float], Callable[[Frame], float]]:
        """The fine measure and the coarse one (the mode's coarse measure on a frame
        ``COARSE_DOWNSAMPLE`` times smaller), both ``frame -> score``."""
        fine = make_metric(self.metric_name, blur=self.blur, roi=self.roi, downsample=self.downsample)
        coarse = make_metric(coarse_metric_for_mode(self.mode), roi=self.roi,
                             downsample=self.downsample * COARSE_DOWNSAMPLE)
        return fine, coarse


def suggest_step_mm(span_um: float, max_frames: int) -> float:
    """The smallest round step (1, 2 or 5 times a power of ten, in mm) whose grid over
    ``span_um`` fits ``max_frames`` positions."""
    need_mm = span_um / 1000 / (max_frames - 1)
    exponent = math.floor(math.log10(need_mm))
    for mantissa in (1, 2, 5, 10):
        step = mantissa * 10.0**exponent
        if step >= need_mm * (1 - 1e-12):
            return float(f"{step:.12g}")
    return 10.0 ** (exponent + 1)  # unreachable: 10 x 10^e always covers need


def allowed_interval(settings: AutofocusSettings, limits_um: tuple[float, float]) -> tuple[float, float]:
    """The user's range intersected with the device's travel; empty is an input error."""
    lo = max(settings.start_um, limits_um[0])
    hi = min(settings.end_um, limits_um[1])
    if lo >= hi:
        raise InputError(
            f"the range {settings.start_um / 1000:g}..{settings.end_um / 1000:g} mm lies outside "
            f"the stage's travel {limits_um[0] / 1000:g}..{limits_um[1] / 1000:g} mm"
        )
    return lo, hi


def check_before_motion(microscope: Microscope, settings: AutofocusSettings) -> tuple[float, float]:
    """What the devices can tell before anything moves: the range within the stage's travel (the
    allowed interval, returned) and the region of interest scored on one frame. The runner calls
    it first; the command line also calls it before an unhomed Zaber axis homes."""
    lo, hi = allowed_interval(settings, microscope.stage.limits_um)
    if settings.roi is not None or settings.downsample > 1:
        check_scorable(microscope, settings, *settings.score_functions())
    return lo, hi


def run_autofocus(
    microscope: Microscope,
    settings: AutofocusSettings,
    on_event: EventHandler | None = None,
    on_frame: FrameHandler | None = None,
) -> FocusResult:
    """Search for focus and move there, or put the stage back where it started.

    Returns a result with status ``focused`` (stage at the best position) or ``not_found`` (stage
    back at its start, ``reason`` says why). Device failures propagate as StageError/CameraError
    after the stage has been stopped and, where it still answers, returned to its start.
    """
    emit: EventHandler = on_event or (lambda event: None)
    settings.validate()
    stage, clock = microscope.stage, microscope.clock
    lo, hi = check_before_motion(microscope, settings)
    start_z = stage.position_um()
    prior = start_z if settings.near_um is None else settings.near_um
    space = SearchSpace(lo, hi, settings.step_um, min(max(prior, lo), hi),
                        expect_for_mode(settings.mode), check_layer(settings.layer),
                        dof_um=settings.depth_of_field(microscope),
                        on_miss=settings.on_miss, expected_top=settings.expected_top)
    score_frame, coarse_frame = settings.score_functions()
    probe = HardwareProbe(microscope, space, score_frame, settings.settle_s, emit, on_frame,
                          coarse_frame, settings.budget, pipeline=settings.pipeline,
                          compute_waits=settings.compute_waits)
    began = clock.now()

    def finish(peak: Peak | None, failure: FocusNotFound | None, final_z: float | None,
               return_error: str = "") -> FocusResult:
        probe.timer.resume()  # the last decisions: the user waits for them too
        wall = clock.now() - began
        exposure = float(microscope.camera.exposure_s)
        return FocusResult(
            status="focused" if peak else "not_found",
            best_z_um=peak.z_um if peak else None,
            score=peak.score if peak else None,
            curve=probe.curve,
            strategy=settings.strategy,
            metric=settings.metric_name,
            reason=failure.reason if failure else "",
            reason_code=failure.kind if failure else "",
            confidence=peak.confidence if peak else 0.0,
            method=peak.method if peak else "",
            hardware_s=wall - probe.timer.waited_s,
            compute_s=probe.compute_s,
            wall_s=wall,
            light_dose_s=probe.curve.frames_taken * exposure,
            final_z_um=final_z,
            return_error=return_error,
        )

    settled = False  # once the stage is back (or at the answer), a later exception must not move it
    try:
        emit(ProgressEvent("start", message=f"searching {lo / 1000:g}..{hi / 1000:g} mm"))
        if settings.near_um is not None and abs(space.start_um - start_z) > PRIOR_MOVE_UM:
            # Go to the expected focus first and let that long move ring out, so the first
            # frames near it are not blurred by the stand's vibration.
            probe.move(space.start_um)
            clock.sleep(max(settings.settle_s, PRIOR_RING_OUT_S))
        peak, failure = run_strategy(settings.strategy, probe, space)
        if peak is None:
            probe.timer.resume()
            with signals_deferred() as pending:
                back = return_to(microscope, start_z, emit)
            settled = True
            if pending:  # Ctrl-C during the return: the return finished; now honour the signal
                interrupted = Interrupted(pending[0])
                annotate(interrupted, back.describe(), back.position_um)
                raise interrupted
            reason = failure.reason if failure else ""
            emit(ProgressEvent("not-found", probe.curve.frames_taken, message=reason))
            return finish(None, failure, back.position_um, back.error)
        emit(ProgressEvent("final-move", probe.curve.frames_taken, peak.z_um, peak.score))
        approach(probe, peak.z_um, settings.backlash_um, lo)
        probe.check_where(space.clamp(peak.z_um))  # nobody else moved it before we report
        result = finish(peak, None, stage.position_um())
        settled = True
        emit(ProgressEvent("done", probe.curve.frames_taken, peak.z_um, peak.score))
        return result
    except BaseException as exc:
        if not settled:
            fail(microscope, start_z, emit, probe, exc)
        raise


def check_scorable(microscope: Microscope, settings: AutofocusSettings,
                   *measures: Callable[[Frame], float]) -> None:
    """Before the first move: score one frame taken where the stage stands, so a region of
    interest outside the camera's frame, or too small for the coarse measure's downsampling,
    is refused while nothing has moved."""
    frame = microscope.camera.grab()
    try:
        for measure in measures:
            measure(frame)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(
            f"roi {settings.roi} cannot be scored on this camera's {frame.shape[-1]}x{frame.shape[0]} "
            f"frames (the coarse measure works on a {COARSE_DOWNSAMPLE * settings.downsample}x "
            f"smaller copy): {exc}"
        ) from None


def fail(microscope: Microscope, start_z: float, emit: EventHandler, probe: HardwareProbe,
         exc: BaseException) -> None:
    """On any failure (device error, timeout, interruption): stop, return to the start with
    signals deferred (a second Ctrl-C must not abandon the return), and record on the
    exception where the stage truly is."""
    with signals_deferred():
        with suppress(Exception):  # a broken progress display must not keep the stage out
            emit(ProgressEvent("failed", probe.curve.frames_taken, message=str(exc)))
        back = return_to(microscope, start_z, emit)
    annotate(exc, back.describe(), back.position_um)


def approach(probe: HardwareProbe, z_um: float, backlash_um: float, lo_um: float) -> None:
    """Arrive at ``z_um`` moving upwards, so gear backlash is always taken up the same way."""
    if backlash_um > 0:
        probe.move(max(z_um - backlash_um, lo_um), final=True)
    probe.move(z_um, final=True)


RETURN_TOLERANCE_UM = 1.0
"""How far from its start a returned stage may read and still count as back (native-unit
rounding of the position, encoder jitter); farther, the return is reported as failed."""


@dataclass(frozen=True)
class ReturnOutcome:
    """Where an attempt to put the stage back left it, by the device's own reading."""

    target_um: float
    position_um: float | None
    """The device's position after the attempt; None when it no longer answers."""
    error: str = ""
    """Why the stage is not back at ``target_um``; empty when it is."""

    @property
    def ok(self) -> bool:
        return not self.error

    def describe(self) -> str:
        target = f"{self.target_um / 1000:.6f} mm"
        if self.ok:
            return f"stage returned to its start position {target}"
        where = (f"it is at {self.position_um / 1000:.6f} mm" if self.position_um is not None
                 else "its position is unknown (the stage does not answer)")
        return f"the stage could not be returned to its start position {target} ({self.error}); {where}"


def return_to(microscope: Microscope, z_um: float, emit: EventHandler) -> ReturnOutcome:
    """Stop, then move back to ``z_um`` (a position the stage held before, so it is safe), and
    read where the stage really is. Never raises: the original failure is what callers report."""
    stage = microscope.stage
    error = ""
    try:
        stage.stop()
        stage.move_to_um(z_um)
    except Exception as exc:
        error = str(exc) or type(exc).__name__
        with suppress(Exception):
            stage.stop()
    position = read_position(stage)
    if position is None:
        error = error or "the stage does not answer"
    elif not error and abs(position - z_um) > RETURN_TOLERANCE_UM:
        error = f"it reads {position / 1000:.6f} mm after the move back"
    outcome = ReturnOutcome(z_um, position, error)
    if outcome.ok and position is not None:
        with suppress(Exception):
            emit(ProgressEvent("returned", z_um=position,
                               message=f"stage back at {position / 1000:.6f} mm"))
    return outcome


def read_position(stage: Stage) -> float | None:
    """The stage's own reading, or None when it does not answer (or answers nonsense)."""
    try:
        position = float(stage.position_um())
    except Exception:
        return None
    return position if math.isfinite(position) else None
