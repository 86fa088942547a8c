"""Output that fails mid-run (a reader that closes the pipe, a full disk) is an output failure:
one line on stderr, exit 4, and the stage handled as on any other failure (returned to its
start, or left at the answer once focus was found). Real pipes and /dev/full, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import autofocus

SRC = Path(autofocus.__file__).resolve().parents[1]
SMALL_MAIN = """
import dataclasses, sys
from autofocus import connect
from autofocus.sim import SimulatedMicroscope
from autofocus.sim.camera import CameraSpec
def small(config):
    return SimulatedMicroscope(dataclasses.replace(config, camera=CameraSpec(width=128, height=128)))
connect.SimulatedMicroscope = small
from autofocus.cli import main
main(sys.argv[1:])
"""
SWEEP = ["9.95", "10.05", "0.01", "sim", "--strategy", "sweep"]


def start(args: list[str], stdout: object) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    return subprocess.Popen([sys.executable, "-c", SMALL_MAIN, *args], env=env, text=True,
                            stdout=stdout, stderr=subprocess.PIPE)  # type: ignore[arg-type]


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "Exception ignored" not in err
    return lines[0]


def test_a_reader_that_closes_the_pipe_returns_the_stage() -> None:
    # autofocus ... --verbose | head -2
    process = start([*SWEEP, "--verbose"], subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    first = [process.stdout.readline() for _ in range(2)]
    assert first[1].startswith("step 1:"), first
    process.stdout.close()
    process.wait(timeout=120)
    line = one_line(process.stderr.read())
    assert process.returncode == 4, line
    assert "cannot write to standard output" in line
    assert "stage returned to its start position 9.000000 mm" in line


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize(
    ("extra", "stage"),
    [(["--json"], "stage at the focus found (10.0"),  # the search had finished: it stays there
     (["--verbose"], "stage returned to its start position 9.000000 mm")],
)
def test_a_full_disk_on_stdout_is_one_line_and_exit_4(extra: list[str], stage: str) -> None:
    with open("/dev/full", "w") as full:
        process = start([*SWEEP, *extra], full)
        _, err = process.communicate(timeout=120)
    line = one_line(err)
    assert process.returncode == 4, line
    assert "No space left on device" in line and stage in line
