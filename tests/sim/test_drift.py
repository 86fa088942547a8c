"""The simulator's drifts through time: each part behaves as its stand-side cause does, the whole
is reproducible from its seed, and the simulated microscope's focus (and frames) follow it."""

from __future__ import annotations

import math
import statistics
from itertools import pairwise

import pytest
from tests.conftest import small_sim

from autofocus.errors import InputError
from autofocus.sim.drift import DRIFT_PARTS, HOUR_S, Drift, drift_preset


def test_no_drift_by_default() -> None:
    assert not Drift().active
    assert Drift().offset_um(10 * HOUR_S) == 0.0


def test_thermal_drift_is_a_few_um_per_hour_on_a_daily_cycle() -> None:
    drift = Drift(thermal_um_h=3.0)
    assert drift.offset_um(0.0) == 0.0
    # Steepest at the start (phase 0): about its slope over the first ten minutes.
    assert drift.offset_um(600.0) / (600.0 / HOUR_S) == pytest.approx(3.0, rel=0.01)
    # Back where it began after a day; at its farthest a quarter day in.
    assert drift.offset_um(24 * HOUR_S) == pytest.approx(0.0, abs=1e-9)
    top = max(drift.offset_um(h * HOUR_S) for h in range(25))
    assert top == pytest.approx(drift.offset_um(6 * HOUR_S))
    assert top == pytest.approx(3.0 * 24 / (2 * math.pi), rel=1e-6)


def test_creep_is_monotone_and_levels_off() -> None:
    drift = Drift(creep_um=-6.0, creep_tau_h=2.0)
    values = [drift.offset_um(h * HOUR_S) for h in range(0, 30)]
    assert all(b < a for a, b in pairwise(values))  # one way only
    assert values[-1] == pytest.approx(-6.0, abs=0.01)
    assert values[2] == pytest.approx(-6.0 * (1 - math.exp(-1)), rel=1e-9)


def test_steps_jump_at_their_times() -> None:
    drift = Drift(steps=((100.0, 10.0), (200.0, -4.0)))
    assert drift.offset_um(99.999) == 0.0
    assert drift.offset_um(100.0) == 10.0
    assert drift.offset_um(250.0) == 6.0


def test_specimen_motion_is_a_seeded_random_walk() -> None:
    walk = Drift(wander_um_per_sqrt_h=0.5, seed=3)
    again = Drift(wander_um_per_sqrt_h=0.5, seed=3)
    other = Drift(wander_um_per_sqrt_h=0.5, seed=4)
    times = [t * 137.0 for t in range(100)]
    assert [walk.offset_um(t) for t in times] == [again.offset_um(t) for t in times]
    assert [walk.offset_um(t) for t in times] != [other.offset_um(t) for t in times]
    # Continuous between its knots (no jumps from one frame to the next).
    assert abs(walk.offset_um(1000.0) - walk.offset_um(1000.5)) < 0.01
    # The spread after 4 h over many seeds is 0.5 um x sqrt(4).
    spread = statistics.pstdev(Drift(wander_um_per_sqrt_h=0.5, seed=s).offset_um(4 * HOUR_S)
                               for s in range(300))
    assert spread == pytest.approx(1.0, rel=0.2)


def test_the_preset_places_two_bumps_inside_the_run() -> None:
    drift = drift_preset(DRIFT_PARTS, duration_s=3 * HOUR_S, seed=1)
    assert [t for t, _ in drift.steps] == [HOUR_S, 2 * HOUR_S]
    assert drift.offset_um(HOUR_S) - drift.offset_um(HOUR_S - 1e-3) == pytest.approx(10.0, abs=0.01)
    assert not drift_preset([], 100.0).active  # nothing named: no drift


@pytest.mark.parametrize("make", [
    lambda: Drift(creep_tau_h=0.0),
    lambda: Drift(thermal_um_h=math.nan),
    lambda: Drift(wander_um_per_sqrt_h=-1.0),
    lambda: Drift(steps=((-5.0, 1.0),)),
    lambda: drift_preset(["thermal", "earthquake"], 100.0),
    lambda: drift_preset(["thermal"], 0.0),
])
def test_impossible_drifts_are_input_errors(make: object) -> None:
    with pytest.raises(InputError):
        make()  # type: ignore[operator]


def test_the_microscope_focus_follows_the_drift() -> None:
    drift = Drift(thermal_um_h=3.0, steps=((1800.0, 10.0),))
    sim = small_sim(drift=drift)
    start = sim.true_focus_um
    sim.clock.sleep(3600.0)
    assert sim.true_focus_um == pytest.approx(start + drift.offset_um(3600.0))
    assert sim.drift_um(3600.0) == pytest.approx(drift.offset_um(3600.0))
    assert "steps" in sim.describe()


def test_frames_are_sharp_where_the_drifted_focus_is() -> None:
    from autofocus.metrics import make_metric

    sim = small_sim(drift=Drift(steps=((10.0, 8.0),)))
    score = make_metric("bandpass")
    sim.clock.sleep(20.0)
    sim.stage.move_to_um(sim.true_focus_um - 8.0)  # where focus was before the bump
    before = score(sim.camera.grab())
    sim.stage.move_to_um(sim.true_focus_um)
    assert score(sim.camera.grab()) > 3 * before
