"""End to end: the command line, the real Zaber Motion Library, our simulated Zaber controller
over TCP and a pseudo-terminal, and a simulated camera rendering at the stage's position."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import run_cli as run

pytest.importorskip("zaber_motion")

from tests.devices.test_zaber import Serve, free_port, serve, zaber_env

from autofocus import connect
from autofocus.sim import DEFAULT_TRUE_FOCUS_UM, SimConfig, SimulatedMicroscope
from autofocus.sim.camera import CameraSpec
from autofocus.sim.zaber_protocol import ZaberFault

__all__ = ["serve", "zaber_env"]  # fixtures shared with the backend's tests

STEP_MM = 0.01
TUTORIAL_OPTIONS = ["--camera", "sim", "--verbose", "--blur", "5"]
FOCUSED = re.compile(r"^focused at (?P<mm>[\d.]+) mm", re.MULTILINE)


@pytest.fixture(autouse=True)
def small_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same optics on a 256x256 sensor: the whole run takes about a second."""

    def small(config: SimConfig) -> SimulatedMicroscope:
        return SimulatedMicroscope(dataclasses.replace(config, camera=CameraSpec(width=256, height=256)))

    monkeypatch.setattr(connect, "SimulatedMicroscope", small)


def focus_range() -> list[str]:
    """Five steps either side of the simulator's true focus."""
    centre = round(DEFAULT_TRUE_FOCUS_UM / 1000, 2)
    return [f"{centre - 5 * STEP_MM:.3f}", f"{centre + 5 * STEP_MM:.3f}", str(STEP_MM)]




@pytest.mark.parametrize(
    ("transport", "extra"),
    [("tcp", []), ("pty", []), ("tcp", ["--strategy", "continuous"])],  # the last streams frames
    ids=["tcp", "pty", "tcp-continuous"],
)
def test_autofocus_through_zaber_motion_finds_the_true_focus(
    serve: Serve, capsys: pytest.CaptureFixture[str], transport: str, extra: list[str]
) -> None:
    server = serve(transport)
    code, out, err = run(capsys, *focus_range(), server.url, *TUTORIAL_OPTIONS, *extra)
    assert code == 0, out + err
    assert "step 1: position" in out  # the tutorial's --verbose lines
    found = FOCUSED.search(out)
    assert found, out
    assert abs(float(found["mm"]) * 1000 - DEFAULT_TRUE_FOCUS_UM) <= STEP_MM * 1000
    assert server.device.homed and not server.device.is_busy()
    assert server.device.position_um() == pytest.approx(float(found["mm"]) * 1000, abs=0.1)


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("stall", "Stalled and Stopped (FS)"),
        ("reject", "rejected (DRIVERDISABLED)"),
        ("silence", "no answer during the move"),
        ("disconnect", "connection was lost during the move"),
    ],
)
def test_each_fault_is_exit_3_one_clear_line_and_a_stopped_stage(
    serve: Serve, capsys: pytest.CaptureFixture[str], fault: str, message: str
) -> None:
    server = serve(homed=True)
    server.device.inject(ZaberFault(fault, after_moves=3))
    code, _out, err = run(capsys, *focus_range(), server.url, *TUTORIAL_OPTIONS)
    assert code == 3
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("autofocus: Zaber stage: "), err
    assert message in lines[0]
    assert "Traceback" not in err
    resting = server.device.position_um()
    time.sleep(0.05)
    assert not server.device.is_busy() and server.device.position_um() == resting


@pytest.mark.parametrize("port", ["/dev/ttyUSB_no_such_port", "refused"])
def test_wrong_port_or_refused_connection_is_one_line_exit_3(
    capsys: pytest.CaptureFixture[str], port: str
) -> None:
    if port == "refused":
        port = f"tcp://127.0.0.1:{free_port()}"
    code, out, err = run(capsys, *focus_range(), port, *TUTORIAL_OPTIONS)
    assert code == 3
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert port in lines[0] and ("port name" in lines[0] or "refused" in lines[0])
    assert "Traceback" not in err + out


def test_serve_zaber_for_trying_it_by_hand(tmp_path: Path) -> None:
    from zaber_motion.ascii import Connection

    command = [sys.executable, "-c", "from autofocus.cli import main; main()",
               "serve-zaber", "--device", "2", "--time-scale", "0.05", "--duration-s", "30"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as server:
        try:
            assert server.stdout is not None
            banner = server.stdout.readline()
            url = re.search(r"on (tcp://127\.0\.0\.1:(\d+))", banner)
            assert url, banner
            with Connection.open_tcp("127.0.0.1", int(url[2])) as connection:
                axis = connection.get_device(2).get_axis(1)
                assert not axis.is_homed()
                axis.home()
                assert axis.get_position() == 0
        finally:
            server.terminate()
            server.wait(timeout=10)
