from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import run_cli as run

from autofocus import cli, connect
from autofocus.sim import SimConfig, SimulatedMicroscope
from autofocus.sim.camera import CameraSpec
from autofocus.sim.slide import SlideSpec

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
        ["9.9", "10.1", "0.005", "sim", "--regions", "1x1"],  # one region shows no tilt
        ["9.9", "10.1", "0.005", "sim", "--regions", "abc"],
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


# --regions: the field's tilt from the frames of the main command's own search.

DOF_UM = SimulatedMicroscope(SimConfig()).depth_of_field_um()
TILT_SEARCH = ["9.9", "10.1", "0.005", "sim", "--sim-specimen", "stained-tissue", *SMALL]


@pytest.fixture
def field_tilt(monkeypatch: pytest.MonkeyPatch) -> Callable[[float, float], None]:
    """Give the simulator's field a tilt (um across the width, down the height), on 256x256 frames."""

    def tilt(x_um: float, y_um: float) -> None:
        real = cli.sim_config

        def tilted(*args: object, **kwargs: object) -> SimConfig:
            config = real(*args, **kwargs)  # type: ignore[arg-type]
            return dataclasses.replace(config, camera=CameraSpec(width=256, height=256),
                                       slide=SlideSpec(field_tilt_x_um=x_um, field_tilt_y_um=y_um))

        monkeypatch.setattr(cli, "sim_config", tilted)

    return tilt


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[connect.Connection]:
    """Each connection the main command opens."""
    seen: list[connect.Connection] = []
    real_open = cli.open_microscope

    def recording_open(port: str, options: connect.ConnectOptions, **kwargs: object) -> connect.Connection:
        seen.append(real_open(port, options, **kwargs))  # type: ignore[arg-type]
        return seen[-1]

    monkeypatch.setattr(cli, "open_microscope", recording_open)
    return seen


@pytest.mark.timeout(120)
def test_regions_measure_a_tilted_field_from_the_same_frames_and_warn(
    capsys: pytest.CaptureFixture[str], field_tilt: Callable[[float, float], None], tmp_path: Path
) -> None:
    total = 2 * DOF_UM  # 60 % along x, 40 % along y: corner to corner it adds up to the total
    field_tilt(0.6 * total, 0.4 * total)
    code, out, err = run(capsys, *TILT_SEARCH, "--regions", "3x3", "--json",
                         "--show-images", "--images-dir", str(tmp_path))
    assert code == 0, err
    result = json.loads(out)
    tilt = result["field_tilt"]
    assert tilt["grid"] == [3, 3] and len(tilt["regions"]) == 9
    assert tilt["span_um"] == pytest.approx(total, rel=0.2)
    assert tilt["tilt_x_um"] == pytest.approx(0.6 * total, rel=0.25)
    assert 0 < tilt["direction_deg"] < 90  # focus rises right and down
    assert tilt["dof_um"] == pytest.approx(DOF_UM)  # the run's own depth of field
    assert "more than the depth of field" in tilt["warning"]
    # Both frame hooks saw every frame of the one search: the step images are all there.
    assert len(list(tmp_path.glob("step_*.png"))) == result["frames"]
    code, out, _ = run(capsys, *TILT_SEARCH, "--regions", "3x3")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("focused at") and lines[2].startswith("field tilt: ")
    assert lines[3].startswith("warning: focus varies")


@pytest.mark.timeout(120)
def test_regions_on_a_flat_field_report_no_tilt_and_no_warning_and_take_no_extra_frames(
    capsys: pytest.CaptureFixture[str], field_tilt: Callable[[float, float], None]
) -> None:
    field_tilt(0.0, 0.0)
    code, out, _ = run(capsys, *TILT_SEARCH, "--json")
    assert code == 0
    without = json.loads(out)
    code, out, _ = run(capsys, *TILT_SEARCH, "--json", "--regions", "2x3")
    assert code == 0
    with_regions = json.loads(out)
    assert with_regions["frames"] == without["frames"]
    assert with_regions["field_tilt"]["span_um"] < DOF_UM / 4
    assert with_regions["field_tilt"]["warning"] == ""
    code, out, _ = run(capsys, *TILT_SEARCH, "--regions", "3x3")
    assert code == 0
    assert "field tilt: " in out and "warning" not in out


def test_regions_without_focus_are_not_measured_and_keep_exit_1(
    capsys: pytest.CaptureFixture[str], field_tilt: Callable[[float, float], None]
) -> None:
    field_tilt(0.0, 0.0)
    code, out, _ = run(capsys, "9.9", "10.1", "0.01", "sim", "--sim-specimen", "empty", "--regions", "3x3")
    assert code == 1
    assert "focus not found" in out.splitlines()[0]
    assert "field tilt: not measured (focus not found)" in out
    code, out, _ = run(capsys, "9.9", "10.1", "0.01", "sim", "--sim-specimen", "empty", "--regions", "3x3",
                       "--json")
    assert code == 1
    assert json.loads(out)["field_tilt"]["span_um"] is None


def test_a_grid_too_fine_for_the_frames_is_refused_before_the_stage_moves(
    capsys: pytest.CaptureFixture[str], field_tilt: Callable[[float, float], None],
    opened: list[connect.Connection]
) -> None:
    field_tilt(0.0, 0.0)  # 256x256 frames: 40x40 regions need 320x320
    code, out, err = run(capsys, *TILT_SEARCH, "--regions", "40x40")
    assert code == 2, out + err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("autofocus: error: a 40x40 grid of regions"), err
    [connection] = opened
    assert connection.simulator is not None
    assert connection.simulator.stage.moves == 0
    assert connection.microscope.stage.position_um() == connection.simulator.config.start_um


def test_a_grid_too_fine_is_refused_before_an_unhomed_zaber_axis_homes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("zaber_motion")
    from autofocus.clock import VirtualClock
    from autofocus.sim.stage import SimStage, StageSpec
    from autofocus.sim.zaber_protocol import SimZaberDevice
    from autofocus.sim.zaber_server import ZaberDeviceServer

    monkeypatch.setenv("AUTOFOCUS_ZABER_STORE", str(tmp_path / "zaber-store"))
    monkeypatch.setenv("AUTOFOCUS_ZABER_DEVICE_DB", "offline")
    monkeypatch.setattr(connect, "SimulatedMicroscope", lambda config: SimulatedMicroscope(
        dataclasses.replace(config, camera=CameraSpec(width=128, height=128))))
    server = ZaberDeviceServer(SimZaberDevice(SimStage(VirtualClock(), StageSpec(), 9_000.0), None, 0.05,
                                              False), "tcp").start()
    try:
        code = cli.run_cli(["9.9", "10.1", "0.01", server.url, "--camera", "sim", "--regions", "20x20"])
        err = capsys.readouterr().err
        assert code == 2, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "grid of regions" in lines[0], err
        assert not server.device.homed and server.device.moves_accepted == 0
        assert server.device.position_um() == 9_000.0
    finally:
        server.stop()


def test_a_tilt_without_a_depth_of_field_says_why_there_is_no_warning() -> None:
    from autofocus.cli_tilt import describe
    from autofocus.fieldtilt import FieldTilt

    tilt = FieldTilt((3, 3), (), 9.0, 0.0, 9.0, 0.0, None, "")
    assert describe(tilt).splitlines()[1].startswith("(depth of field unknown: --dof-um gives it")
    assert describe(FieldTilt((3, 3), (), 9.0, 0.0, 9.0, 0.0, 1.0, "w")) == "\n".join(
        [describe(tilt).splitlines()[0], "warning: w"])
