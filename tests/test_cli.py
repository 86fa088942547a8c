from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from tests.conftest import run_cli as run

STEP_MM = 0.005
SMALL = ["--sim-seed", "1"]






@pytest.mark.parametrize(
    "args",
    [
        ["10.1", "9.9", "0.005", "sim"],  # start >= end
        ["9.9", "9.9", "0.005", "sim"],
        ["9.9", "10.1", "0", "sim"],  # step <= 0
        ["9.9", "10.1", "-0.005", "sim"],
        ["9.9", "10.1", "0.5", "sim"],  # step larger than the range
        ["nan", "10.1", "0.005", "sim"],
        ["9.9", "inf", "0.005", "sim"],
        ["9.9", "10.1", "abc", "sim"],
        ["9.9", "10.1", "0.005", "sim", "--blur", "4"],  # even
        ["9.9", "10.1", "0.005", "sim", "--blur", "-3"],
        ["9.9", "10.1", "0.005", "sim", "--blur", "999"],
        ["9.9", "10.1", "0.005", "sim", "--metric", "sharpness-please"],
        ["9.9", "10.1", "0.005", "COM"],  # not a port
        ["9.9", "10.1", "0.005", "tcp://nowhere"],
        ["9.9", "10.1", "0.005", "sim", "--strategy", "guess"],
        ["9.9", "10.1", "0.005", "sim", "--sim-specimen", "unicorn"],
        ["9.9", "10.1", "0.005", "sim", "--roi", "1,2,3"],
        ["9.9", "10.1"],  # missing arguments
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_opens(
    capsys: pytest.CaptureFixture[str], no_devices: list[str], args: list[str]
) -> None:
    code, out, err = run(capsys, *args)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("autofocus: error: ")
    assert "Traceback" not in err
    assert no_devices == []


@pytest.mark.parametrize("specimen", ["fluorescent-cells", "stained-tissue"])
@pytest.mark.parametrize("bits", ["8", "16"])
def test_seed_command_on_the_simulator_lands_within_one_step(
    capsys: pytest.CaptureFixture[str], specimen: str, bits: str
) -> None:
    code, out, _ = run(capsys, "9.9", "10.1", str(STEP_MM), "sim", "--json",
                       "--sim-specimen", specimen, "--sim-bits", bits, *SMALL)
    result = json.loads(out)
    assert code == 0
    assert result["status"] == "focused"
    assert abs(result["best_position_mm"] - result["sim_true_focus_mm"]) <= STEP_MM
    assert result["best_z_um"] == pytest.approx(result["best_position_mm"] * 1000)
    for key in ("score", "frames", "hardware_s", "compute_s"):
        assert isinstance(result[key], (int, float))


def test_json_reports_focus_not_found_with_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "9.9", "10.1", "0.01", "sim", "--json", "--sim-specimen", "empty")
    result = json.loads(out)
    assert code == 1
    assert result["status"] == "not_found"
    assert result["best_position_mm"] is None
    assert result["reason"]


@pytest.mark.parametrize(
    ("fault", "stage_state"),
    [
        ("stage-stall", "stage returned to its start position 9.000000 mm"),
        ("stage-limit", "stage returned to its start position 9.000000 mm"),
        ("camera-timeout", "stage returned to its start position 9.000000 mm"),
        ("dropped-frame", "stage returned to its start position 9.000000 mm"),
        # Whichever device the disconnect hits first: the camera (the stage then goes back) or
        # the stage (it is stopped where it is, and the line says so).
        ("disconnect", "stage returned to its start position 9.000000 mm|could not be returned"),
    ],
)
def test_hardware_faults_are_one_line_exit_3_saying_where_the_stage_is(
    capsys: pytest.CaptureFixture[str], fault: str, stage_state: str
) -> None:
    code, _, err = run(capsys, "9.9", "10.1", "0.01", "sim", "--sim-fault", fault)
    assert code == 3
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert re.search(stage_state, err), err


@pytest.mark.parametrize("fault", ["black-frame", "saturated-frame"])
@pytest.mark.parametrize("strategy", ["sweep", "coarse-to-fine"])
def test_blank_frames_are_a_camera_fault_with_the_stage_back(
    capsys: pytest.CaptureFixture[str], fault: str, strategy: str
) -> None:
    # From the second frame on: the first is a real one, so a blank scores as a sharp peak if
    # it ever entered the curve (the sweep answered "focused" 8 to 12 um off, exit 0).
    code, out, err = run(capsys, "9.9", "10.1", "0.01", "sim", "--sim-fault", fault,
                         "--sim-fault-after", "1", "--strategy", strategy)
    assert code == 3, out + err
    assert "focused" not in out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "unusable frames" in lines[0], err
    assert "stage returned to its start position 9.000000 mm" in lines[0]


def test_verbose_prints_each_step_like_the_tutorial(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "9.95", "10.05", "0.01", "sim", "--verbose", "--strategy", "sweep")
    assert code == 0
    steps = [line for line in out.splitlines() if line.startswith("step ")]
    assert len(steps) == 11
    assert "position 9.950000 mm" in steps[0]


def test_blur_without_a_metric_means_the_tutorial_measure(capsys: pytest.CaptureFixture[str]) -> None:
    # 2 um steps: the tutorial's measure has a narrow peak, which 10 um steps sample too sparsely
    # for the search to place (it says so: "sparse"), though the measure is what this checks.
    code, out, _ = run(capsys, "9.99", "10.03", "0.002", "sim", "--json", "--blur", "5")
    assert code == 0, out
    assert json.loads(out)["metric"] == "laplacian"
    code, out, _ = run(capsys, "9.95", "10.05", "0.01", "sim", "--json")
    assert json.loads(out)["metric"] != "laplacian"


def test_show_images_writes_steps_and_an_animation(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, _ = run(capsys, "9.99", "10.03", "0.01", "sim", "--strategy", "sweep", "--show-images",
                     "--images-dir", str(tmp_path), "--plot", str(tmp_path / "curve.png"))
    assert code == 0
    steps = sorted(tmp_path.glob("step_*.png"))
    assert len(steps) == 5
    assert (tmp_path / "sweep.gif").stat().st_size > 0
    assert (tmp_path / "curve.png").stat().st_size > 0


def test_help_names_the_units_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "millimetres" in out
    assert "Exit codes" in out
    assert "4 output failed" in out and "130/143 interrupted" in out


def test_demo_focuses_and_writes_the_plot(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "demo", "--out", str(tmp_path))
    assert code == 0
    assert "focused at" in out
    assert (tmp_path / "focus-curve.png").is_file()
