"""The simulated focus drive: timing, limits, continuous moves, vibration, backlash, faults."""

from __future__ import annotations

import pytest

from autofocus.clock import VirtualClock
from autofocus.devices.base import ContinuousStage
from autofocus.devices.motion import move_duration_s
from autofocus.errors import LimitError, StageError
from autofocus.sim.faults import FaultPlan
from autofocus.sim.stage import SimStage, StageSpec


def make_stage(**kw: object) -> SimStage:
    return SimStage(VirtualClock(), StageSpec(), 1_000.0, **kw)  # type: ignore[arg-type]


def test_is_also_a_continuous_stage() -> None:
    # The Stage contract itself: tests/devices/test_conformance.py, over every backend.
    assert isinstance(make_stage(), ContinuousStage)


def test_move_takes_latency_plus_trapezoid_time() -> None:
    stage = make_stage()
    spec = stage.spec
    stage.move_to_um(3_000.0)  # long move: cruises at full speed
    expected = spec.command_latency_s + 2_000 / spec.speed_um_s + spec.speed_um_s / spec.accel_um_s2
    assert stage.clock.now() == pytest.approx(expected)
    assert stage.position_um() == 3_000.0
    before = stage.clock.now()
    stage.move_to_um(3_010.0)  # short move: triangular profile
    triangular = 2 * (10 / spec.accel_um_s2) ** 0.5
    assert stage.clock.now() - before == pytest.approx(spec.command_latency_s + triangular)
    assert move_duration_s(0.0, 1.0, 1.0) == 0.0


@pytest.mark.parametrize("target", [-1.0, 25_000.5, float("nan")])
def test_out_of_travel_is_refused_without_moving_but_recorded(target: float) -> None:
    stage = make_stage()
    with pytest.raises(LimitError):
        stage.move_to_um(target)
    with pytest.raises(LimitError):
        stage.start_move_to_um(target, 100.0)
    assert stage.position_um() == 1_000.0
    assert stage.clock.now() == 0.0
    assert stage.moves == 0
    assert len(stage.commanded) == 2


def test_continuous_move_returns_at_once_and_follows_the_clock() -> None:
    stage = make_stage()
    stage.start_move_to_um(1_100.0, 50.0)
    assert stage.clock.now() == 0.0
    assert stage.is_moving()
    assert stage.commanded == [1_100.0]
    stage.clock.sleep(1.0)  # well inside the 2 s cruise
    z = stage.position_um()
    t_cruise = 1.0 - stage.spec.command_latency_s
    assert z == pytest.approx(1_000.0 + 50.0 * t_cruise - 50.0**2 / (2 * stage.spec.accel_um_s2))
    assert stage.speed_at(1.0) == pytest.approx(50.0)
    stage.clock.sleep(2.0)
    assert not stage.is_moving()
    assert stage.position_um() == 1_100.0


def test_continuous_speed_is_capped_and_must_be_positive() -> None:
    stage = make_stage()
    with pytest.raises(ValueError):
        stage.start_move_to_um(1_100.0, 0.0)
    stage.start_move_to_um(20_000.0, 1e9)
    stage.clock.sleep(1.0)
    assert stage.speed_at(1.0) == stage.spec.speed_um_s


def test_stop_freezes_a_continuous_move_and_is_harmless_when_idle() -> None:
    stage = make_stage()
    stage.stop()
    stage.start_move_to_um(2_000.0, 100.0)
    stage.clock.sleep(0.5)
    here = stage.position_um()
    stage.stop()
    assert not stage.is_moving()
    stage.clock.sleep(1.0)
    assert stage.position_um() == pytest.approx(here)


def test_blocking_move_interrupts_a_continuous_one() -> None:
    stage = make_stage()
    stage.start_move_to_um(2_000.0, 100.0)
    stage.clock.sleep(0.2)
    stage.move_to_um(500.0)
    assert stage.position_um() == 500.0
    assert not stage.is_moving()


def test_vibration_scales_with_the_move_and_decays() -> None:
    stage = make_stage()
    stage.move_to_um(1_005.0)
    t = stage.clock.now()
    small = stage.vibration_amplitude_um(t)
    stage.clock.sleep(1.0)
    stage.move_to_um(6_000.0)
    t = stage.clock.now()
    large = stage.vibration_amplitude_um(t)
    assert 0 < small < large <= stage.spec.vibration_cap_um() + 1e-12
    tau = stage.spec.settle_tau_s
    assert stage.vibration_amplitude_um(t + tau) == pytest.approx(large / 2.718281828, rel=1e-6)
    assert stage.vibration_amplitude_um(t + 10 * tau) < 1e-4 * large
    # The focal plane wobbles around the commanded position while it rings.
    wobble = [stage.optical_z_um(t + i * 0.001) - 6_000.0 for i in range(20)]
    assert max(wobble) > 0.2 * large and min(wobble) < -0.2 * large


def test_ringing_goes_on_during_the_next_move_and_a_ramp_excites_more() -> None:
    stage = make_stage()
    stage.move_to_um(6_000.0)  # a long move: rings at the cap
    left = stage.vibration_amplitude_um(stage.clock.now())
    stage.start_move_to_um(6_100.0, 1_000.0)  # a slow streamed pass starts at once
    t = stage.clock.now() + 0.002
    assert stage.is_moving()
    assert stage.vibration_amplitude_um(t) == pytest.approx(
        left * 2.718281828 ** (-0.002 / stage.spec.settle_tau_s), rel=0.05)
    # Long after the arrival's ringing died, the pass's own acceleration still rings.
    quiet = make_stage()
    quiet.clock.sleep(1.0)
    quiet.start_move_to_um(3_000.0, 2_000.0)
    ramp_end = quiet.clock.now() + quiet.spec.command_latency_s + 2_000.0 / quiet.spec.accel_um_s2
    assert quiet.vibration_amplitude_um(ramp_end + 0.001) > 0.1


def test_backlash_puts_the_focal_plane_behind_the_approach_direction() -> None:
    stage = make_stage(backlash_um=4.0)
    stage.move_to_um(1_500.0)  # from below
    stage.clock.sleep(1.0)
    from_below = stage.optical_z_um(stage.clock.now())
    stage.move_to_um(2_000.0)
    stage.move_to_um(1_500.0)  # from above
    stage.clock.sleep(1.0)
    from_above = stage.optical_z_um(stage.clock.now())
    assert stage.position_um() == 1_500.0  # the controller does not know
    assert from_below == pytest.approx(1_498.0, abs=1e-6)
    assert from_above == pytest.approx(1_502.0, abs=1e-6)


def test_stall_fault_stops_half_way_with_an_error() -> None:
    stage = make_stage(faults=FaultPlan("stage-stall", after=1))
    stage.move_to_um(1_100.0)
    with pytest.raises(StageError, match="stalled"):
        stage.move_to_um(1_300.0)
    assert stage.position_um() == pytest.approx(1_200.0)


def test_limit_fault_and_disconnect() -> None:
    stage = make_stage(faults=FaultPlan("stage-limit", after=0))
    with pytest.raises(LimitError):
        stage.move_to_um(1_100.0)
    stage = make_stage(faults=FaultPlan("disconnect", after=0))
    with pytest.raises(StageError):
        stage.start_move_to_um(1_100.0, 10.0)
    with pytest.raises(StageError):
        stage.position_um()
    stage.stop()  # must not raise even when the link is gone


def test_stall_and_limit_faults_are_transient_so_the_stage_can_be_brought_back() -> None:
    for kind, error in (("stage-stall", StageError), ("stage-limit", LimitError)):
        stage = make_stage(faults=FaultPlan(kind, after=0))
        with pytest.raises(error):
            stage.move_to_um(1_300.0)
        stage.move_to_um(1_000.0)  # the next move works again
        assert stage.position_um() == 1_000.0
    assert FaultPlan("dropped-frame", after=1).due(5) == "dropped-frame"  # camera faults persist
    assert FaultPlan("dropped-frame", after=1).due(1) is None
