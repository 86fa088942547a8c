"""Everything that can be refused without motion is refused before an unhomed Zaber axis homes
(issue 16): homing travels to the home sensor, far from where the user put the stage. The real
Zaber Motion Library against the simulated controller, a simulated or recorded camera."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("zaber_motion")

from tests.devices.test_zaber import Serve, serve, zaber_env

from autofocus import cli, connect
from autofocus.devices.opencv import write_video
from autofocus.sim import SimConfig, SimulatedMicroscope
from autofocus.sim.camera import CameraSpec

__all__ = ["serve", "zaber_env"]


@pytest.fixture(autouse=True)
def small_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    def small(config: SimConfig) -> SimulatedMicroscope:
        return SimulatedMicroscope(dataclasses.replace(config, camera=CameraSpec(width=128, height=128)))

    monkeypatch.setattr(connect, "SimulatedMicroscope", small)


RANGE = ["9.9", "10.1", "0.01"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["60", "61", "0.01", "--camera", "sim"], "outside the stage's travel"),
        ([*RANGE, "--camera", "sim", "--roi", "0,0,2,2"], "downsample"),  # below the coarse measure's
        ([*RANGE, "--camera", "opencv:{video}", "--roi", "0,0,100,100"], "does not fit"),
        ([*RANGE, "--camera", "sim", "--roi", "0,0,5000,10"], "does not fit"),
        ([*RANGE, "--camera", "opencv:/no/such/video.mkv"], "no such file"),
    ],
    ids=["range-beyond-travel", "roi-too-small", "roi-outside-a-video", "roi-outside-the-sim",
         "no-camera-file"],
)
def test_refused_before_the_axis_homes(
    capsys: pytest.CaptureFixture[str], serve: Serve, tmp_path: Path, args: list[str], says: str
) -> None:
    video = write_video(tmp_path / "v.mkv", [np.full((64, 64), 20 * i, np.uint8) for i in range(5)])
    server = serve(homed=False)
    start = server.device.position_um()
    code = cli.run_cli([*args[:3], server.url, *(a.format(video=video) for a in args[3:])])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], err
    assert not server.device.homed and server.device.moves_accepted == 0
    assert server.device.position_um() == start


def test_a_good_run_still_homes_first(capsys: pytest.CaptureFixture[str], serve: Serve) -> None:
    server = serve(homed=False)
    code = cli.run_cli(["9.98", "10.04", "0.02", server.url, "--camera", "sim", "--roi", "0,0,96,96",
                        "--strategy", "sweep"])
    assert code in (0, 1), capsys.readouterr().err
    assert server.device.homed
