"""The probe that touches hardware: move, settle, grab, check the frame, score it.

Everything a run waits for (moves, settling, grabs, streaming) is checked against the run's
:class:`Budget` (wall time on the run's clock, and frames), so no input can make a run go on for
ever. Frames that carry no image (black, saturated or uniform, frozen, or scoring as NaN) are
failed measurements: they never enter the focus curve, the camera is asked again, and too many
in a row end the run as a camera fault.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from autofocus.curve import FocusCurve, Sample
from autofocus.devices.base import ContinuousStage, Microscope
from autofocus.errors import CameraError, LimitError, SearchTimeout, StageError
from autofocus.events import EventHandler, ProgressEvent
from autofocus.frames import Frame
from autofocus.pipeline import ComputeTime, Scores, ScoringPipeline
from autofocus.space import SearchSpace, StopWhen, even_positions, stepped_sweep

__all__ = ["DEFAULT_MAX_FRAMES", "DEFAULT_TIMEOUT_S", "Budget", "FrameHandler", "HardwareProbe",
           "frame_problem"]

DEFAULT_MAX_FRAMES = 10_000
"""Frames one run may take; a plan that needs more is refused before anything moves."""
DEFAULT_TIMEOUT_S = 3_600.0
"""Wall time one run may take when the caller sets none (an hour: far beyond any real search)."""
MIN_IMAGE_PIXELS = 64
"""Below this a "frame" is a measurement, not an image (a test's 1x1 curve value): not judged
uniform or frozen."""
POSITION_TOLERANCE_UM = 1.0
"""How far from the last commanded position the stage may read (native-unit rounding) before
this run concludes that someone else moved it."""
REGRABS = 2
"""How many more frames are asked for at one position after an unusable one."""
RUN_UP_WAITS = 4
"""Waits at most while a pass's run-up carries the stage to its start (one at full speed; the
others cover the command latency and the acceleration ramp)."""

FrameHandler = Callable[[int, float, Frame, float], None]
"""Called with (index, z_um, frame, score) for each scored frame, e.g. to save images."""


@dataclass(frozen=True)
class Budget:
    """What a run may spend: seconds on its clock, and frames."""

    timeout_s: float = DEFAULT_TIMEOUT_S
    max_frames: int = DEFAULT_MAX_FRAMES


def frame_problem(frame: Frame, previous: Frame | None) -> str:
    """Why ``frame`` carries no image ("" when it is usable): uniform (black, saturated or
    flat: every pixel alike, which no real scene through a lens gives), not finite, or exactly
    the previous frame taken elsewhere (a frozen stream: a sensor's noise never repeats)."""
    if frame.size == 0:
        return "an empty frame"
    if np.issubdtype(frame.dtype, np.floating) and not bool(np.isfinite(frame).all()):
        return "a frame with non-finite pixels"
    if frame.size < MIN_IMAGE_PIXELS:
        return ""
    # A sparse look first (every 8th pixel each way): a real frame differs there already, so
    # the full comparisons below run only for the rare suspect (the check costs next to nothing).
    sparse = frame[::8, ::8]
    if sparse.min() == sparse.max():
        lo, hi = frame.min(), frame.max()
        if lo == hi:
            return "a black frame" if lo == 0 else f"a saturated or uniform frame (every pixel {hi})"
    if (previous is not None and previous.shape == frame.shape
            and np.array_equal(previous[::8, ::8], sparse) and np.array_equal(previous, frame)):
        return "a frozen frame (identical to the previous one)"
    return ""


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
        settle_s: float,
        emit: EventHandler,
        on_frame: FrameHandler | None,
        coarse_frame: Callable[[Frame], float] | None = None,
        budget: Budget | None = None,
        *,
        pipeline: bool = True,
        compute_waits: bool = False,
    ) -> None:
        self._scope = microscope
        self._space = space
        self._score_frame = score_frame
        self._coarse_frame = coarse_frame
        self._settle_s = settle_s
        self._emit = emit
        self._on_frame = on_frame
        self._budget = budget or Budget()
        self._curve = FocusCurve()
        self._began = microscope.clock.now()
        self._frame_period_s: float | None = None
        self._last: tuple[float, Frame] | None = None
        self._unusable_in_a_row = 0
        self._commanded: float | None = None
        self._grab_s = 0.0
        self._planned = 0
        self._pipeline = pipeline
        self.timer = ComputeTime(microscope.clock, wait_on_virtual=compute_waits)

    @property
    def compute_s(self) -> float:
        return self.timer.compute_s

    @property
    def curve(self) -> FocusCurve:
        return self._curve

    @property
    def coarse_measured(self) -> bool:
        return self._coarse_frame is not None

    def discard(self, samples: list[Sample]) -> None:
        self._curve.set_apart(samples)

    def move(self, z_um: float, *, final: bool = False) -> None:
        """The only way this run moves the stage: checked against the allowed interval first.
        ``final``: the approach to the answer, which the time budget no longer cuts short."""
        self._check_allowed(z_um)
        self.timer.resume()  # the move waits for whatever was computed since the last frame
        if not final:
            self._check_time()
        self._commanded = self._space.clamp(z_um)
        self._scope.stage.move_to_um(self._commanded)
        if final:
            self._scope.clock.sleep(self._settle_s)
        else:
            self._wait(self._settle_s)
        self.timer.pause()

    def sample(self, z_um: float) -> float:
        self.move(z_um)
        return self._at_rest(self._space.clamp(z_um))

    def _at_rest(self, z: float) -> float:
        """A usable frame at ``z`` (the stage there and settled), asking again after bad ones.
        Sets ``_grab_s``: how long the camera took for the usable frame (its frame period)."""
        clock = self._scope.clock
        while True:
            self.check_where(self._commanded)
            before = clock.now()
            frame = self._grab()
            self._grab_s = clock.now() - before
            self.check_where(self._commanded)  # the frame shows z only if nobody moved it meanwhile
            value = self._record(z, frame, moving=False)
            if value is not None:
                return value

    def sweep(self, start_um: float, end_um: float, spacing_um: float, *,
              stop_when: StopWhen | None = None) -> list[Sample]:
        # The plan so far: what progress bars show as the expected total while this pass runs.
        lo, hi = sorted((start_um, end_um))
        self._planned = max(self._planned, self._curve.frames_taken
                            + len(even_positions(lo, hi, spacing_um)))
        stage = self._scope.stage
        if not isinstance(stage, ContinuousStage):
            return stepped_sweep(self, start_um, end_um, spacing_um, stop_when=stop_when)
        self._check_allowed(end_um)
        first = len(self._curve)
        clock = self._scope.clock
        if self._frame_period_s is None:
            # A frame at rest, and the camera's frame period to set the speed from (once: later
            # passes start moving at once, the frame period does not change during a search).
            self.move(start_um)
            self._at_rest(self._space.clamp(start_um))
            self._frame_period_s = max(self._grab_s, 1e-3)  # the grab alone, not its scoring
            speed = spacing_um / self._frame_period_s
            self.timer.resume()
            stage.start_move_to_um(self._space.clamp(end_um), speed)
            # The next frame would show the start again (the stage is only accelerating):
            # wait until it is about one spacing along instead.
            self._wait(self._frame_period_s)
        else:
            # A stand rings for tens of ms after a move: its first frame would be blurred. Move
            # to one spacing before the start instead and let the stream carry the stage to the
            # start over one frame period, so the pass's first frame is one rung down.
            direction = math.copysign(1.0, end_um - start_um)
            run_up = start_um - direction * spacing_um
            self.move(run_up if self._space.contains(run_up) else start_um)
            self.timer.resume()
            speed = spacing_um / self._frame_period_s
            stage.start_move_to_um(self._space.clamp(end_um), speed)
            # The first exposure's middle should fall on the start: wait until the stage is
            # half an exposure short of it (at most a few waits: the ramp is short).
            first_at = start_um - direction * speed * self._scope.camera.exposure_s / 2
            for _ in range(RUN_UP_WAITS):
                short = (first_at - stage.position_um()) * direction
                if short <= 0 or not stage.is_moving():
                    break
                self._wait(max(short / speed, self._frame_period_s / 50))
        self.timer.pause()
        self.timer.streaming = True
        pipeline: ScoringPipeline[tuple[float, float]] | None = (
            ScoringPipeline(self._scores, self.timer) if self._pipeline else None)
        try:
            stopped = False
            while stage.is_moving() and not stopped:
                # Wait for the compute first: the exposure begins only after it, so the stamps
                # below bracket the exposure itself, not the scoring that delayed it.
                self.timer.resume()
                self.timer.pause()
                t0, z0 = clock.now(), stage.position_um()
                frame = self._grab()
                t1, z1 = clock.now(), stage.position_um()
                mid = min(self._scope.camera.exposure_s / 2, t1 - t0)
                # The z and time of this frame's own exposure, however late it is scored.
                z = self._space.clamp(self._mid_exposure_z(z0, z1, t1 - t0, mid, speed,
                                                           stopped=not stage.is_moving()))
                done = ([((z, t1), frame, self._scores(frame))] if pipeline is None
                        else pipeline.submit((z, t1), frame))
                for (zf, tf), scored, scores in done:
                    # An unusable streamed frame is skipped; the stage moves on.
                    if self._add(zf, scored, scores, tf, moving=True) is None:
                        continue
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

    @staticmethod
    def _mid_exposure_z(z0: float, z1: float, grab_s: float, mid_s: float, speed_um_s: float,
                        *, stopped: bool) -> float:
        """Where the stage was ``mid_s`` into a grab that began at ``z0`` and ended at ``z1``:
        at constant speed, on the straight line between them (the acceleration ramps need no
        model); when the pass ended during the grab, at the pass's speed until it stopped (the
        average over the grab would put the frame short of where it was exposed)."""
        if grab_s <= 0:
            return z0
        if stopped:
            return z0 + math.copysign(min(abs(z1 - z0), speed_um_s * mid_s), z1 - z0)
        return z0 + (z1 - z0) * mid_s / grab_s

    def check_where(self, z_um: float | None) -> None:
        """Before a frame is trusted or a result reported: the stage must be where this run last
        put it. Anything else means another program (or a hand) moved it: a hardware error."""
        if z_um is None:
            return
        here = self._scope.stage.position_um()
        if abs(here - z_um) > max(POSITION_TOLERANCE_UM, self._space.step_um / 4):
            raise StageError(
                f"the stage is at {here / 1000:.6f} mm, not at {z_um / 1000:.6f} mm where this run "
                "put it: another program or client moved it (close it, or run one autofocus at a "
                "time)"
            )

    def _grab(self) -> Frame:
        """One frame, within the budget: checked before the camera is asked."""
        self._check_time()
        taken = self._curve.frames_taken + self._unusable_in_a_row
        if taken >= self._budget.max_frames:
            raise SearchTimeout(f"the search used its budget of {self._budget.max_frames} frames")
        self.timer.resume()
        frame = self._scope.camera.grab()
        self.timer.pause()
        self._check_time()
        return frame

    def _scores(self, frame: Frame) -> Scores:
        """Both scores of a usable frame; NaN for one that carries no image (never scored)."""
        if np.issubdtype(frame.dtype, np.floating) and not bool(np.isfinite(frame).all()):
            return math.nan, math.nan  # not scored: _add names it unusable
        value = float(self._score_frame(frame))
        coarse = float(self._coarse_frame(frame)) if self._coarse_frame is not None else None
        return value, coarse

    def _record(self, z: float, frame: Frame, *, moving: bool) -> float | None:
        return self._add(z, frame, self._scores(frame), self._scope.clock.now(), moving=moving)

    def _add(self, z: float, frame: Frame, scores: Scores, t: float, *, moving: bool) -> float | None:
        """Add a scored frame to the curve; None when it is unusable (it is not added)."""
        previous = self._last
        self._last = (z, frame)
        problem = frame_problem(frame, previous[1] if previous and previous[0] != z else None)
        value, coarse = scores
        if not problem and not (math.isfinite(value) and (coarse is None or math.isfinite(coarse))):
            problem = f"a frame whose focus score is not a number ({value:g}, coarse {coarse})"
        if problem:
            self._unusable(problem, z)
            return None
        self._unusable_in_a_row = 0
        self._curve.add(z, value, t - self._began, coarse=coarse, moving=moving)
        index = self._curve.frames_taken
        if self._on_frame is not None:
            self._on_frame(index, z, frame, value)
        self._planned = max(self._planned, index)
        self._emit(ProgressEvent("frame", index, z, value, expected_frames=self._planned))
        return value

    def _unusable(self, problem: str, z: float) -> None:
        self._unusable_in_a_row += 1
        if self._unusable_in_a_row > REGRABS:
            raise CameraError(
                f"the camera delivered {self._unusable_in_a_row} unusable frames in a row (the last: "
                f"{problem}, at {z / 1000:.6f} mm); check the light source, shutter and exposure"
            )

    def _check_allowed(self, z_um: float) -> None:
        if not self._space.contains(z_um):
            raise LimitError(
                f"refusing to move to {z_um / 1000:.6f} mm: outside the allowed "
                f"{self._space.lo_um / 1000:.6f}..{self._space.hi_um / 1000:.6f} mm"
            )

    def _remaining_s(self) -> float:
        return self._budget.timeout_s - (self._scope.clock.now() - self._began)

    def _check_time(self) -> None:
        if self._remaining_s() < 0:
            raise SearchTimeout(f"the search took longer than its {self._budget.timeout_s:g} s budget")

    def _wait(self, seconds: float) -> None:
        """Wait (settling, or letting a stream get going), but never past the budget."""
        remaining = self._remaining_s()
        if seconds > remaining:
            self._scope.clock.sleep(max(remaining, 0.0))
            raise SearchTimeout(
                f"the search would take longer than its {self._budget.timeout_s:g} s budget "
                f"(waiting {seconds:g} s to settle, {max(remaining, 0.0):.3g} s left)"
            )
        self._scope.clock.sleep(seconds)
