"""Micro-Manager through pymmcore-plus: the core's focus drive and camera as our Stage and Camera.

Works with any ``CMMCorePlus`` (C++ device adapters) and with ``UniMMCore`` (which adds pure-Python
devices). The adapters talk to the core only through its public API: ``setPosition``,
``getPosition``, ``waitForDevice``, ``stop``, ``snapImage``, ``getImage``, ``getExposure``.

Micro-Manager errors arrive as ``RuntimeError`` (``CMMError``) from C++ and as anything at all from
Python devices, so every call is wrapped and re-raised as :class:`StageError` / :class:`CameraError`.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from autofocus.devices.base import Microscope
from autofocus.errors import CameraError, InputError, StageError
from autofocus.frames import Frame, to_grey

if TYPE_CHECKING:
    from pymmcore_plus import CMMCorePlus

__all__ = ["MMCamera", "MMStage", "MMXYStage", "open_core_microscope"]

logger = logging.getLogger(__name__)
T = TypeVar("T")
L = TypeVar("L")


def _call(error: type[Exception], what: str, action: Callable[[], T]) -> T:
    """Run one core call; turn whatever the device layer raises into our ``error``."""
    try:
        return action()
    except Exception as exc:
        raise error(f"Micro-Manager: {what} failed: {exc}") from exc


class _CoreDevice:
    """One device of the core: the one named by ``label``, or else the core's current device of
    its kind (read at each call, as Micro-Manager's own calls do)."""

    _kind = ""
    """What the device is, in the error when there is none."""
    _getter, _setter = "", ""
    """The core's calls that read and set its current device of this kind."""
    _error: type[Exception] = StageError

    def __init__(self, core: CMMCorePlus, label: str | None = None) -> None:
        self._core = core
        self._label = label

    def _label_or_current(self) -> str:
        return self._label or str(getattr(self._core, self._getter)())

    @property
    def label(self) -> str:
        label = self._label_or_current()
        if not label:
            raise self._error(f"Micro-Manager: no {self._kind} is set (core.{self._setter})")
        return label


class _CoreStage(_CoreDevice, Generic[L]):
    """A stage of the core: limits are whatever the caller knows (Micro-Manager has no portable
    limit query), every move waits for the device, and a failing stop is only logged."""

    def __init__(self, core: CMMCorePlus, label: str | None, limits_um: L) -> None:
        super().__init__(core, label)
        self._limits = limits_um

    @property
    def limits_um(self) -> L:
        return self._limits

    def _wait(self, label: str) -> None:
        _call(StageError, f"waitForDevice({label!r})", lambda: self._core.waitForDevice(label))

    def stop(self) -> None:
        # Many drives do not implement Stop (DEVICE_UNSUPPORTED_COMMAND) and every move here
        # already waited for the device, so a failing stop is logged rather than raised: raising
        # would make the runner believe the stage cannot be returned to its start.
        label = self._label_or_current()
        if not label:
            return
        try:
            self._core.stop(label)
        except Exception as exc:
            logger.debug("Micro-Manager stop(%r) not available: %s", label, exc)


class MMStage(_CoreStage[tuple[float, float]]):
    """A Micro-Manager single-axis stage (by default the core's current focus device).

    ``label=None`` follows the core's *current* focus device at each call, as Micro-Manager's own
    ``setPosition(z)`` does. Micro-Manager has no travel-limit API for focus stages, so limits are
    whatever the caller knows (default: unbounded; the runner still confines every move to the
    search range).
    """

    _kind, _getter, _setter = "focus device", "getFocusDevice", "setFocusDevice"

    def __init__(
        self,
        core: CMMCorePlus,
        label: str | None = None,
        limits_um: tuple[float, float] = (-math.inf, math.inf),
    ) -> None:
        super().__init__(core, label, limits_um)

    def position_um(self) -> float:
        label = self.label
        return float(_call(StageError, f"getPosition({label!r})", lambda: self._core.getPosition(label)))

    def move_to_um(self, z_um: float) -> None:
        label = self.label
        _call(StageError, f"setPosition({label!r}, {z_um:g})", lambda: self._core.setPosition(label, z_um))
        self._wait(label)


class MMXYStage(_CoreStage[tuple[tuple[float, float], tuple[float, float]]]):
    """A Micro-Manager XY stage (by default the core's current XY stage device). Limits: what
    the caller knows (Micro-Manager has no portable XY limit query); the focus map still keeps
    every move inside its region."""

    _kind, _getter, _setter = "XY stage", "getXYStageDevice", "setXYStageDevice"

    def __init__(
        self,
        core: CMMCorePlus,
        label: str | None = None,
        limits_um: tuple[tuple[float, float], tuple[float, float]] = ((-math.inf, math.inf),
                                                                      (-math.inf, math.inf)),
    ) -> None:
        super().__init__(core, label, limits_um)

    def position_um(self) -> tuple[float, float]:
        label = self.label
        x, y = _call(StageError, f"getXYPosition({label!r})", lambda: self._core.getXYPosition(label))
        return float(x), float(y)

    def move_to_um(self, x_um: float, y_um: float) -> None:
        label = self.label
        _call(StageError, f"setXYPosition({label!r}, {x_um:g}, {y_um:g})",
              lambda: self._core.setXYPosition(label, x_um, y_um))
        self._wait(label)


class MMCamera(_CoreDevice):
    """A Micro-Manager camera (by default the core's current camera).

    With an explicit ``label`` that is not the current camera, the current camera is switched for
    the snap and switched back, because ``snapImage`` acts on the current camera only.
    """

    _kind, _getter, _setter = "camera", "getCameraDevice", "setCameraDevice"
    _error = CameraError

    @property
    def exposure_s(self) -> float:
        label = self.label
        return float(_call(CameraError, "getExposure", lambda: self._core.getExposure(label))) / 1000.0

    def grab(self) -> Frame:
        with self._as_current_camera():
            _call(CameraError, "snapImage", self._core.snapImage)
            image: Any = _call(CameraError, "getImage", self._core.getImage)
        return _monochrome(np.asarray(image))

    @contextlib.contextmanager
    def _as_current_camera(self) -> Iterator[None]:
        wanted = self.label
        current = str(self._core.getCameraDevice())
        if wanted == current:
            yield
            return
        _call(CameraError, f"setCameraDevice({wanted!r})", lambda: self._core.setCameraDevice(wanted))
        try:
            yield
        finally:
            with contextlib.suppress(Exception):  # the snap's own error is the one to report
                self._core.setCameraDevice(current)


def _monochrome(image: npt.NDArray[Any]) -> Frame:
    """Micro-Manager RGB cameras give (h, w, 3|4), in RGB order once pymmcore-plus has fixed
    them; focus scoring wants one channel, the same grey as every other backend's."""
    try:
        return to_grey(image, "RGB")
    except ValueError:
        raise CameraError(f"Micro-Manager: unexpected image shape {image.shape}") from None


def open_core_microscope(
    core: CMMCorePlus,
    stage_label: str | None = None,
    camera_label: str | None = None,
    limits_um: tuple[float, float] = (-math.inf, math.inf),
) -> Microscope:
    """Our :class:`Microscope` over a core. Nothing is closed on ``close()``: the core is the
    caller's, and unloading its devices is the caller's decision."""
    if not hasattr(core, "snapImage") or not hasattr(core, "setPosition"):
        raise InputError(f"expected a pymmcore-plus CMMCorePlus, got {type(core).__name__}")
    stage = MMStage(core, stage_label, limits_um)
    camera = MMCamera(core, camera_label)
    xy = MMXYStage(core) if core.getXYStageDevice() else None  # a focus map needs one
    return Microscope(stage, camera, description=f"Micro-Manager: {stage.label} + {camera.label}",
                      xy_stage=xy)
