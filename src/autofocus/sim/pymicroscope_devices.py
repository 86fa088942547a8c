"""The simulated microscope as python-microscope devices: a one-axis focus stage and a camera.

Use them in-process, or serve them with python-microscope's ``device-server``::

    # devices.py
    from microscope.device_server import device
    from autofocus.sim.pymicroscope_devices import simulated_devices

    DEVICES = [device(simulated_devices, "127.0.0.1", 8000, conf={"width": 256, "height": 256})]

    $ device-server devices.py   # serves PYRO:FocusStage@127.0.0.1:8000 and PYRO:Camera@...

Requires ``microscope>=0.7`` (``pip install -e '.[pymicroscope]'`` in the clone).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import microscope
import microscope.abc
import numpy as np
import numpy.typing as npt

from autofocus.devices.base import Camera, Stage
from autofocus.sim.camera import CameraSpec
from autofocus.sim.microscope import SimConfig, SimulatedMicroscope

__all__ = ["SimulatedFocusAxis", "SimulatedFocusStage", "SimulatedPMCamera", "simulated_devices"]

AXIS = "z"


class SimulatedFocusAxis(microscope.abc.StageAxis):  # type: ignore[misc]
    """Our simulated stage behind python-microscope's axis interface (micrometres)."""

    def __init__(self, stage: Stage) -> None:
        super().__init__()
        self._stage = stage

    @property
    def position(self) -> float:
        return self._stage.position_um()

    @property
    def limits(self) -> microscope.AxisLimits:
        lo, hi = self._stage.limits_um
        return microscope.AxisLimits(lo, hi)

    def move_to(self, pos: float) -> None:
        # python-microscope's contract: clip to the limits, never raise for it.
        lo, hi = self._stage.limits_um
        self._stage.move_to_um(min(max(float(pos), lo), hi))

    def move_by(self, delta: float) -> None:
        self.move_to(self.position + float(delta))


class SimulatedFocusStage(microscope.abc.Stage):  # type: ignore[misc]
    """A single-axis (``z``) focus stage."""

    def __init__(self, stage: Stage, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._axes = {AXIS: SimulatedFocusAxis(stage)}

    @property
    def axes(self) -> Mapping[str, microscope.abc.StageAxis]:
        return self._axes

    def may_move_on_enable(self) -> bool:
        return False  # the simulator never homes

    def move_to(self, position: Mapping[str, float]) -> None:
        for name, pos in position.items():
            self._axes[name].move_to(pos)

    def move_by(self, delta: Mapping[str, float]) -> None:
        for name, step in delta.items():
            self._axes[name].move_by(step)

    def _do_shutdown(self) -> None:
        pass


class SimulatedPMCamera(microscope.abc.Camera):  # type: ignore[misc]
    """Our simulated camera behind python-microscope's camera interface.

    Software trigger only, one frame per trigger; no binning; full-frame ROI only.
    ``sensor_shape`` is ``(width, height)`` as python-microscope counts; ``None`` learns it from
    one probe frame.
    """

    def __init__(self, camera: Camera, sensor_shape: tuple[int, int] | None = None, **kwargs: Any) -> None:
        self._camera = camera  # before super().__init__, which registers settings that read it
        self._shape = sensor_shape
        self._exposure_s = float(camera.exposure_s)
        self._pending = 0
        super().__init__(**kwargs)

    # -- triggering: software, one frame per trigger
    @property
    def trigger_type(self) -> microscope.TriggerType:
        return microscope.TriggerType.SOFTWARE

    @property
    def trigger_mode(self) -> microscope.TriggerMode:
        return microscope.TriggerMode.ONCE

    def set_trigger(self, ttype: microscope.TriggerType, tmode: microscope.TriggerMode) -> None:
        if (ttype, tmode) != (microscope.TriggerType.SOFTWARE, microscope.TriggerMode.ONCE):
            raise microscope.UnsupportedFeatureError("the simulated camera triggers in software, once")

    def _do_trigger(self) -> None:
        self._pending += 1

    def _fetch_data(self) -> npt.NDArray[Any] | None:
        # Called in a loop by python-microscope's fetch thread; None means "nothing yet".
        if not self._pending:
            return None
        self._pending -= 1
        return np.asarray(self._camera.grab())

    def abort(self) -> None:
        self._pending = 0

    def _do_enable(self) -> bool:
        self._pending = 0
        return True

    def _do_disable(self) -> None:
        self.abort()

    def _do_shutdown(self) -> None:
        pass

    # -- exposure, geometry
    def set_exposure_time(self, value: float) -> None:
        self._exposure_s = float(value)  # remembered; the simulator's own exposure shapes the image

    def get_exposure_time(self) -> float:
        return self._exposure_s

    def get_cycle_time(self) -> float:
        return self._exposure_s

    def _get_sensor_shape(self) -> tuple[int, int]:
        if self._shape is None:
            probe = np.asarray(self._camera.grab())
            self._shape = (int(probe.shape[1]), int(probe.shape[0]))
        return self._shape

    def _get_binning(self) -> microscope.Binning:
        return microscope.Binning(1, 1)

    def _set_binning(self, binning: microscope.Binning) -> bool:
        return tuple(binning) == (1, 1)

    def _get_roi(self) -> microscope.ROI:
        width, height = self._get_sensor_shape()
        return microscope.ROI(0, 0, width, height)

    def _set_roi(self, roi: microscope.ROI) -> bool:
        return tuple(roi) == tuple(self._get_roi())


def simulated_devices(width: int = 256, height: int = 256, **config: Any) -> dict[str, microscope.abc.Device]:
    """A focus stage (``FocusStage``) and camera (``Camera``) sharing one simulated microscope.

    Shaped for ``microscope.device_server.device(simulated_devices, host, port, conf={...})``:
    ``config`` is any :class:`SimConfig` field (``true_focus_um``, ``start_um``, ``specimen``,
    ``seed``, ...); ``width``/``height`` size the camera.
    """
    sim = SimulatedMicroscope(SimConfig(camera=CameraSpec(width=width, height=height), **config))
    return {
        "FocusStage": SimulatedFocusStage(sim.stage),
        "Camera": SimulatedPMCamera(sim.camera, sensor_shape=(width, height)),
    }
