"""End to end: ``autofocus map`` through the real Zaber Motion Library over TCP to a simulated
chain of X, Y and Z controllers, checked against the controllers' own command log."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("zaber_motion")

from tests.devices.test_zaber import zaber_env

from autofocus import cli, connect
from autofocus.sim import SimConfig, SimulatedMicroscope
from autofocus.sim.camera import CameraSpec
from autofocus.sim.zaber_chain import SimZaberChain, xyz_chain
from autofocus.sim.zaber_protocol import SIM_NATIVE_UNIT_UM
from autofocus.sim.zaber_server import ZaberDeviceServer

__all__ = ["zaber_env"]

REGION_MM = (10.0, 10.0, 12.0, 11.5)
Z_START_MM = 9.98
FAST = 0.05  # real seconds per simulated second
WINDOW_UM = 15.0


@pytest.fixture(autouse=True)
def small_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    def small(config: SimConfig) -> SimulatedMicroscope:
        return SimulatedMicroscope(dataclasses.replace(config, camera=CameraSpec(width=256, height=256)))

    monkeypatch.setattr(connect, "SimulatedMicroscope", small)


@pytest.fixture
def chain_server() -> Iterator[tuple[SimZaberChain, ZaberDeviceServer]]:
    chain = xyz_chain(z_start_um=9_000.0, time_scale=FAST)
    server = ZaberDeviceServer(chain, "tcp").start()
    try:
        yield chain, server
    finally:
        server.stop()


@pytest.mark.timeout(300)
def test_map_over_zaber_reaches_every_point_inside_the_region_with_z_safe(
        chain_server: tuple[SimZaberChain, ZaberDeviceServer], capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    chain, server = chain_server
    assert len(chain.log) == 0
    region = ",".join(f"{v:g}" for v in REGION_MM)
    code = cli.run_cli(["map", f"{Z_START_MM}", "10.05", "0.002", server.url, "--region", region,
                        "--grid", "3x3", "--window-um", f"{WINDOW_UM:g}", "--sim-slide", "tilted",
                        "--native-unit-um", f"{SIM_NATIVE_UNIT_UM}", "--out", str(tmp_path), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    data = json.loads(captured.out)
    assert [p["status"] for p in data["points"]] == ["focused"] * 9
    for point, truth in zip(data["points"], data["sim_true_focus_um"], strict=True):
        assert abs(point["z_um"] - truth) < 1.0

    x_moves, y_moves = chain.moves_of(1), chain.moves_of(2)
    x0, y0, x1, y1 = (v * 1000 / SIM_NATIVE_UNIT_UM for v in REGION_MM)
    # Never a position outside the region, on either axis (the controller's own record).
    assert x_moves and all(x0 <= int(m.words[2]) <= x1 for m in x_moves)
    assert y_moves and all(y0 <= int(m.words[2]) <= y1 for m in y_moves)
    # Every grid point reached: the XY targets visited include all 3 x 3 combinations.
    targets = set()
    x_now, y_now = None, None
    for entry in chain.log:
        if entry.words[:2] == ("move", "abs") and entry.device in (1, 2):
            value = round(int(entry.words[2]) * SIM_NATIVE_UNIT_UM)
            x_now, y_now = (value, y_now) if entry.device == 1 else (x_now, value)
            targets.add((x_now, y_now))
    xs = {10_000, 11_000, 12_000}
    ys = {10_000, 10_750, 11_500}
    assert {(x, y) for x in xs for y in ys} <= targets
    # Z at the safe height whenever X or Y were told to move: the last good focus minus the
    # window (before any focus: the bottom of the first search's range).
    found: list[float] = []
    points = iter(data["points"])
    for entry in chain.log:
        if entry.device in (1, 2) and entry.words[:2] == ("move", "abs"):
            clearance = Z_START_MM * 1000 if not found else found[-1] - WINDOW_UM
            assert entry.z_um <= clearance + SIM_NATIVE_UNIT_UM, (entry, clearance)
            if found:  # the drive came down from that focus to the clearance, no lower
                assert entry.z_um == pytest.approx(clearance, abs=SIM_NATIVE_UNIT_UM), (entry, clearance)
            if entry.device == 2:  # Y moves last: the point's search comes next
                point = next(points)
                if point["z_um"] is not None:
                    found.append(point["z_um"])
