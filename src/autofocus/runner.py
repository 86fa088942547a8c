"""Run a search strategy on real (or simulated) hardware, safely.

The runner owns everything that touches the world: the allowed interval (the user's range
intersected with the device's limits), settling after each move, a one-direction final approach
that takes up backlash, a time budget, progress events, and putting the stage back where it
started when anything goes wrong.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

from autofocus.curve import FocusCurve, Peak, Sample
from autofocus.devices.base import ContinuousStage, Microscope, Stage
from autofocus.errors import InputError, LimitError, SearchTimeout
from autofocus.events import EventHandler, ProgressEvent
from autofocus.frames import Frame
from autofocus.interrupt import Interrupted, annotate, signals_deferred
from autofocus.metrics import Roi, make_metric
from autofocus.modes import COARSE_DOWNSAMPLE, coarse_metric_for_mode, expect_for_mode, metric_for_mode
from autofocus.result import FocusResult
from autofocus.search import (
    DEFAULT_STRATEGY,
    SearchSpace,
    StopWhen,
    get_strategy,
    run_strategy,
    stepped_sweep,
)

FrameHandler = Callable[[int, float, Frame, float], None]
"""Called with (index, z_um, frame, score) for each scored frame, e.g. to save images."""


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

    def validate(self) -> None:
        """Raise InputError for anything impossible; called before anything moves."""
        for name in ("start_um", "end_um", "step_um", "settle_s", "backlash_um"):
            if not math.isfinite(getattr(self, name)):
                label = name.removesuffix("_um").removesuffix("_s")
                raise InputError(f"{label} must be a finite number")
        if self.start_um >= self.end_um:
            raise InputError(
                f"start ({self.start_um / 1000:g} mm) must be below end ({self.end_um / 1000:g} mm)"
            )
        if self.step_um <= 0:
            raise InputError("step must be positive")
        if self.step_um > self.end_um - self.start_um:
            raise InputError("step is larger than the range: there would be nothing to compare")
        if self.settle_s < 0 or self.backlash_um < 0:
            raise InputError("settle time and backlash must not be negative")
        if self.timeout_s is not None and not self.timeout_s > 0:
            raise InputError("timeout must be positive")
        if self.downsample < 1:
            raise InputError("downsample must be 1 or more")
        get_strategy(self.strategy)
        self.score_functions()

    @property
    def metric_name(self) -> str:
        return self.metric if self.metric is not None else metric_for_mode(self.mode)

    def score_functions(self) -> tuple[Callable[[Frame], float], Callable[[Frame], float]]:
        """The fine measure and the coarse one (the mode's coarse measure on a frame
        ``COARSE_DOWNSAMPLE`` times smaller), both ``frame -> score``."""
        fine = make_metric(self.metric_name, blur=self.blur, roi=self.roi, downsample=self.downsample)
        coarse = make_metric(coarse_metric_for_mode(self.mode), roi=self.roi,
                             downsample=self.downsample * COARSE_DOWNSAMPLE)
        return fine, coarse


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


class HardwareProbe:
    """A probe that moves the stage, settles, grabs a frame and scores it (fine and coarse).

    ``sweep`` streams frames during one constant-speed move when the stage is a
    :class:`ContinuousStage`; each frame's z is the stage position at the middle of its
    exposure, interpolated from position readings taken just before and after the grab (so the
    stage's acceleration ramps need no model). Other stages are swept step by step."""

    def __init__(
        self,
        microscope: Microscope,
        space: SearchSpace,
        score_frame: Callable[[Frame], float],
        settings: AutofocusSettings,
        emit: EventHandler,
        on_frame: FrameHandler | None,
        coarse_frame: Callable[[Frame], float] | None = None,
    ) -> None:
        self._scope = microscope
        self._space = space
        self._score_frame = score_frame
        self._coarse_frame = coarse_frame
        self._settings = settings
        self._emit = emit
        self._on_frame = on_frame
        self._curve = FocusCurve()
        self._began = microscope.clock.now()
        self._frame_period_s: float | None = None
        self.compute_s = 0.0

    @property
    def curve(self) -> FocusCurve:
        return self._curve

    def move(self, z_um: float) -> None:
        """The only way this run moves the stage: checked against the allowed interval first."""
        self._check_allowed(z_um)
        self._check_time()
        self._scope.stage.move_to_um(self._space.clamp(z_um))
        self._scope.clock.sleep(self._settings.settle_s)

    def sample(self, z_um: float) -> float:
        self.move(z_um)
        return self._record(self._space.clamp(z_um), self._scope.camera.grab(), moving=False)

    def sweep(self, start_um: float, end_um: float, spacing_um: float, *,
              stop_when: StopWhen | None = None) -> list[Sample]:
        stage = self._scope.stage
        if not isinstance(stage, ContinuousStage):
            return stepped_sweep(self, start_um, end_um, spacing_um, stop_when=stop_when)
        self._check_allowed(end_um)
        first = len(self._curve)
        clock = self._scope.clock
        self.move(start_um)
        if self._frame_period_s is None:
            # A frame at rest, and the camera's frame period to set the speed from (once: later
            # passes start moving at once, the frame period does not change during a search).
            before = clock.now()
            self._record(self._space.clamp(start_um), self._scope.camera.grab(), moving=False)
            self._frame_period_s = max(clock.now() - before, 1e-3)
            stage.start_move_to_um(self._space.clamp(end_um), spacing_um / self._frame_period_s)
            # The next frame would show the start again (the stage is only accelerating):
            # wait until it is about one spacing along instead.
            clock.sleep(self._frame_period_s)
        else:
            stage.start_move_to_um(self._space.clamp(end_um), spacing_um / self._frame_period_s)
        while stage.is_moving():
            self._check_time()
            t0, z0 = clock.now(), stage.position_um()
            frame = self._scope.camera.grab()
            t1, z1 = clock.now(), stage.position_um()
            mid = min(self._scope.camera.exposure_s / 2, t1 - t0)
            z = z0 + (z1 - z0) * (mid / (t1 - t0) if t1 > t0 else 0.0)
            self._record(self._space.clamp(z), frame, moving=True)
            if stop_when is not None and stop_when(self._curve.samples[first:]):
                # The stage is between the pass's checked ends: stopping leaves it inside.
                stage.stop()
                break
        return self._curve.samples[first:]

    def _record(self, z: float, frame: Frame, *, moving: bool) -> float:
        began = time.perf_counter()
        value = float(self._score_frame(frame))
        coarse = float(self._coarse_frame(frame)) if self._coarse_frame is not None else None
        self.compute_s += time.perf_counter() - began
        self._curve.add(z, value, self._scope.clock.now() - self._began, coarse=coarse, moving=moving)
        index = self._curve.frames_taken
        if self._on_frame is not None:
            self._on_frame(index, z, frame, value)
        self._emit(ProgressEvent("frame", index, z, value))
        return value

    def _check_allowed(self, z_um: float) -> None:
        if not self._space.contains(z_um):
            raise LimitError(
                f"refusing to move to {z_um / 1000:.6f} mm: outside the allowed "
                f"{self._space.lo_um / 1000:.6f}..{self._space.hi_um / 1000:.6f} mm"
            )

    def _check_time(self) -> None:
        budget = self._settings.timeout_s
        if budget is not None and self._scope.clock.now() - self._began > budget:
            raise SearchTimeout(f"the search took longer than its {budget:g} s budget")


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
    lo, hi = allowed_interval(settings, stage.limits_um)
    start_z = stage.position_um()
    space = SearchSpace(lo, hi, settings.step_um, min(max(start_z, lo), hi),
                        expect_for_mode(settings.mode))
    score_frame, coarse_frame = settings.score_functions()
    probe = HardwareProbe(microscope, space, score_frame, settings, emit, on_frame, coarse_frame)
    began = clock.now()
    emit(ProgressEvent("start", message=f"searching {lo / 1000:g}..{hi / 1000:g} mm"))

    def finish(peak: Peak | None, reason: str, final_z: float | None,
               return_error: str = "") -> FocusResult:
        return FocusResult(
            status="focused" if peak else "not_found",
            best_z_um=peak.z_um if peak else None,
            score=peak.score if peak else None,
            curve=probe.curve,
            strategy=settings.strategy,
            metric=settings.metric_name,
            reason=reason,
            confidence=peak.confidence if peak else 0.0,
            hardware_s=clock.now() - began,
            compute_s=probe.compute_s,
            final_z_um=final_z,
            return_error=return_error,
        )

    settled = False  # once the stage is back (or at the answer), a later exception must not move it
    try:
        peak, reason = run_strategy(settings.strategy, probe, space)
        if peak is None:
            with signals_deferred() as pending:
                back = return_to(microscope, start_z, emit)
            settled = True
            if pending:  # Ctrl-C during the return: the return finished; now honour the signal
                interrupted = Interrupted(pending[0])
                annotate(interrupted, back.describe())
                raise interrupted
            emit(ProgressEvent("not-found", probe.curve.frames_taken, message=reason))
            return finish(None, reason, back.position_um, back.error)
        emit(ProgressEvent("final-move", probe.curve.frames_taken, peak.z_um, peak.score))
        approach(probe, peak.z_um, settings.backlash_um, lo)
        result = finish(peak, "", stage.position_um())
        settled = True
        emit(ProgressEvent("done", probe.curve.frames_taken, peak.z_um, peak.score))
        return result
    except BaseException as exc:
        if not settled:
            fail(microscope, start_z, emit, probe, exc)
        raise


def fail(microscope: Microscope, start_z: float, emit: EventHandler, probe: HardwareProbe,
         exc: BaseException) -> None:
    """On any failure (device error, timeout, interruption): stop, return to the start with
    signals deferred (a second Ctrl-C must not abandon the return), and record on the
    exception where the stage truly is."""
    with signals_deferred():
        with suppress(Exception):  # a broken progress display must not keep the stage out
            emit(ProgressEvent("failed", probe.curve.frames_taken, message=str(exc)))
        back = return_to(microscope, start_z, emit)
    annotate(exc, back.describe())


def approach(probe: HardwareProbe, z_um: float, backlash_um: float, lo_um: float) -> None:
    """Arrive at ``z_um`` moving upwards, so gear backlash is always taken up the same way."""
    if backlash_um > 0:
        probe.move(max(z_um - backlash_um, lo_um))
    probe.move(z_um)


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
