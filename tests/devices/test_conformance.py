"""One Stage/Camera contract, run over every backend (in the style of python-microscope's test
mixins: the contract is written once, each backend only says how to open itself).

Backends: the simulator; the replay of a recorded stack; a Zaber stage through the real Zaber
Motion Library talking to the simulated controller over TCP; Micro-Manager through a real
pymmcore-plus core with the simulator loaded as Python devices; python-microscope devices.
Backend-specific behaviour (units, faults, protocol details) stays in each backend's own tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tifffile
from tests.conftest import small_sim
from tests.test_stack import focus_stack

from autofocus.clock import VirtualClock
from autofocus.devices.base import Camera, Stage
from autofocus.devices.replay import open_replay
from autofocus.errors import StageError

START_UM = 10_000.0


@dataclass
class Rig:
    """An open backend, and where the contract may move it."""

    stage: Stage | None
    camera: Camera | None
    inside_um: tuple[float, float]
    """Two positions inside the travel, some micrometres apart."""
    outside_um: float
    """A position the stage must refuse (beyond its travel or the device's own limit)."""
    tolerance_um: float = 1e-6
    """How close a finished move lands (a stepper lands on whole native units)."""


Opener = Callable[[Path, pytest.MonkeyPatch], AbstractContextManager[Rig]]


@contextmanager
def simulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    with small_sim(start_um=START_UM).devices() as scope:
        hi = scope.stage.limits_um[1]
        yield Rig(scope.stage, scope.camera, (START_UM + 5.0, START_UM - 7.5), hi + 1_000.0)


@contextmanager
def replay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, focus_stack(bits=16), imagej=True, metadata={"spacing": 0.5, "unit": "um"})
    with open_replay(path) as scope:
        lo, hi = scope.stage.limits_um
        yield Rig(scope.stage, scope.camera, (lo + 0.25 * (hi - lo), lo + 0.6 * (hi - lo)), hi + 1.0)


@contextmanager
def zaber(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    pytest.importorskip("zaber_motion")
    from autofocus.devices.zaber import open_zaber_stage
    from autofocus.sim.stage import SimStage, StageSpec
    from autofocus.sim.zaber_protocol import SimZaberDevice
    from autofocus.sim.zaber_server import ZaberDeviceServer

    monkeypatch.setenv("AUTOFOCUS_ZABER_STORE", str(tmp_path / "zaber-store"))
    monkeypatch.setenv("AUTOFOCUS_ZABER_DEVICE_DB", "offline")
    device = SimZaberDevice(SimStage(VirtualClock(), StageSpec(), 9_000.0), time_scale=0.05, homed=True)
    with ExitStack() as stack:
        server = stack.enter_context(ZaberDeviceServer(device, "tcp"))
        stage, close = open_zaber_stage(server.url)
        stack.callback(close)
        hi = stage.limits_um[1]
        yield Rig(stage, None, (9_010.0, 8_995.5), hi + 5_000.0, tolerance_um=device.spec.native_unit_um)


@contextmanager
def micromanager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    pytest.importorskip("pymmcore_plus")
    from autofocus.devices.micromanager import MMCamera, MMStage
    from autofocus.micromanager import AutofocusCore
    from autofocus.sim.mmdevices import SimulatedSlide, load_simulated_devices

    core = AutofocusCore(mm_path=str(tmp_path))  # any folder: no Micro-Manager install needed
    load_simulated_devices(core, SimulatedSlide(small_sim(start_um=START_UM)))
    try:
        # Micro-Manager reports no travel limits: the device's own limit refuses the move.
        yield Rig(MMStage(core), MMCamera(core), (START_UM + 5.0, START_UM - 7.5), -1e9)
    finally:
        core.unloadAllDevices()


@contextmanager
def pymicroscope(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    pytest.importorskip("microscope")
    pytest.importorskip("Pyro4")
    from autofocus.devices.pymicroscope import open_pymicroscope
    from autofocus.sim.pymicroscope_devices import simulated_devices

    devices = simulated_devices(start_um=START_UM, true_focus_um=START_UM + 12.3)
    try:
        with open_pymicroscope(devices["FocusStage"], devices["Camera"]) as scope:
            hi = scope.stage.limits_um[1]
            yield Rig(scope.stage, scope.camera, (START_UM + 5.0, START_UM - 7.5), hi + 1_000.0,
                      tolerance_um=0.1)
    finally:
        for device in devices.values():
            device.shutdown()


STAGES: dict[str, Opener] = {
    "simulator": simulator, "replay": replay, "zaber": zaber, "micromanager": micromanager,
    "pymicroscope": pymicroscope,
}
CAMERAS: dict[str, Opener] = {
    "simulator": simulator, "replay": replay, "micromanager": micromanager, "pymicroscope": pymicroscope,
}


@pytest.fixture(params=sorted(STAGES))
def stage_rig(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Rig]:
    with STAGES[request.param](tmp_path, monkeypatch) as rig:
        yield rig


@pytest.fixture(params=sorted(CAMERAS))
def camera_rig(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Rig]:
    with CAMERAS[request.param](tmp_path, monkeypatch) as rig:
        yield rig


class TestStageContract:
    def test_is_a_stage_with_ordered_limits_and_a_position_inside(self, stage_rig: Rig) -> None:
        stage = stage_rig.stage
        assert isinstance(stage, Stage)
        lo, hi = stage.limits_um
        assert lo < hi
        assert lo <= stage.position_um() <= hi

    def test_a_move_has_finished_when_it_returns(self, stage_rig: Rig) -> None:
        stage = stage_rig.stage
        assert stage is not None
        for target in stage_rig.inside_um:
            stage.move_to_um(target)
            assert stage.position_um() == pytest.approx(target, abs=stage_rig.tolerance_um)

    def test_a_move_beyond_the_travel_is_refused_and_the_stage_stays(self, stage_rig: Rig) -> None:
        stage = stage_rig.stage
        assert stage is not None
        stage.move_to_um(stage_rig.inside_um[0])
        before = stage.position_um()
        with pytest.raises(StageError):  # LimitError where the backend knows its limits
            stage.move_to_um(stage_rig.outside_um)
        assert stage.position_um() == pytest.approx(before, abs=stage_rig.tolerance_um)

    def test_stop_when_idle_is_harmless(self, stage_rig: Rig) -> None:
        stage = stage_rig.stage
        assert stage is not None
        before = stage.position_um()
        stage.stop()
        stage.stop()
        assert stage.position_um() == pytest.approx(before, abs=stage_rig.tolerance_um)


class TestCameraContract:
    def test_is_a_camera_with_an_exposure(self, camera_rig: Rig) -> None:
        camera = camera_rig.camera
        assert isinstance(camera, Camera)
        assert isinstance(camera.exposure_s, float) and camera.exposure_s >= 0.0

    def test_grab_gives_one_grey_frame_of_a_steady_shape_and_depth(self, camera_rig: Rig) -> None:
        camera = camera_rig.camera
        assert camera is not None
        first, second = camera.grab(), camera.grab()
        assert isinstance(first, np.ndarray) and first.ndim == 2 and first.size > 0
        assert first.dtype in (np.uint8, np.uint16, np.float32, np.float64)
        assert (second.shape, second.dtype) == (first.shape, first.dtype)

    def test_a_frame_is_not_overwritten_by_the_next_grab(self, camera_rig: Rig) -> None:
        camera = camera_rig.camera
        assert camera is not None
        frame = camera.grab()
        kept = frame.copy()
        if camera_rig.stage is not None:
            camera_rig.stage.move_to_um(camera_rig.inside_um[1])  # a different scene next
        camera.grab()
        assert np.array_equal(frame, kept)
