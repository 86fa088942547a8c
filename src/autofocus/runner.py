"""Run a search strategy on real (or simulated) hardware, safely.

The runner owns everything that touches the world: the allowed interval (the user's range
intersected with the device's limits), settling after each move, a one-direction final approach
that takes up backlash, a time budget, progress events, and putting the stage back where it
started when anything goes wrong.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from autofocus.curve import FocusCurve, Peak, Sample
from autofocus.devices.base import ContinuousStage, Microscope
from autofocus.errors import AutofocusError, FocusNotFound, InputError, LimitError, SearchTimeout
from autofocus.events import EventHandler, ProgressEvent
from autofocus.frames import Frame
from autofocus.layers import check_layer
from autofocus.metrics import Roi, make_metric
from autofocus.modes import COARSE_DOWNSAMPLE, coarse_metric_for_mode, expect_for_mode, metric_for_mode
from autofocus.pipeline import ComputeTime, Scores, ScoringPipeline
from autofocus.result import FocusResult
from autofocus.search import (
    DEFAULT_STRATEGY,
    ON_MISS,
    OnMiss,
    SearchSpace,
    StopWhen,
    get_strategy,
    run_strategy,
    stepped_sweep,
)

__all__ = [
    "AutofocusSettings",
    "FrameHandler",
    "HardwareProbe",
    "allowed_interval",
    "run_autofocus",
]

# With ``near_um`` farther than this from the stage, the stage goes there first and waits
# PRIOR_RING_OUT_S (a few decay times of a stand's ringing) before the search's frames.
PRIOR_MOVE_UM = 1.0
PRIOR_RING_OUT_S = 0.1

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
    near_um: float | None = None
    """Where focus is expected (the prior of ``refocus`` and ``brent``); None: where the stage is."""
    layer: str = "auto"
    """Which of several separated peaks is focus (:mod:`autofocus.layers`)."""
    dof_um: float | None = None
    """The objective's depth of field; None: the microscope's, when it knows it (two humps are a
    transparent specimen's only within a few of it; refocus takes it as the curve's width)."""
    on_miss: OnMiss = "widen"
    """What ``refocus`` does when focus is not within its window (see :class:`SearchSpace`)."""
    pipeline: bool = True
    """Score streamed frames while the next one is exposed (:mod:`autofocus.pipeline`)."""
    compute_waits: bool = True
    """On a virtual clock, let the clock wait for the measured compute the loop waits for (an
    honest ``wall_s``). Off: the timeline holds the hardware alone, so a run is reproducible
    whatever the computer's load (for property tests and tuning); then ``wall_s`` = ``hardware_s``."""

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
        if self.near_um is not None and not math.isfinite(self.near_um):
            raise InputError("the expected focus position must be a finite number")
        if self.near_um is not None and not self.start_um <= self.near_um <= self.end_um:
            raise InputError(f"the expected focus {self.near_um / 1000:g} mm lies outside the range "
                             f"{self.start_um / 1000:g}..{self.end_um / 1000:g} mm")
        if self.dof_um is not None and not (math.isfinite(self.dof_um) and self.dof_um > 0):
            raise InputError("the depth of field must be a positive number")
        if self.on_miss not in ON_MISS:
            raise InputError(f"on_miss must be one of {', '.join(ON_MISS)}")
        get_strategy(self.strategy)
        self.score_functions()  # metric, blur, roi and downsample: checked by their owner, metrics
        # layer and depth of field: checked by their owner, SearchSpace (before anything moves)

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
        self.timer = ComputeTime(microscope.clock, wait_on_virtual=settings.compute_waits)

    @property
    def compute_s(self) -> float:
        return self.timer.compute_s

    @property
    def curve(self) -> FocusCurve:
        return self._curve

    @property
    def coarse_measured(self) -> bool:
        return self._coarse_frame is not None

    def move(self, z_um: float) -> None:
        """The only way this run moves the stage: checked against the allowed interval first."""
        self._check_allowed(z_um)
        self.timer.resume()  # the move waits for whatever was computed since the last frame
        self._check_time()
        self._scope.stage.move_to_um(self._space.clamp(z_um))
        self._scope.clock.sleep(self._settings.settle_s)
        self.timer.pause()

    def sample(self, z_um: float) -> float:
        self.move(z_um)
        return self._record(self._space.clamp(z_um), self._grab(), moving=False)

    def _grab(self) -> Frame:
        self.timer.resume()
        frame = self._scope.camera.grab()
        self.timer.pause()
        return frame

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
            frame = self._grab()
            self._frame_period_s = max(clock.now() - before, 1e-3)
            self._record(self._space.clamp(start_um), frame, moving=False)
            self.timer.resume()
            stage.start_move_to_um(self._space.clamp(end_um), spacing_um / self._frame_period_s)
            # The next frame would show the start again (the stage is only accelerating):
            # wait until it is about one spacing along instead.
            clock.sleep(self._frame_period_s)
        else:
            self.timer.resume()
            stage.start_move_to_um(self._space.clamp(end_um), spacing_um / self._frame_period_s)
        self.timer.pause()
        self.timer.streaming = True
        pipeline: ScoringPipeline[tuple[float, float]] | None = (
            ScoringPipeline(self._scores, self.timer) if self._settings.pipeline else None)
        try:
            stopped = False
            while stage.is_moving() and not stopped:
                self._check_time()
                self.timer.resume()
                t0, z0 = clock.now(), stage.position_um()
                frame = self._scope.camera.grab()
                t1, z1 = clock.now(), stage.position_um()
                self.timer.pause()
                mid = min(self._scope.camera.exposure_s / 2, t1 - t0)
                # The z and time of this frame's own exposure, however late it is scored.
                z = self._space.clamp(z0 + (z1 - z0) * (mid / (t1 - t0) if t1 > t0 else 0.0))
                done = ([((z, t1), frame, self._scores(frame))] if pipeline is None
                        else pipeline.submit((z, t1), frame))
                for (zf, tf), scored, scores in done:
                    self._add(zf, scored, scores, tf, moving=True)
                    if not stopped and stop_when is not None and stop_when(self._curve.samples[first:]):
                        # The stage is between the pass's checked ends: stopping leaves it inside.
                        self.timer.resume()
                        stage.stop()
                        self.timer.pause()
                        stopped = True
            self.timer.streaming = False  # the stage has stopped: waits from here are the run's
            if pipeline is not None:
                for (zf, tf), scored, scores in pipeline.drain():
                    self._add(zf, scored, scores, tf, moving=True)
        finally:
            self.timer.streaming = False
            if pipeline is not None:
                pipeline.close()
        return self._curve.samples[first:]

    def discard(self, samples: list[Sample]) -> None:
        self._curve.set_apart(samples)

    def _scores(self, frame: Frame) -> Scores:
        value = float(self._score_frame(frame))
        coarse = float(self._coarse_frame(frame)) if self._coarse_frame is not None else None
        return value, coarse

    def _record(self, z: float, frame: Frame, *, moving: bool) -> float:
        return self._add(z, frame, self._scores(frame), self._scope.clock.now(), moving=moving)

    def _add(self, z: float, frame: Frame, scores: Scores, t: float, *, moving: bool) -> float:
        value, coarse = scores
        self._curve.add(z, value, t - self._began, coarse=coarse, moving=moving)
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
    prior = start_z if settings.near_um is None else settings.near_um
    dof = settings.dof_um if settings.dof_um is not None else microscope.depth_of_field_um
    space = SearchSpace(lo, hi, settings.step_um, min(max(prior, lo), hi),
                        expect_for_mode(settings.mode), check_layer(settings.layer), dof_um=dof,
                        on_miss=settings.on_miss)
    score_frame, coarse_frame = settings.score_functions()
    probe = HardwareProbe(microscope, space, score_frame, settings, emit, on_frame, coarse_frame)
    began = clock.now()
    emit(ProgressEvent("start", message=f"searching {lo / 1000:g}..{hi / 1000:g} mm"))

    def finish(peak: Peak | None, failure: FocusNotFound | None, final_z: float | None) -> FocusResult:
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
        )

    try:
        if settings.near_um is not None and abs(space.start_um - start_z) > PRIOR_MOVE_UM:
            # Go to the expected focus first and let that long move ring out, so the first
            # frames near it are not blurred by the stand's vibration.
            probe.move(space.start_um)
            clock.sleep(max(settings.settle_s, PRIOR_RING_OUT_S))
        peak, failure = run_strategy(settings.strategy, probe, space)
        if peak is None:
            probe.timer.resume()
            returned = return_to(microscope, start_z, emit)
            reason = failure.reason if failure else ""
            emit(ProgressEvent("not-found", probe.curve.frames_taken, message=reason))
            return finish(None, failure, returned)
        emit(ProgressEvent("final-move", probe.curve.frames_taken, peak.z_um, peak.score))
        approach(probe, peak.z_um, settings.backlash_um, lo)
        result = finish(peak, None, stage.position_um())
        emit(ProgressEvent("done", probe.curve.frames_taken, peak.z_um, peak.score))
        return result
    except BaseException as exc:
        emit(ProgressEvent("failed", probe.curve.frames_taken, message=str(exc)))
        returned = return_to(microscope, start_z, emit)
        if isinstance(exc, AutofocusError):
            exc.stage_state = (
                f"stage returned to its start position {start_z / 1000:.6f} mm"
                if returned is not None
                else "the stage could not be returned to its start position; it was stopped"
            )
        raise


def approach(probe: HardwareProbe, z_um: float, backlash_um: float, lo_um: float) -> None:
    """Arrive at ``z_um`` moving upwards, so gear backlash is always taken up the same way."""
    if backlash_um > 0:
        probe.move(max(z_um - backlash_um, lo_um))
    probe.move(z_um)


def return_to(microscope: Microscope, z_um: float, emit: EventHandler) -> float | None:
    """Stop, then move back to ``z_um`` (a position the stage held before, so it is safe).
    Returns the position reached, or None when the stage no longer answers."""
    stage = microscope.stage
    try:
        stage.stop()
        stage.move_to_um(z_um)
        reached = stage.position_um()
    except Exception:  # the original failure is what the caller must see
        return None
    emit(ProgressEvent("returned", z_um=reached, message=f"stage back at {reached / 1000:.6f} mm"))
    return reached
