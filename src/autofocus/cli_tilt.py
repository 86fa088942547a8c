"""``--regions ROWSxCOLS`` on the main command: the field's tilt from the frames of the same search
(no extra frames, no extra motion), reported after the focus result as ``autofocus stack
--regions`` reports it, with the run's own depth of field for the warning."""

from __future__ import annotations

from collections.abc import Callable

from autofocus.devices.base import Microscope
from autofocus.fieldtilt import FieldTilt, RegionScorer
from autofocus.frames import Frame
from autofocus.modes import expect_for_mode
from autofocus.result import FocusResult
from autofocus.runner import AutofocusSettings, FrameHandler, check_before_motion

__all__ = ["LiveTilt", "before_motion", "describe", "each_frame_to"]


class LiveTilt:
    """One run's region scoring: :meth:`check` before anything moves, :meth:`on_frame` as (one
    of) the runner's frame hooks, :meth:`result` once the run is over."""

    def __init__(self, grid: tuple[int, int], settings: AutofocusSettings) -> None:
        self.settings = settings
        self.scorer = RegionScorer(grid, settings.metric_name)
        self._checked = False

    def check(self, microscope: Microscope) -> None:
        """One frame where the stage stands: a grid too fine for the camera's frames is refused
        while nothing has moved (once: before a Zaber axis homes, or after connecting)."""
        if not self._checked:
            self.scorer.check_shape(microscope.camera.grab().shape)
            self._checked = True

    def on_frame(self, index: int, z_um: float, frame: Frame, score: float) -> None:
        self.scorer.on_frame(index, z_um, frame, score)

    def result(self, result: FocusResult, microscope: Microscope) -> FieldTilt:
        """The tilt, or (focus not found: the regions' curves have nothing to be judged against)
        a tilt that says it was not measured."""
        dof = self.settings.depth_of_field(microscope)
        if not result.focused:
            return FieldTilt(self.scorer.grid, (), None, None, None, None, dof, "", "focus not found")
        return self.scorer.result(dof, expect_for_mode(self.settings.mode))


def before_motion(settings: AutofocusSettings, tilt: LiveTilt | None) -> Callable[[Microscope], None]:
    """The run's checks that need the devices but no motion (the range against the travel, the
    ROI on one frame, and the grid of regions on one frame), for :func:`connect.open_microscope`."""

    def check(microscope: Microscope) -> None:
        check_before_motion(microscope, settings)
        if tilt is not None:
            tilt.check(microscope)

    return check


def describe(tilt: FieldTilt) -> str:
    """The stack command's text, plus why there can be no warning when the depth of field is
    unknown (a real microscope without ``--dof-um``)."""
    if tilt.span_um is not None and tilt.dof_um is None:
        return (f"{tilt.describe()}\n"
                "(depth of field unknown: --dof-um gives it, for a warning when the tilt exceeds it)")
    return tilt.describe()


def each_frame_to(*handlers: FrameHandler | None) -> FrameHandler | None:
    """One frame hook that hands each frame to every given handler, in order."""
    chosen = [handler for handler in handlers if handler is not None]
    if len(chosen) <= 1:
        return chosen[0] if chosen else None

    def each(index: int, z_um: float, frame: Frame, score: float) -> None:
        for handler in chosen:
            handler(index, z_um, frame, score)

    return each
