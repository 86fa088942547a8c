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


def recorded_stack(folder: Path) -> Path:
    import tifffile
    from tests.test_stack import focus_stack

    path = folder / "a.tif"
    tifffile.imwrite(path, focus_stack())
    return path


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize(
    ("args", "says"),
    [(["--json"], "cannot write to standard output: No space left on device"),
     ([], "cannot write to standard output: No space left on device"),
     (["--out", "/dev/full"], "cannot write the results to /dev/full: No space left on device")],
    ids=["json", "csv", "out-file"],
)
def test_score_on_a_full_disk_is_one_line_and_exit_4(tmp_path: Path, args: list[str], says: str) -> None:
    stack = recorded_stack(tmp_path)
    with open("/dev/full", "w") as full:
        process = start(["score", str(stack), "--scheduler", "sync", *args], full)
        _, err = process.communicate(timeout=120)
    assert process.returncode == 4, err
    assert says in one_line(err)


@pytest.mark.parametrize("command", ["score", "stack"])
def test_an_output_path_that_cannot_be_written_is_refused_before_scoring(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    from autofocus import cli, cli_recorded

    def never(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("scored before the output path was checked")

    monkeypatch.setattr(cli_recorded, "run_batch", never)
    monkeypatch.setattr(cli_recorded, "find_best_plane", never)
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    out = str(a_file / "results.csv") if command == "score" else str(a_file)
    code = cli.run_cli([command, str(recorded_stack(tmp_path)), "--out", out])
    err = capsys.readouterr().err
    assert code == 2, err
    line = one_line(err)
    assert "--out" in line and ("cannot write there" in line or "is a file" in line), line


def test_step_images_on_a_full_disk_are_one_line_exit_4_and_the_stage_returned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from autofocus import cli, report

    written: list[str] = []

    def full_disk(path: str, image: object) -> bool:
        written.append(path)
        return len(written) < 3  # the third step image finds the disk full; OpenCV says only False

    monkeypatch.setattr(report.cv2, "imwrite", full_disk)
    code = cli.run_cli([*SWEEP, "--show-images", "--images-dir", str(tmp_path / "steps")])
    err = capsys.readouterr().err
    assert code == 4, err
    line = one_line(err)
    assert "cannot write the step image" in line
    assert "stage returned to its start position 9.000000 mm" in line
