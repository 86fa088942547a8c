"""Zaber's X and Y devices as one XY stage, through the real Zaber Motion Library over TCP to a
simulated chain of X, Y and Z controllers (the shared two-axis stage of ``devices.base``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("zaber_motion")

from tests.devices.test_zaber import zaber_env

from autofocus.devices.base import Stage, XYStage
from autofocus.devices.zaber_xy import open_zaber_xyz
from autofocus.errors import LimitError
from autofocus.sim.zaber_chain import XY_TRAVEL_UM, SimZaberChain, xyz_chain
from autofocus.sim.zaber_protocol import SIM_NATIVE_UNIT_UM
from autofocus.sim.zaber_server import ZaberDeviceServer

__all__ = ["zaber_env"]


@pytest.fixture
def chain() -> Iterator[tuple[SimZaberChain, str]]:
    chain = xyz_chain(xy_start_um=(5_000.0, 5_000.0), time_scale=0.05)
    server = ZaberDeviceServer(chain, "tcp").start()
    try:
        yield chain, server.url
    finally:
        server.stop()


def test_x_then_y_and_a_refused_target_moves_neither_axis(chain: tuple[SimZaberChain, str]) -> None:
    sim, url = chain
    _z, xy, close = open_zaber_xyz(url, native_unit_um=SIM_NATIVE_UNIT_UM)
    try:
        assert isinstance(xy, XYStage)
        (_, x_hi), (_, y_hi) = xy.limits_um
        xy.move_to_um(12_000.0, 8_000.0)
        assert xy.position_um() == pytest.approx((12_000.0, 8_000.0), abs=SIM_NATIVE_UNIT_UM)
        x_moves, y_moves = len(sim.moves_of(1)), len(sim.moves_of(2))
        assert x_moves == y_moves == 1
        for target in ((x_hi / 2, y_hi + 1_000.0), (x_hi + 1_000.0, y_hi / 2)):
            with pytest.raises(LimitError, match="Zaber XY stage"):
                xy.move_to_um(*target)
        assert (len(sim.moves_of(1)), len(sim.moves_of(2))) == (x_moves, y_moves)  # nothing sent
        assert xy.position_um() == pytest.approx((12_000.0, 8_000.0), abs=SIM_NATIVE_UNIT_UM)
    finally:
        close()


def test_before_homing_sees_the_focus_and_xy_stages_then_z_homes_before_x_and_y() -> None:
    chain = xyz_chain(time_scale=0.05, homed=False)
    server = ZaberDeviceServer(chain, "tcp").start()
    homes_seen: list[int] = []

    def before_homing(stage: Stage, xy: XYStage) -> None:
        assert stage.limits_um == pytest.approx((0.0, 25_000.0))  # the focus drive's travel
        (x0, x1), (y0, y1) = xy.limits_um  # X's and Y's travel, known before either homes
        assert (x0, x1, y0, y1) == pytest.approx((0.0, XY_TRAVEL_UM[0], 0.0, XY_TRAVEL_UM[1]))
        homes_seen.append(sum(e.words[:1] == ("home",) for e in chain.log))

    try:
        _z, _xy, close = open_zaber_xyz(server.url, native_unit_um=SIM_NATIVE_UNIT_UM,
                                        before_homing=before_homing)
        close()
    finally:
        server.stop()
    assert homes_seen == [0]
    assert [e.device for e in chain.log if e.words[:1] == ("home",)] == [3, 1, 2]
