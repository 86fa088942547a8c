"""Bad command-line words are one line and exit 2 before anything opens or moves; a plot that
cannot be written after a good run is a warning, not a failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import run_cli as run

from autofocus import cli, connect, report

RANGE = ["9.9", "10.1", "0.01"]
TCP = "tcp://127.0.0.1:1"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ([*RANGE, "sim", "--sim-seed", "-1"], "--sim-seed"),
        ([*RANGE, TCP, "--device", "0"], "--device"),
        ([*RANGE, TCP, "--device", "-1"], "--device"),
        ([*RANGE, TCP, "--axis", "0"], "--axis"),
        ([*RANGE, TCP, "--axis", "-1"], "--axis"),
        ([*RANGE, "sim", "--plot", "curve.xyz"], "unknown image type"),
        ([*RANGE, "sim", "--plot", "/proc/no/curve.png"], "cannot write there"),
        ([*RANGE, "sim", "--show-images", "--images-dir", "/proc/no-images"], "cannot write there"),
        ([*RANGE, "sim", "--camera", "opencv:/no/such/video.mkv"], "no such file"),
        ([*RANGE, "sim", "--roi", "0,0,3000,10"], "does not fit"),
    ],
)
def test_bad_words_are_one_line_exit_2_before_anything_opens(
    capsys: pytest.CaptureFixture[str], no_devices: list[str], args: list[str], says: str
) -> None:
    code, out, err = run(capsys, *args)
    assert code == 2, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], err
    assert no_devices == []


def test_images_dir_at_a_file_is_refused(
    capsys: pytest.CaptureFixture[str], no_devices: list[str], tmp_path: Path
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    code, _, err = run(capsys, *RANGE, "sim", "--show-images", "--images-dir", str(a_file))
    assert code == 2 and "is a file" in err and len(err.strip().splitlines()) == 1
    assert no_devices == []


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_serve_zaber_refuses_a_port_out_of_range(capsys: pytest.CaptureFixture[str], port: str) -> None:
    code, _, err = run(capsys, "serve-zaber", "--port", port, "--duration-s", "0.1")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "--port" in err


@pytest.mark.parametrize("roi", ["0,0,3000,10", "0,0,2,2"])
def test_a_bad_roi_on_the_real_frame_size_is_refused_before_the_first_move(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, roi: str
) -> None:
    # Frames smaller than the configured sensor: only the camera's own frame tells the fit.
    import dataclasses

    from autofocus.sim import SimulatedMicroscope
    from autofocus.sim.camera import CameraSpec

    made: list[SimulatedMicroscope] = []

    def tiny(config: object) -> SimulatedMicroscope:
        sim = SimulatedMicroscope(dataclasses.replace(config, camera=CameraSpec(width=64, height=64)))  # type: ignore[type-var]
        made.append(sim)
        return sim

    monkeypatch.setattr(connect, "SimulatedMicroscope", tiny)
    code, _, err = run(capsys, *RANGE, "sim", "--roi", roi.replace("3000", "100"))
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1
    assert made and made[0].stage.commanded == []


def test_a_plot_that_fails_after_a_good_run_keeps_the_result(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def full_disk(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cli, "plot_curve", full_disk)
    assert report  # the real writer is replaced only for this run
    code, out, err = run(capsys, "9.95", "10.05", "0.01", "sim", "--json", "--strategy", "sweep",
                         "--plot", str(tmp_path / "curve.png"))
    assert code == 0, err
    assert json.loads(out)["status"] == "focused"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "could not write the plot" in lines[0]
