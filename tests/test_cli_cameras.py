"""End to end through the command line with real camera libraries: the simulated stage moves, and
the frames come from OpenCV (a recorded sweep video), harvesters (viky.cti) or nowhere (no SDK)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import run_cli as run
from tests.conftest import small_sim

from autofocus import cli, connect
from autofocus.devices.opencv import write_video
from autofocus.space import sweep_positions

START_MM, END_MM, STEP_MM = 9.95, 10.07, 0.01
SWEEP_UM = sweep_positions(START_MM * 1000, END_MM * 1000, STEP_MM * 1000)
SWEEP_ARGS = [str(START_MM), str(END_MM), str(STEP_MM), "sim", "--strategy", "sweep"]


def record_sweep_video(path: Path, frames: int) -> Path:
    """What a camera would have seen at the first ``frames`` positions the CLI's sweep visits."""
    sim = small_sim()
    recorded: list[np.ndarray] = []
    for z in SWEEP_UM[:frames]:
        sim.stage.move_to_um(z)
        recorded.append(sim.camera.grab())
    return write_video(path, recorded)


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[tuple[connect.Connection, float]]:
    """Each connection the CLI opens, with its stage position at that moment."""
    seen: list[tuple[connect.Connection, float]] = []
    real_open = cli.open_microscope

    def recording_open(port: str, options: connect.ConnectOptions, **kwargs: object) -> connect.Connection:
        connection = real_open(port, options, **kwargs)  # type: ignore[arg-type]
        seen.append((connection, connection.microscope.stage.position_um()))
        return connection

    monkeypatch.setattr(cli, "open_microscope", recording_open)
    return seen




def test_focuses_on_frames_played_back_from_a_video(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = record_sweep_video(tmp_path / "sweep.mkv", len(SWEEP_UM))
    code, out, err = run(capsys, *SWEEP_ARGS, "--camera", f"opencv:{video}", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["frames"] == len(SWEEP_UM)
    assert abs(result["best_z_um"] - small_sim().true_focus_um) <= STEP_MM * 1000


def test_camera_running_out_of_frames_mid_search_exits_3_with_the_stage_back_at_its_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], opened: list[tuple[connect.Connection, float]]
) -> None:
    video = record_sweep_video(tmp_path / "short.mkv", 5)
    code, out, err = run(capsys, *SWEEP_ARGS, "--camera", f"opencv:{video}")
    assert code == 3
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "the video ended after 5 frames" in err
    assert "stage returned to its start position" in err
    connection, start_um = opened[0]
    assert connection.microscope.stage.position_um() == start_um
    assert start_um not in SWEEP_UM  # it really moved away and came back


def test_missing_spinnaker_sdk_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "PySpin", None)  # as on any machine without FLIR's SDK
    code, out, err = run(capsys, *SWEEP_ARGS, "--camera", "spinnaker")
    assert (code, out) == (2, "")
    assert len(err.strip().splitlines()) == 1
    assert "Spinnaker SDK" in err and "pip install" in err


def test_missing_harvesters_names_the_extra_and_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in ("harvesters", "harvesters.core", "genicam"):
        monkeypatch.setitem(sys.modules, module, None)
    code, out, err = run(capsys, *SWEEP_ARGS, "--camera", "genicam:/some/producer.cti")
    assert (code, out) == (2, "")
    assert "pip install -e '.[genicam]' in the autofocus clone" in err


def test_bad_camera_arguments_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for camera in (f"opencv:{tmp_path / 'missing.mkv'}", "genicam:/no/producer.cti", "spinnaker?x=1"):
        code, _, err = run(capsys, *SWEEP_ARGS, "--camera", camera)
        assert code == 2, camera
        assert len(err.strip().splitlines()) == 1


def test_searches_with_a_genicam_camera(capsys: pytest.CaptureFixture[str]) -> None:
    genicam_wheel = pytest.importorskip("genicam", reason="the genicam extra is not installed")
    pytest.importorskip("harvesters.core", reason="the genicam extra is not installed")
    viky = Path(genicam_wheel.__file__).parent / "viky.cti"
    # viky renders a bouncing ball, not a specimen: focus may or may not be "found", but every
    # frame must have come through harvesters and been scored.
    code, out, err = run(capsys, "10.0", "10.02", "0.01", "sim", "--strategy", "sweep",
                         "--camera", f"genicam:{viky}", "--json")
    assert code in (0, 1), err
    assert json.loads(out)["frames"] == 3
