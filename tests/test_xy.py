"""Safe XY moves: nothing outside the region, the focus drive at the safe height first."""

from __future__ import annotations

import pytest
from tests.conftest import small_sim

from autofocus.errors import InputError, LimitError
from autofocus.xy import Region, SafeXY


def test_a_target_outside_the_region_is_never_commanded() -> None:
    sim = small_sim()
    safe = SafeXY(sim.devices(), Region(1_000, 1_000, 5_000, 4_000), z_floor_um=9_000)
    with pytest.raises(LimitError):
        safe.move_to(5_001, 2_000, 9_500)
    assert sim.xy_stage.commanded == []


def test_a_region_beyond_the_travel_is_an_input_error() -> None:
    sim = small_sim()
    with pytest.raises(InputError):
        SafeXY(sim.devices(), Region(-1, 0, 5_000, 4_000), z_floor_um=9_000)
    with pytest.raises(InputError):
        Region(5, 0, 4, 1)


def test_the_focus_drive_goes_down_to_the_clearance_before_the_move() -> None:
    sim = small_sim(start_um=10_000)
    safe = SafeXY(sim.devices(), Region(0, 0, 5_000, 4_000), z_floor_um=9_000)
    safe.move_to(2_000, 1_000, z_clearance_um=9_950)
    assert sim.xy_stage.log[-1].z_um == 9_950
    safe.move_to(3_000, 1_000, z_clearance_um=9_980)  # already below: stays
    assert sim.xy_stage.log[-1].z_um == 9_950
    safe.move_to(3_000, 2_000, z_clearance_um=8_000)  # below the floor: the floor
    assert sim.xy_stage.log[-1].z_um == 9_000
    assert min(sim.stage.commanded) == 9_000


def test_a_microscope_without_xy_stage_cannot_map() -> None:
    scope = small_sim().devices()
    scope.xy_stage = None
    with pytest.raises(InputError):
        SafeXY(scope, Region(0, 0, 1, 1), 0.0)
