from __future__ import annotations

import pytest
from tests.conftest import small_sim

from autofocus.curve import Peak
from autofocus.errors import CameraError, InputError, LimitError, SearchTimeout, StageError
from autofocus.events import ProgressEvent
from autofocus.runner import AutofocusSettings, allowed_interval, run_autofocus
from autofocus.search import STRATEGIES, Probe, SearchSpace
from autofocus.sim import FaultPlan, SimulatedMicroscope

FOCUS_UM = 10_012.3


def sweep_settings(**overrides: object) -> AutofocusSettings:
    values: dict[str, object] = {"start_um": 9_950.0, "end_um": 10_050.0, "step_um": 5.0,
                                 "strategy": "sweep"}
    values.update(overrides)
    return AutofocusSettings(**values)  # type: ignore[arg-type]


def test_sweep_finds_focus_within_one_step_and_stays_there() -> None:
    sim = small_sim()
    result = run_autofocus(sim.devices(), sweep_settings())
    assert result.focused
    assert result.best_z_um is not None
    assert abs(result.best_z_um - FOCUS_UM) <= 5.0
    assert sim.stage.position_um() == pytest.approx(result.best_z_um)
    assert result.final_z_um == pytest.approx(result.best_z_um)
    assert result.frames == 21
    assert result.hardware_s > 0


@pytest.mark.parametrize(
    "overrides",
    [
        {"start_um": 10_050.0, "end_um": 9_950.0},
        {"step_um": 0.0},
        {"step_um": -1.0},
        {"step_um": 500.0},
        {"start_um": float("nan")},
        {"blur": 4},
        {"blur": -3},
        {"blur": 301},
        {"metric": "no-such-metric"},
        {"strategy": "no-such-strategy"},
        {"settle_s": -1.0},
        {"timeout_s": 0.0},
    ],
)
def test_bad_settings_are_rejected_before_anything_moves(overrides: dict[str, object]) -> None:
    sim = small_sim()
    with pytest.raises(InputError):
        run_autofocus(sim.devices(), sweep_settings(**overrides))
    assert sim.stage.commanded == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"dof_um": 0.0}, "depth of field"),
        ({"dof_um": float("inf")}, "depth of field"),
        ({"on_miss": "retry"}, "on_miss"),
        ({"layer": "middle"}, "layer"),
        ({"expected_top": -1.0}, "expected score"),
    ],
)
def test_the_search_space_checks_its_settings_when_they_are_validated(
        overrides: dict[str, object], message: str) -> None:
    # One owner (SearchSpace), asked by validate(): the command line refuses these before it
    # connects to anything, with the same words as the library's own path.
    with pytest.raises(InputError, match=message):
        sweep_settings(**overrides).validate()
    with pytest.raises(InputError, match=message):
        SearchSpace(9_950.0, 10_050.0, 5.0, 10_000.0, **overrides)  # type: ignore[arg-type]


def test_range_outside_the_travel_is_rejected_before_moving() -> None:
    sim = small_sim()
    with pytest.raises(InputError, match="outside the stage's travel"):
        run_autofocus(sim.devices(), sweep_settings(start_um=30_000.0, end_um=31_000.0))
    assert sim.stage.commanded == []


def test_range_is_cut_to_the_device_limits() -> None:
    assert allowed_interval(sweep_settings(start_um=24_900.0, end_um=25_100.0), (0.0, 25_000.0)) == (
        24_900.0, 25_000.0)
    sim = small_sim(true_focus_um=24_990.0, start_um=24_000.0)
    run_autofocus(sim.devices(), sweep_settings(start_um=24_900.0, end_um=25_100.0, step_um=20.0))
    assert max(sim.stage.commanded) <= 25_000.0


def test_a_strategy_asking_outside_the_range_is_refused_and_the_stage_returns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def runaway(probe: Probe, space: SearchSpace) -> Peak:
        probe.sample(space.lo_um)
        probe.sample(space.hi_um + 1.0)
        raise AssertionError("the probe should have refused")

    monkeypatch.setitem(STRATEGIES, "runaway", runaway)
    sim = small_sim()
    start = sim.stage.position_um()
    with pytest.raises(LimitError) as caught:
        run_autofocus(sim.devices(), sweep_settings(strategy="runaway"))
    assert all(9_950.0 <= z <= 10_050.0 for z in sim.stage.commanded[:-1])
    assert sim.stage.position_um() == start
    assert "returned to its start" in caught.value.describe()


def test_final_approach_comes_from_below_by_the_backlash() -> None:
    sim = small_sim()
    result = run_autofocus(sim.devices(), sweep_settings(backlash_um=20.0))
    assert result.best_z_um is not None
    assert sim.stage.commanded[-2:] == [pytest.approx(result.best_z_um - 20.0),
                                        pytest.approx(result.best_z_um)]


def test_settle_time_is_spent_after_every_move() -> None:
    plain, settled = small_sim(), small_sim()
    run_autofocus(plain.devices(), sweep_settings())
    run_autofocus(settled.devices(), sweep_settings(settle_s=0.1))
    moves = len(settled.stage.commanded)
    assert settled.clock.now() - plain.clock.now() == pytest.approx(0.1 * moves, rel=0.05)


def test_timeout_stops_the_search_and_returns_the_stage() -> None:
    sim = small_sim()
    start = sim.stage.position_um()
    with pytest.raises(SearchTimeout):
        run_autofocus(sim.devices(), sweep_settings(timeout_s=0.3))
    assert sim.stage.position_um() == start


@pytest.mark.parametrize(
    ("fault", "error"),
    [("stage-stall", StageError), ("stage-limit", StageError), ("camera-timeout", CameraError),
     ("dropped-frame", CameraError)],
)
def test_device_faults_raise_and_leave_the_stage_at_its_start(fault: str, error: type) -> None:
    sim = small_sim(faults=FaultPlan(fault, after=3))
    start = sim.stage.position_um()
    with pytest.raises(error) as caught:
        run_autofocus(sim.devices(), sweep_settings())
    assert sim.stage.position_um() == pytest.approx(start)
    assert f"{start / 1000:.6f} mm" in caught.value.describe()


def test_a_disconnected_stage_is_reported_as_not_returned() -> None:
    sim: SimulatedMicroscope = small_sim(faults=FaultPlan("disconnect", after=3))
    with pytest.raises((StageError, CameraError)) as caught:
        run_autofocus(sim.devices(), sweep_settings())
    assert "could not be returned" in caught.value.describe()


def test_progress_events_tell_the_whole_story() -> None:
    events: list[ProgressEvent] = []
    run_autofocus(small_sim().devices(), sweep_settings(), on_event=events.append)
    kinds = [e.kind for e in events]
    assert kinds[0] == "start"
    assert kinds.count("frame") == 21
    assert kinds[-2:] == ["final-move", "done"]
    assert [e.frame for e in events if e.kind == "frame"] == list(range(1, 22))
