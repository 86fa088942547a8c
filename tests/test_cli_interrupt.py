"""Real signals against the command line in a subprocess, driving the real Zaber Motion Library
against our simulated controller over TCP: SIGINT and SIGTERM during homing, during a long move
and during a search each end with the stage stopped and back at its start, one line on stderr
naming where it is, and exit 130 or 143; a second Ctrl-C during the return does not abandon it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("zaber_motion")

import autofocus
from autofocus.clock import VirtualClock
from autofocus.sim.stage import SimStage, StageSpec
from autofocus.sim.zaber_protocol import SimZaberDevice
from autofocus.sim.zaber_server import ZaberDeviceServer

SRC = Path(autofocus.__file__).resolve().parents[1]  # the package under test, also in the child
# The same optics on a 256x256 sensor, as tests/test_cli_zaber.py does in process.
SMALL_CAMERA_MAIN = """
import dataclasses, sys
from autofocus import connect
from autofocus.sim import SimulatedMicroscope
from autofocus.sim.camera import CameraSpec
def small(config):
    return SimulatedMicroscope(dataclasses.replace(config, camera=CameraSpec(width=256, height=256)))
connect.SimulatedMicroscope = small
from autofocus.cli import main
main(sys.argv[1:])
"""
WAIT_S = 60.0


class Run:
    """The CLI in a subprocess, its output collected as it comes."""

    def __init__(self, args: list[str], store: Path) -> None:
        env = dict(os.environ, PYTHONPATH=str(SRC), PYTHONUNBUFFERED="1",
                   AUTOFOCUS_ZABER_STORE=str(store), AUTOFOCUS_ZABER_DEVICE_DB="offline")
        self.process = subprocess.Popen([sys.executable, "-c", SMALL_CAMERA_MAIN, *args], env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.out: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.out.append(line)

    def send(self, signum: int) -> None:
        self.process.send_signal(signum)

    def finish(self) -> tuple[int, str]:
        try:
            self.process.wait(timeout=WAIT_S)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5)
        assert self.process.stderr is not None
        return self.process.returncode, self.process.stderr.read()


@pytest.fixture
def controller() -> Iterator[Callable[..., ZaberDeviceServer]]:
    servers: list[ZaberDeviceServer] = []

    def start(start_um: float, homed: bool) -> ZaberDeviceServer:
        # Real time (time scale 1): homing from 9 mm takes 1.8 s, a 19 mm move 3.8 s.
        stage = SimStage(VirtualClock(), StageSpec(), start_um)
        server = ZaberDeviceServer(SimZaberDevice(stage, None, 1.0, homed), "tcp")
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


def wait_for(condition: Callable[[], bool], what: str, run: Run) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if run.process.poll() is not None:
            pytest.fail(f"the run ended before {what}: {run.finish()} {''.join(run.out)}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def assert_back_and_still(device: SimZaberDevice, start_um: float) -> None:
    assert not device.is_busy()
    assert device.position_um() == pytest.approx(start_um, abs=0.5)
    time.sleep(0.2)  # nothing left moving it after the process exited
    assert not device.is_busy() and device.position_um() == pytest.approx(start_um, abs=0.5)


def check_exit(code: int, err: str, signum: int, start_um: float) -> None:
    assert code == 128 + signum, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"autofocus: interrupted ({signal.Signals(signum).name})"), err
    assert "returned" in lines[0] and f"{start_um / 1000:.6f} mm" in lines[0], err
    assert "could not" not in lines[0], err


SIGNALS = [signal.SIGINT, signal.SIGTERM]
IDS = ["SIGINT", "SIGTERM"]


@pytest.mark.parametrize("signum", SIGNALS, ids=IDS)
def test_signal_during_homing_stops_and_returns_the_stage(
    controller: Callable[..., ZaberDeviceServer], tmp_path: Path, signum: int
) -> None:
    server = controller(start_um=9_000.0, homed=False)
    device = server.device
    run = Run(["9.9", "10.1", "0.01", server.url, "--camera", "sim"], tmp_path)
    wait_for(lambda: device.is_busy() and device.position_um() < 8_000.0, "homing", run)
    run.send(signum)
    code, err = run.finish()
    check_exit(code, err, signum, 9_000.0)
    assert "homing stopped" in err
    assert not device.homed
    assert_back_and_still(device, 9_000.0)


@pytest.mark.parametrize("signum", SIGNALS, ids=IDS)
def test_signal_during_a_long_move_stops_and_returns_the_stage(
    controller: Callable[..., ZaberDeviceServer], tmp_path: Path, signum: int
) -> None:
    server = controller(start_um=1_000.0, homed=True)
    device = server.device
    run = Run(["20.0", "20.2", "0.01", server.url, "--camera", "sim"], tmp_path)
    wait_for(lambda: device.is_busy() and device.position_um() > 3_000.0, "the long move", run)
    run.send(signum)
    code, err = run.finish()
    check_exit(code, err, signum, 1_000.0)
    assert_back_and_still(device, 1_000.0)


@pytest.mark.parametrize("signum", SIGNALS, ids=IDS)
def test_signal_during_a_search_stops_and_returns_the_stage(
    controller: Callable[..., ZaberDeviceServer], tmp_path: Path, signum: int
) -> None:
    server = controller(start_um=9_800.0, homed=True)
    device = server.device
    run = Run(["9.96", "10.06", "0.01", server.url, "--camera", "sim", "--verbose",
               "--strategy", "sweep"], tmp_path)
    wait_for(lambda: sum(line.startswith("step ") for line in run.out) >= 3, "three frames", run)
    run.send(signum)
    code, err = run.finish()
    check_exit(code, err, signum, 9_800.0)
    assert_back_and_still(device, 9_800.0)


def test_a_second_ctrl_c_during_the_return_does_not_abandon_it(
    controller: Callable[..., ZaberDeviceServer], tmp_path: Path
) -> None:
    server = controller(start_um=1_000.0, homed=True)
    device = server.device
    run = Run(["20.0", "20.2", "0.01", server.url, "--camera", "sim"], tmp_path)
    wait_for(lambda: device.is_busy() and device.position_um() > 8_000.0, "the long move", run)
    moves = device.moves_accepted
    run.send(signal.SIGINT)
    # The return is a new move back down; interrupt it half way.
    wait_for(lambda: device.moves_accepted > moves and device.is_busy()
             and device.position_um() < 6_000.0, "the return", run)
    run.send(signal.SIGINT)
    run.send(signal.SIGINT)
    code, err = run.finish()
    check_exit(code, err, signal.SIGINT, 1_000.0)
    assert_back_and_still(device, 1_000.0)
