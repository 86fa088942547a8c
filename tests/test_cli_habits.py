"""Command-line habits a new user brings (issue 14): --version, -h, help, negative positions,
no arguments, --json on errors, PORT sim with a real camera, --sim-start-mm, serve-zaber's port line."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import run_cli as run

from autofocus import __version__, cli

SRC = Path(__file__).resolve().parents[1] / "src"




def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--version") == (0, f"autofocus {__version__}\n", "")


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["help"]])
def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    code, out, _ = run(capsys, *args)
    assert code == 0
    assert "START_MM" in out
    for name in cli.subcommand_names():
        assert f"\n  {name} " in out
    assert {"stack", "score", "serve-zaber", "demo"} <= set(cli.subcommand_names())


def test_help_command_and_short_help_on_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "help", "stack")
    assert code == 0 and "autofocus stack" in out
    code, out, _ = run(capsys, "stack", "-h")
    assert code == 0 and "autofocus stack" in out


def test_no_arguments_is_help_on_stderr_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys)
    assert (code, out) == (2, "")
    assert "START_MM" in err and "serve-zaber" in err


def test_negative_positions_need_no_double_dash(capsys: pytest.CaptureFixture[str]) -> None:
    """-0.06 is read as a position, not as an unknown option (the simulated stage's travel starts
    at 0, so the search runs on 0..0.06 mm and ends at that edge: focus not found, exit 1)."""
    code, out, err = run(capsys, "-0.06", "0.06", "0.005", "sim", "--sim-focus-mm", "-0.01",
                         "--sim-start-mm", "0", "--json")
    assert code == 1, err
    assert json.loads(out)["sim_true_focus_mm"] == -0.01


def test_json_on_a_hardware_error_prints_an_error_object(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "9.9", "10.1", "0.005", "sim", "--sim-fault", "stage-stall", "--json")
    assert code == 3
    data = json.loads(out)
    assert data["status"] == "error" and "stall" in data["reason"]
    assert "start position" in data["stage"]
    assert err.count("\n") == 1


def test_json_on_bad_input_says_nothing_moved(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "10.1", "9.9", "0.005", "sim", "--json")
    assert code == 2
    assert json.loads(out) == {"status": "error", "reason": json.loads(out)["reason"],
                               "stage": "nothing moved", "exit_code": 2, "final_position_mm": None}


@pytest.mark.parametrize("camera", ["opencv:0", "opencv:/dev/video0", "genicam:/no/such.cti", "spinnaker"])
def test_port_sim_with_a_live_camera_is_refused(capsys: pytest.CaptureFixture[str], camera: str) -> None:
    code, out, err = run(capsys, "9.9", "10.1", "0.005", "sim", "--camera", camera)  # default search
    assert code == 2 and out == ""
    assert "PORT sim" in err and "--camera sim" in err


def test_sim_start_mm_lets_brent_be_tried(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "9.98", "10.05", "0.002", "sim", "--strategy", "brent",
                         "--sim-start-mm", "10.01", "--json")
    assert code == 0, err
    assert abs(json.loads(out)["sim_error_um"]) < 2.0


def test_serve_zaber_shows_its_port_line_when_redirected() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env["PYTHONPATH"] = str(SRC)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from autofocus.cli import main; main()", "serve-zaber", "--duration-s", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        # Without a flush the line is held in the pipe's buffer until the server ends (60 s);
        # with it, it comes at start-up. 30 s is a hang guard, far from either.
        ready, _, _ = select.select([proc.stdout], [], [], 30.0)
        assert ready, "no port line while the server runs: its output is not flushed"
        assert "tcp://127.0.0.1:" in proc.stdout.readline()
    finally:
        proc.kill()
        proc.wait()
