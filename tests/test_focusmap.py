"""The focus-map workflow on the simulated slide: every point visited safely, the surface close
to the truth, failed and disagreeing points set apart."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import small_sim

from autofocus.errors import StageError
from autofocus.focusmap import MapSettings, default_later_strategy, measure_map, serpentine
from autofocus.runner import AutofocusSettings
from autofocus.search import DEFAULT_STRATEGY, STRATEGIES
from autofocus.sim import FaultPlan
from autofocus.sim.slide import Debris, SlideSpec
from autofocus.xy import Region

REGION = Region(10_000, 10_000, 20_000, 16_000)
SEARCH = AutofocusSettings(start_um=9_900, end_um=10_100, step_um=5)
WINDOW_UM = 30.0


def tilted_sim(**slide: object):  # type: ignore[no-untyped-def]
    spec = SlideSpec(tilt_x_um_per_mm=2.0, tilt_y_um_per_mm=-1.5, origin_um=(15_000, 13_000),
                     **slide)  # type: ignore[arg-type]
    return small_sim(specimen="stained-tissue", slide=spec, xy_start_um=(10_000, 10_000))


def test_serpentine_visits_neighbours() -> None:
    assert serpentine([0, 1, 2], [0, 1]) == [(0, 0), (1, 0), (2, 0), (2, 1), (1, 1), (0, 1)]


def test_later_points_use_refocus_when_it_exists() -> None:
    expected = "refocus" if "refocus" in STRATEGIES else DEFAULT_STRATEGY
    assert default_later_strategy() == expected


@pytest.mark.timeout(240)
def test_a_map_finds_the_slide_and_sets_apart_the_empty_and_the_dusty_points() -> None:
    # Point 5 of 9 (the middle) is empty; point 3 (the right end of the first row) is dust.
    sim = tilted_sim(empty_rects=((14_900, 12_900, 15_100, 13_100),),
                     debris=(Debris(20_000, 10_000, 100, 12.0),))
    dof = sim.depth_of_field_um()
    settings = MapSettings(REGION, SEARCH, grid=(3, 3), window_um=WINDOW_UM)
    focus_map = measure_map(sim.devices(), settings)

    by_index = {p.index: p for p in focus_map.points}
    assert by_index[4].status == "not_found"
    assert by_index[2].status == "set_apart"
    # The search there answers at (or near) the dust 12 um up: far off the surface, so set apart.
    assert by_index[2].residual_um is not None and by_index[2].residual_um > 2 * dof
    assert [p.index for p in focus_map.set_apart] == [2, 4]
    assert focus_map.fit is not None and focus_map.fit.surface.model == "plane"
    for x, y in [(12_500, 11_000), (17_000, 15_500), (15_000, 13_000)]:
        assert abs(focus_map.z_at(x, y) - sim.true_focus_at_xy(x, y)) <= dof / 4
    # Every XY target inside the region; Z at or below the safe height before each XY move.
    assert all(REGION.contains(x, y) for x, y in sim.xy_stage.commanded)
    # After a focused point the drive leaves its focus for exactly the clearance (the default:
    # that focus minus the window), no lower; after a failed one it is already below.
    found: list[float] = []
    previous_focused = False
    for move, point in zip(sim.xy_stage.log, focus_map.points, strict=True):
        clearance = SEARCH.start_um if not found else found[-1] - WINDOW_UM
        assert move.z_um is not None and move.z_um <= clearance + 1e-6
        if previous_focused:
            assert move.z_um == pytest.approx(clearance)
        previous_focused = point.z_um is not None and point.status != "not_found"
        if previous_focused:
            assert point.z_um is not None
            found.append(point.z_um)
    data = focus_map.to_dict()
    assert data["set_apart"] == [2, 4] and data["model"] == "plane"
    assert np.isfinite(data["loo_rms_um"])


@pytest.mark.timeout(240)
def test_a_named_clearance_is_the_height_of_every_xy_move() -> None:
    sim = tilted_sim()  # the focus drive starts at 9 000 um, below everything
    clearance = 9_960.0  # inside the range, below the slide's focus everywhere in the region
    settings = MapSettings(REGION, SEARCH, grid=(2, 2), window_um=WINDOW_UM, z_clearance_um=clearance)
    focus_map = measure_map(sim.devices(), settings)
    assert focus_map.ok and [p.status for p in focus_map.points] == ["focused"] * 4
    heights = [move.z_um for move in sim.xy_stage.log]
    assert heights[0] == pytest.approx(9_000.0)  # already below: the drive stays
    assert heights[1:] == pytest.approx([clearance] * 3)
    # A clearance below the user's range is raised to its bottom: never outside the range.
    sim = tilted_sim()
    settings = MapSettings(REGION, SEARCH, grid=(1, 2), window_um=WINDOW_UM, z_clearance_um=5_000.0)
    measure_map(sim.devices(), settings)
    assert sim.xy_stage.log[-1].z_um == pytest.approx(SEARCH.start_um)
    assert min(sim.stage.commanded) >= SEARCH.start_um


@pytest.mark.timeout(240)
def test_a_hardware_failure_ends_the_map_with_the_stages_stopped_and_says_where() -> None:
    sim = tilted_sim()
    sim.stage.faults = FaultPlan("stage-stall", 20)
    settings = MapSettings(REGION, SEARCH, grid=(3, 3), window_um=WINDOW_UM)
    with pytest.raises(StageError) as failure:
        measure_map(sim.devices(), settings)
    assert "map stopped at point" in failure.value.describe()
    assert "XY at" in failure.value.describe()
    assert not sim.stage.is_moving()
