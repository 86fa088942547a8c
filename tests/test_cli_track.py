"""``autofocus track`` on the simulator: the log written, the summary and JSON printed, bad input
refused in one line before anything opens, an interruption that says where it stopped and keeps
the log so far."""

from __future__ import annotations

import csv
import dataclasses
import json
import signal
from pathlib import Path

import pytest
from tests.conftest import run_cli as run

from autofocus import connect
from autofocus.clock import VirtualClock
from autofocus.interrupt import Interrupted
from autofocus.sim import SimConfig, SimulatedMicroscope
from autofocus.sim.camera import CameraSpec
from autofocus.track import LOG_COLUMNS

RANGE = ["9.95", "10.08", "0.002", "sim"]


@pytest.fixture(autouse=True)
def small_camera(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same optics on a 256x256 sensor: the command line's run, less rendering."""
    def small(config: SimConfig) -> SimulatedMicroscope:
        return SimulatedMicroscope(dataclasses.replace(config, camera=CameraSpec(width=256, height=256)))

    monkeypatch.setattr(connect, "SimulatedMicroscope", small)




def test_track_writes_the_csv_log_and_a_summary(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    log = tmp_path / "track.csv"
    code, out, err = run(capsys, "track", *RANGE, "--every", "300", "--for", "3600",
                         "--log", str(log))
    assert code == 0, err
    with log.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(LOG_COLUMNS)
    assert [int(r["time_point"]) for r in rows] == list(range(12))
    assert rows[0]["method"] == "search" and rows[1]["method"] == "track"
    # The default simulated drift has two 10 um bumps (at a third and two thirds of the run).
    assert sum(r["jump"] == "True" for r in rows) == 2
    dof = 3.87
    assert all(abs(float(r["error_um"])) <= dof / 4 for r in rows)
    lines = out.splitlines()
    assert len(lines) == 12 + 2 and lines[1].startswith("t 0:05:00: z 10.01")
    assert "12 time points x 1 position(s)" in lines[-2] and lines[-1].startswith("simulator: error rms")


def test_track_json_prints_the_log(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    log = tmp_path / "track.json"
    code, out, err = run(capsys, "track", *RANGE, "--every", "600", "--for", "1800", "--json",
                         "--sim-drift", "thermal,motion", "--log", str(log))
    assert code == 0, err
    data = json.loads(out)
    assert len(data["rows"]) == 3 and data["summary"]["jumps"] == 0
    assert "thermal" in data["sim_drift"] and "steps" not in data["sim_drift"]
    assert json.loads(log.read_text())["rows"] == data["rows"]




@pytest.mark.parametrize("extra", [
    ["--every", "0", "--for", "600"],
    ["--every", "300", "--for", "-1"],
    ["--every", "300"],                                           # no --for
    ["--every", "300", "--for", "600", "--log", "track.txt"],
    ["--every", "300", "--for", "600", "--sim-drift", "earthquake"],
    ["--every", "300", "--for", "600", "--position", "1,2,3"],
    ["--every", "300", "--for", "600", "--position", "1,2", "--points", "p.csv"],
    ["--every", "300", "--for", "600", "--position", "1,2", "--region", "5,5,6,6"],
    ["--every", "300", "--for", "600", "--strategy", "guess"],
    ["--every", "300", "--for", "600", "--sim-slide", "bumpy"],
    ["--every", "300", "--for", "600", "--sim-specimen", "cheese"],
    ["--every", "abc", "--for", "600"],
])
def test_bad_track_input_exits_2_before_anything_opens(capsys: pytest.CaptureFixture[str],
                                                       no_devices: list[str], extra: list[str]) -> None:
    code, out, err = run(capsys, "track", *RANGE, *extra)
    assert code == 2, err
    assert err.startswith("autofocus: error:") and err.count("\n") == 1
    assert no_devices == [] and out == ""


def test_a_log_that_cannot_be_written_is_refused_before_anything_opens(
        capsys: pytest.CaptureFixture[str], no_devices: list[str], tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where the log's folder would be")
    code, out, err = run(capsys, "track", *RANGE, "--every", "300", "--for", "600",
                         "--log", str(tmp_path / "blocker" / "track.csv"))
    assert code == 2, err
    assert "--log" in err and "is a file, not a folder" in err and err.count("\n") == 1
    assert no_devices == [] and out == ""


def test_interrupted_between_time_points(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    sleep = VirtualClock.sleep

    def wait(clock: VirtualClock, seconds: float) -> None:
        if seconds > 60 and clock.now() > 250:  # the wait before the third time point
            raise Interrupted(signal.SIGINT)
        sleep(clock, seconds)

    monkeypatch.setattr(VirtualClock, "sleep", wait)
    log = tmp_path / "track.csv"
    code, _, err = run(capsys, "track", *RANGE, "--every", "300", "--for", "3600", "--log", str(log))
    assert code == 130
    assert err.count("\n") == 1 and "interrupted (SIGINT)" in err
    assert "stopped before time point 3, the stage at its last focus (10.01" in err
    with log.open() as handle:
        assert len(list(csv.DictReader(handle))) == 2  # the rows so far are kept
