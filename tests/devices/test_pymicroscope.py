"""python-microscope adapters: local device objects, then the real device-server over Pyro."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("microscope")
pytest.importorskip("Pyro4")

import microscope
import microscope.abc
from microscope.simulators import SimulatedStage

from autofocus.devices.pymicroscope import (
    PyMicroscopeCamera,
    PyMicroscopeStage,
    connect,
    open_pymicroscope,
)
from autofocus.errors import CameraError, InputError, LimitError, StageError
from autofocus.runner import AutofocusSettings, run_autofocus
from autofocus.sim.pymicroscope_devices import (
    SimulatedFocusStage,
    SimulatedPMCamera,
    simulated_devices,
)

START_UM = 10_000.0
FOCUS_UM = 10_012.3
SERVER_START_S = 30.0
SERVER_STOP_S = 20.0


@pytest.fixture
def devices() -> Iterator[dict[str, Any]]:
    made = simulated_devices(start_um=START_UM, true_focus_um=FOCUS_UM)
    yield made
    for device in made.values():
        device.shutdown()


def settings() -> AutofocusSettings:
    return AutofocusSettings(9_990.0, 10_040.0, 1.0)


def test_stage_adapter_reads_and_moves_the_axis(devices: dict[str, Any]) -> None:
    stage = PyMicroscopeStage(devices["FocusStage"])
    assert stage.axis == "z"
    assert stage.limits_um == (0.0, 25_000.0)
    assert stage.position_um() == pytest.approx(START_UM)
    stage.move_to_um(10_003.25)
    assert devices["FocusStage"].position["z"] == pytest.approx(10_003.25)


def test_device_units_are_converted() -> None:
    mm_stage = SimulatedStage({"Z": microscope.AxisLimits(0.0, 25.0)})  # a stage counting in mm
    stage = PyMicroscopeStage(mm_stage, unit_um=1000.0)
    assert stage.limits_um == (0.0, 25_000.0)
    stage.move_to_um(1_500.0)
    assert mm_stage.position["Z"] == pytest.approx(1.5)
    with pytest.raises(InputError):
        PyMicroscopeStage(mm_stage, unit_um=0.0)


def test_axis_selection() -> None:
    xyz = SimulatedStage({name: microscope.AxisLimits(0.0, 100.0) for name in ("X", "Y", "Z")})
    with pytest.raises(InputError, match="say which one"):
        PyMicroscopeStage(xyz)
    with pytest.raises(InputError, match="no axis 'W'"):
        PyMicroscopeStage(xyz, "W")
    assert PyMicroscopeStage(xyz, "Z").axis == "Z"


def test_a_move_that_never_arrives_times_out() -> None:
    stuck = SimulatedStage({"z": microscope.AxisLimits(0.0, 100.0)})
    stuck.axes["z"].move_to = lambda pos: None  # type: ignore[method-assign]  # a stalled motor
    stage = PyMicroscopeStage(stuck, timeout_s=0.1)
    with pytest.raises(StageError, match="did not reach"):
        stage.move_to_um(10.0)


def test_camera_adapter_enables_and_grabs(devices: dict[str, Any]) -> None:
    device = devices["Camera"]
    camera = PyMicroscopeCamera(device)
    assert not device.get_is_enabled()
    frame = camera.grab()
    assert device.get_is_enabled()
    assert frame.shape == (256, 256)
    assert frame.dtype == np.uint8
    assert camera.exposure_s == pytest.approx(device.get_exposure_time())


def test_camera_that_delivers_nothing_times_out(devices: dict[str, Any]) -> None:
    device = devices["Camera"]
    device._do_trigger = lambda: None  # triggers are lost
    with pytest.raises(CameraError, match="no frame"):
        PyMicroscopeCamera(device, timeout_s=0.2).grab()


def test_camera_fetch_errors_become_camera_errors(devices: dict[str, Any]) -> None:
    device = devices["Camera"]

    def broken() -> None:
        raise microscope.DeviceError("sensor overheated")

    device._camera.grab = broken  # the next fetch fails inside python-microscope's thread
    with pytest.raises(CameraError, match="failed to acquire"):
        PyMicroscopeCamera(device, timeout_s=2.0).grab()


def test_local_devices_autofocus(devices: dict[str, Any]) -> None:
    with open_pymicroscope(devices["FocusStage"], devices["Camera"]) as scope:
        result = run_autofocus(scope, settings())
    assert result.focused, result.reason
    assert result.best_z_um is not None and abs(result.best_z_um - FOCUS_UM) <= 1.0
    assert devices["FocusStage"].position["z"] == pytest.approx(result.best_z_um)


def test_simulated_devices_are_python_microscope_devices(devices: dict[str, Any]) -> None:
    assert isinstance(devices["FocusStage"], SimulatedFocusStage)
    assert isinstance(devices["FocusStage"], microscope.abc.Stage)
    assert isinstance(devices["Camera"], SimulatedPMCamera)
    assert isinstance(devices["Camera"], microscope.abc.Camera)
    assert devices["Camera"].get_sensor_shape() == (256, 256)
    devices["FocusStage"].move_by({"z": -1e9})  # python-microscope clips instead of raising
    assert devices["FocusStage"].position["z"] == 0.0


# --- the device-server ---------------------------------------------------------------------------

SERVING = re.compile(r"Serving (PYRO:(\w+)@127\.0\.0\.1:\d+)")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, str]]:
    """python-microscope's device-server in a subprocess on 127.0.0.1, port chosen by the OS.

    The server logs the URI of each device it serves; reading them from its log avoids guessing
    a free port. It is always stopped (SIGTERM, then SIGKILL of its process group)."""
    config = tmp_path / "devices.py"
    config.write_text(
        "from microscope.device_server import device\n"
        "from autofocus.sim.pymicroscope_devices import simulated_devices\n"
        "DEVICES = [device(simulated_devices, '127.0.0.1', 0,\n"
        f"                  conf={{'start_um': {START_UM}, 'true_focus_um': {FOCUS_UM}}})]\n"
    )
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "microscope.device_server", "--logging-dir", str(tmp_path), str(config)],
            cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        yield wait_for_uris(server, log, {"FocusStage", "Camera"})
    finally:
        stop(server)
    assert server.returncode == 0, log.read_text()[-3000:]


def wait_for_uris(server: subprocess.Popen[bytes], log: Path, names: set[str]) -> dict[str, str]:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        uris = {m.group(2): m.group(1) for m in SERVING.finditer(log.read_text(errors="replace"))}
        if names <= uris.keys():
            return uris
        if server.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"device-server did not serve {sorted(names)}:\n{log.read_text()[-3000:]}")


def stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)  # the device-server shuts its devices down on SIGTERM
        try:
            server.wait(SERVER_STOP_S)
            return
        except subprocess.TimeoutExpired:
            pass
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(5)


@pytest.mark.timeout(90)
def test_autofocus_through_the_device_server(served: dict[str, str]) -> None:
    with open_pymicroscope(served["FocusStage"], served["Camera"], timeout_s=10.0) as scope:
        assert scope.stage.position_um() == pytest.approx(START_UM)
        result = run_autofocus(scope, settings())
        assert result.focused, result.reason
        assert result.best_z_um is not None and abs(result.best_z_um - FOCUS_UM) <= 1.0
        assert scope.stage.position_um() == pytest.approx(result.best_z_um)
        with pytest.raises(LimitError):
            scope.stage.move_to_um(-5.0)
    remote = connect(served["FocusStage"])
    try:
        assert remote.position["z"] == pytest.approx(result.best_z_um)  # another client agrees
    finally:
        remote._pyroRelease()


def test_xy_axes_move_together_and_refuse_targets_beyond_either_limit() -> None:
    from autofocus.devices.base import XYStage
    from autofocus.devices.pymicroscope import PyMicroscopeXYStage
    from autofocus.errors import LimitError

    xyz = SimulatedStage({name: microscope.AxisLimits(0.0, 100.0) for name in ("x", "y", "z")})
    xy = PyMicroscopeXYStage(xyz, unit_um=1000.0)  # axes counting in mm
    assert isinstance(xy, XYStage)
    assert xy.limits_um == ((0.0, 100_000.0), (0.0, 100_000.0))
    xy.move_to_um(12_500.0, 40_000.0)
    assert xyz.position["x"] == pytest.approx(12.5) and xyz.position["y"] == pytest.approx(40.0)
    assert xy.position_um() == pytest.approx((12_500.0, 40_000.0))
    with pytest.raises(LimitError):
        xy.move_to_um(20_000.0, 100_001.0)
    assert xyz.position["x"] == pytest.approx(12.5)  # nothing moved
