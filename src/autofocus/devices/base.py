"""Device protocols: the only surface the runner and strategies rely on.

Positions are micrometres (``z_um``). A backend adapts one real library to these
protocols and turns that library's exceptions into :class:`StageError` /
:class:`CameraError`, so callers never see a vendor traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from autofocus.clock import Clock, SystemClock
from autofocus.errors import CameraError, LimitError, StageError
from autofocus.frames import Frame

__all__ = [
    "Camera",
    "CameraError",
    "Clock",
    "ContinuousStage",
    "Frame",
    "LimitError",
    "Microscope",
    "Stage",
    "StageError",
    "SystemClock",
    "TwoAxisXYStage",
    "XYStage",
]

@runtime_checkable
class Stage(Protocol):
    """A focus drive (one axis)."""

    @property
    def limits_um(self) -> tuple[float, float]:
        """Travel limits (min, max) as the device reports them."""
        ...

    def position_um(self) -> float:
        """Current position."""
        ...

    def move_to_um(self, z_um: float) -> None:
        """Move to an absolute position and return when the move has finished."""
        ...

    def stop(self) -> None:
        """Stop any motion now. Must not raise when the stage is already idle."""
        ...


@runtime_checkable
class XYStage(Protocol):
    """A motorized specimen stage (two axes, X and Y), positions in micrometres."""

    @property
    def limits_um(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """Travel limits per axis: ((x_min, x_max), (y_min, y_max)) as the device reports them."""
        ...

    def position_um(self) -> tuple[float, float]:
        """Current position (x, y)."""
        ...

    def move_to_um(self, x_um: float, y_um: float) -> None:
        """Move both axes to an absolute position and return when the move has finished."""
        ...

    def stop(self) -> None:
        """Stop both axes now. Must not raise when the stage is already idle."""
        ...


class TwoAxisXYStage:
    """Two single-axis stages moving as one :class:`XYStage`, for libraries whose X and Y are
    separate devices or axes (Zaber's daisy chain, python-microscope's named axes).

    Both targets are checked against the axes' limits before either axis moves, so a refused Y
    never leaves X moved; then X moves, then Y, each to the end of its move (one axis at a time
    keeps every path inside the rectangle of the two end points). ``name`` starts the refusal's
    message; ``axes`` names X and Y in it."""

    def __init__(self, x: Stage, y: Stage, name: str, axes: tuple[str, str] = ("X", "Y")) -> None:
        self._x, self._y = x, y
        self._name = name
        self._axes = axes

    @property
    def limits_um(self) -> tuple[tuple[float, float], tuple[float, float]]:
        return (self._x.limits_um, self._y.limits_um)

    def position_um(self) -> tuple[float, float]:
        return (self._x.position_um(), self._y.position_um())

    def move_to_um(self, x_um: float, y_um: float) -> None:
        for axis, name, target in ((self._x, self._axes[0], x_um), (self._y, self._axes[1], y_um)):
            lo, hi = axis.limits_um
            if not lo <= target <= hi:
                raise LimitError(f"{self._name}: {target:.3f} um is outside axis {name!r} "
                                 f"limits {lo:.3f}..{hi:.3f} um")
        self._x.move_to_um(x_um)
        self._y.move_to_um(y_um)

    def stop(self) -> None:
        self._x.stop()
        self._y.stop()


@runtime_checkable
class ContinuousStage(Stage, Protocol):
    """A stage that can also move at a set speed while frames stream."""

    def start_move_to_um(self, z_um: float, speed_um_s: float) -> None:
        """Begin a constant-speed move and return at once."""
        ...

    def is_moving(self) -> bool: ...


@runtime_checkable
class Camera(Protocol):
    """A monochrome camera delivering single frames on request."""

    @property
    def exposure_s(self) -> float: ...

    def grab(self) -> Frame:
        """Expose and return one frame; raise CameraError on timeout or bad frame."""
        ...


@dataclass
class Microscope:
    """A stage, a camera and the clock they run on, plus how to release them."""

    stage: Stage
    camera: Camera
    clock: Clock = field(default_factory=SystemClock)
    closers: list[Callable[[], None]] = field(default_factory=list)
    description: str = ""
    depth_of_field_um: float | None = None
    """The objective's depth of field when the set-up knows it (local searches size their
    frames by it; the search tells a transparent specimen's two humps, a few of it apart, from
    two layers with it); None when unknown."""
    xy_stage: XYStage | None = None
    """The specimen stage, when there is one (focus maps need it; one focus does not)."""

    def close(self) -> None:
        """Release resources in reverse order of acquisition; never raises."""
        while self.closers:
            closer = self.closers.pop()
            # Closing must not mask the error that made us close.
            with contextlib.suppress(Exception):
                closer()

    def __enter__(self) -> Microscope:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
