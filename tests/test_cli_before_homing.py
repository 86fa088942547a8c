"""Everything that can be refused without motion is refused before an unhomed Zaber axis homes
(issue 16): homing travels to the home sensor, far from where the user put the stage. The real
Zaber Motion Library against the simulated controller, a simulated or recorded camera."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("zaber_motion")

from tests.devices.test_zaber import FAST, Serve, serve, zaber_env

from autofocus import cli, connect
from autofocus.devices.opencv import write_video
from autofocus.sim import SimConfig, SimulatedMicroscope
from autofocus.sim.camera import CameraSpec
from autofocus.sim.zaber_chain import SimZaberChain, xyz_chain
from autofocus.sim.zaber_protocol import SIM_NATIVE_UNIT_UM
from autofocus.sim.zaber_server import ZaberDeviceServer

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



@pytest.fixture
def unhomed_chain() -> Iterator[tuple[SimZaberChain, str]]:
    """X (device 1), Y (2) and the focus drive (3) behind one port, none with a reference."""
    chain = xyz_chain(xy_start_um=(5_000.0, 5_000.0), time_scale=FAST, homed=False)
    server = ZaberDeviceServer(chain, "tcp").start()
    try:
        yield chain, server.url
    finally:
        server.stop()


XYZ = ["--x-device", "1", "--y-device", "2", "--native-unit-um", f"{SIM_NATIVE_UNIT_UM}"]


FOCUS_BEYOND = "outside the stage's travel"
XY_BEYOND = "outside the XY stage's travel"
TRACK = ["--every", "60", "--for", "120", "--camera", "sim"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["map", "60", "61", "0.01", "{url}", "--region", "10,10,12,11.5", "--grid", "2x2", *XYZ],
         FOCUS_BEYOND),
        (["track", "60", "61", "0.01", "{url}", *TRACK, "--position", "10,10", "--position", "12,11", *XYZ],
         FOCUS_BEYOND),
        # The focus range is fine; the region or a position lies beyond X's (0..100 mm) or Y's
        # (0..75 mm) travel, which the controllers report before they home.
        (["map", "8", "9", "0.01", "{url}", "--region", "90,10,120,11.5", "--grid", "2x2", *XYZ], XY_BEYOND),
        (["track", "8", "9", "0.01", "{url}", *TRACK, "--position", "10,10", "--position", "12,80", *XYZ],
         XY_BEYOND),
        (["track", "8", "9", "0.01", "{url}", *TRACK, "--region", "0,0,101,20", "--position", "10,10", *XYZ],
         XY_BEYOND),
    ],
    ids=["map", "track", "map-region-beyond-x", "track-position-beyond-y", "track-region-beyond-x"],
)
def test_refused_before_any_of_x_y_and_z_homes(
    capsys: pytest.CaptureFixture[str], unhomed_chain: tuple[SimZaberChain, str], args: list[str], says: str
) -> None:
    """With X and Y the three axes open on one connection: a range beyond the focus drive's
    travel, or a region beyond the XY stage's, is refused before any of them homes (homing Z,
    then X and Y, travels far)."""
    chain, url = unhomed_chain
    start = {address: device.position_um() for address, device in chain.devices.items()}
    code = cli.run_cli([a.format(url=url) for a in args])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], err
    assert not [e for e in chain.log if e.words[:1] == ("home",)]  # the controllers' own record
    for address, device in chain.devices.items():
        assert not device.homed and device.moves_accepted == 0, address
        assert device.position_um() == start[address], address
