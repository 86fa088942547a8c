"""The simulated microscope as pure-Python Micro-Manager devices for pymmcore-plus's ``UniMMCore``.

A :class:`SimulatedSlide` puts a specimen whose surface height varies with x/y under the simulated
microscope, so positions of a multi-position acquisition have different true focus heights. It
owns three devices: a focus drive, an XY stage and a camera. :func:`on_virtual_clock` runs an
MDA's time plan on the simulator's virtual clock, so a time-lapse (and the drift during it) takes
simulated minutes, not real ones.

A pure-Python device's ``self.core`` exposes only events in pymmcore-plus 0.18, so the devices
cannot ask the core where the other devices are: each one holds the slide directly.

Requires ``pymmcore-plus>=0.18`` (``pip install -e '.[micromanager]'`` in the clone).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from pymmcore_plus.experimental.unicore import (
    SimpleCameraDevice,
    StageDevice,
    UniMMCore,
    XYStageDevice,
)

from autofocus.clock import Clock
from autofocus.sim.microscope import SimulatedMicroscope

if TYPE_CHECKING:
    from useq import MDAEvent

__all__ = [
    "PIXEL_SIZE_CONFIG",
    "SimCameraDevice",
    "SimFocusDevice",
    "SimXYStageDevice",
    "SimulatedSlide",
    "Surface",
    "load_simulated_devices",
    "on_virtual_clock",
    "tilted",
]

PIXEL_SIZE_CONFIG = "Simulator"
"""The pixel-size configuration :func:`load_simulated_devices` defines."""

Surface = Callable[[float, float], float]
"""Height of the specimen surface (um) at stage position (x_um, y_um)."""


def flat(x_um: float, y_um: float) -> float:
    return 0.0


def tilted(um_per_mm_x: float, um_per_mm_y: float = 0.0) -> Surface:
    """A slide mounted at a slope: the commonest reason focus differs between positions."""

    def height(x_um: float, y_um: float) -> float:
        return (um_per_mm_x * x_um + um_per_mm_y * y_um) / 1000.0

    return height


class SimulatedSlide:
    """A specimen of varying height under the simulated microscope.

    Micro-Manager's focus coordinate ``z_um`` is the objective's height; the simulator's stage
    stands for the objective-to-specimen distance, so it is kept at ``z_um - surface(x, y)``.
    The true focus at (x, y) in Micro-Manager coordinates is therefore
    ``sim.true_focus_um + surface(x, y)``.
    """

    def __init__(self, sim: SimulatedMicroscope, surface: Surface = flat) -> None:
        self.sim = sim
        self.surface = surface
        self._x_um = 0.0
        self._y_um = 0.0
        self._z_um = sim.stage.position_um() + surface(0.0, 0.0)

    def true_focus_um(self, x_um: float, y_um: float) -> float:
        return self.sim.true_focus_um + self.surface(x_um, y_um)

    @property
    def z_um(self) -> float:
        return self._z_um

    @property
    def xy_um(self) -> tuple[float, float]:
        return self._x_um, self._y_um

    def move_z(self, z_um: float) -> None:
        self._place(self._x_um, self._y_um, z_um)

    def move_xy(self, x_um: float, y_um: float) -> None:
        self._place(x_um, y_um, self._z_um)

    def _place(self, x_um: float, y_um: float, z_um: float) -> None:
        # Move the simulated stage first: if it refuses (limits, faults) nothing has changed.
        self.sim.stage.move_to_um(z_um - self.surface(x_um, y_um))
        self._x_um, self._y_um, self._z_um = x_um, y_um, z_um

    def devices(self) -> dict[str, SimFocusDevice | SimXYStageDevice | SimCameraDevice]:
        """Fresh device objects, keyed by the labels :func:`load_simulated_devices` uses."""
        return {
            "Z": SimFocusDevice(self),
            "XY": SimXYStageDevice(self),
            "Camera": SimCameraDevice(self),
        }


class SimFocusDevice(StageDevice):  # type: ignore[misc]  # pymmcore-plus is untyped for mypy here
    """The simulated focus drive (um)."""

    def __init__(self, slide: SimulatedSlide) -> None:
        super().__init__()
        self._slide = slide

    def get_position_um(self) -> float:
        return self._slide.z_um

    def set_position_um(self, val: float) -> None:
        self._slide.move_z(float(val))
        self.core.events.stagePositionChanged.emit(self.get_label(), self._slide.z_um)

    def home(self) -> None:
        """The simulator has no home switch; homing is a no-op."""

    def stop(self) -> None:
        """Moves complete before ``set_position_um`` returns, so there is nothing to stop."""

    def set_origin(self) -> None:
        raise NotImplementedError("the simulated focus drive has a fixed origin")


class SimXYStageDevice(XYStageDevice):  # type: ignore[misc]
    """The simulated XY stage (um); moving it changes the specimen height under the objective."""

    def __init__(self, slide: SimulatedSlide) -> None:
        super().__init__()
        self._slide = slide

    def get_position_um(self) -> tuple[float, float]:
        return self._slide.xy_um

    def set_position_um(self, x: float, y: float) -> None:
        self._slide.move_xy(float(x), float(y))
        self.core.events.XYStagePositionChanged.emit(self.get_label(), float(x), float(y))

    def home(self) -> None:
        """No home switch; a no-op."""

    def stop(self) -> None:
        """Moves are instantaneous; nothing to stop."""

    def set_origin_x(self) -> None:
        raise NotImplementedError("the simulated XY stage has a fixed origin")

    def set_origin_y(self) -> None:
        raise NotImplementedError("the simulated XY stage has a fixed origin")


class SimCameraDevice(SimpleCameraDevice):  # type: ignore[misc]
    """The simulated camera: each snap renders the specimen at the current defocus.

    The frame format (shape, dtype) is learnt from one probe frame at ``initialize()``, so any
    simulator configuration works without repeating its camera settings here.
    """

    def __init__(self, slide: SimulatedSlide) -> None:
        super().__init__()
        self._camera = slide.sim.camera
        self._exposure_ms = float(self._camera.exposure_s) * 1000.0
        self._format: tuple[tuple[int, int], np.dtype[Any]] | None = None

    def initialize(self) -> None:
        self._frame_format()

    def _frame_format(self) -> tuple[tuple[int, int], np.dtype[Any]]:
        if self._format is None:
            probe = np.asarray(self._camera.grab())
            self._format = (int(probe.shape[0]), int(probe.shape[1])), probe.dtype
        return self._format

    def sensor_shape(self) -> tuple[int, int]:
        return self._frame_format()[0]

    def dtype(self) -> np.dtype[Any]:
        return self._frame_format()[1]

    def get_exposure(self) -> float:
        return self._exposure_ms

    def set_exposure(self, exposure: float) -> None:
        # Remembered for Micro-Manager's sake; the simulator's own exposure shapes the image.
        self._exposure_ms = float(exposure)

    def snap(self, buffer: npt.NDArray[Any]) -> Mapping[str, Any]:
        buffer[:] = self._camera.grab()
        return {}


def load_simulated_devices(core: UniMMCore, slide: SimulatedSlide) -> None:
    """Load the slide's devices into ``core`` as labels ``Z``, ``XY`` and ``Camera`` and make them
    the current focus device, XY stage and camera.

    Auto-shutter is switched off: with no shutter loaded, pymmcore-plus 0.18's MDA otherwise fails
    in ``setShutterOpen``. A pixel-size configuration (``PIXEL_SIZE_CONFIG``, the simulator's
    pixel at the specimen) is defined and selected, as a real setup has one: an MDA writing
    OME-TIFF or OME-Zarr needs a pixel size above 0.
    """
    for label, device in slide.devices().items():
        core.loadPyDevice(label, device)
        core.initializeDevice(label)
    core.setFocusDevice("Z")
    core.setXYStageDevice("XY")
    core.setCameraDevice("Camera")
    core.setAutoShutter(False)
    core.definePixelSizeConfig(PIXEL_SIZE_CONFIG)
    core.setPixelSizeUm(PIXEL_SIZE_CONFIG, float(slide.sim.pixel_um))
    core.setPixelSizeConfig(PIXEL_SIZE_CONFIG)


def on_virtual_clock(events: Iterable[MDAEvent], clock: Clock) -> Iterator[MDAEvent]:
    """The MDA's events with their time plan kept on ``clock`` (the simulator's): before each
    event the clock advances to the event's ``min_start_time`` (counted from the start, or from
    the last event that resets the timer), and the event goes to the runner without it, so the
    runner does not wait in real time. Pass the result to ``core.mda.run``.

    A generator on purpose: the runner asks for the next event only when the previous one is
    done, so the clock has already counted the frames and searches taken before it.
    """
    t0 = clock.now()
    for event in events:
        if event.reset_event_timer:
            t0 = clock.now()
        if event.min_start_time is not None:
            clock.sleep(max(0.0, t0 + event.min_start_time - clock.now()))
        yield event.model_copy(update={"min_start_time": None})
