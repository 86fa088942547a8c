"""continuous: streamed passes, then a few frames at rest."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import small_sim
from tests.test_search import FOCUS, lorentz

from autofocus.runner import AutofocusSettings, run_autofocus
from autofocus.search import CallableProbe, SearchSpace, find_focus
from autofocus.space import even_positions
from autofocus.strategies.continuous import CONTINUOUS_FACTOR, peak_passed, stream_phase
from autofocus.strategies.passes import whole_pass

TUTORIAL = AutofocusSettings(9_500, 10_500, 10, strategy="continuous")


def test_stream_phase_is_a_circular_mean() -> None:
    # Offsets either side of the wrap-around (69.5 and 0.5 of a 70 um spacing) average to 0,
    # not to 35 as a plain mean would; scattered offsets are not a steady stream.
    phase = stream_phase([69.5, 140.5, 209.6, 280.4], 70.0)
    assert phase is not None and min(phase, 70.0 - phase) < 0.3
    assert stream_phase([100.0, 170.0, 240.0], 70.0) == pytest.approx(30.0)
    assert stream_phase([0.0, 87.5, 105.0, 192.5], 70.0) is None


def test_fast_and_accurate_on_the_simulator() -> None:
    sim = small_sim(specimen="stained-tissue", objective="20x")
    result = run_autofocus(sim.devices(), TUTORIAL)
    assert result.focused and result.best_z_um is not None, result.reason
    assert abs(result.best_z_um - FOCUS) <= sim.depth_of_field_um() / 8
    # The tutorial's sweep takes 101 frames and about 7.3 s of hardware time here.
    assert result.frames <= 101 // 3
    assert result.hardware_s <= 7.3 / 4
    # The first pass's frame at rest (it times the camera), the climb's lead-in frame (blurred by
    # the move's ringing, never reused), then a short stepped refinement.
    assert sum(not s.moving for s in result.curve.samples) <= 1 + 1 + 6


def test_the_second_pass_falls_between_the_first_pass_frames() -> None:
    # An empty field: nothing stands out, so a second pass looks between the first one's
    # frames. Streamed frames are offset from their pass start by the acceleration ramp; a
    # return pass started half a spacing in put its frames on top of the first pass's.
    sim = small_sim(specimen="empty")
    result = run_autofocus(sim.devices(), TUTORIAL)
    assert result.status == "not_found"
    moving = [s for s in result.curve.samples if s.moving]
    turn = next(i for i in range(1, len(moving)) if moving[i].z_um < moving[i - 1].z_um)
    first, second = moving[:turn], moving[turn:]
    spacing = CONTINUOUS_FACTOR * TUTORIAL.step_um
    steady = second[2:-2]
    assert steady
    for frame in steady:
        nearest = min(abs(frame.z_um - other.z_um) for other in first)
        assert nearest >= spacing / 4, frame.z_um


def test_narrow_peak_on_a_callable() -> None:
    focus = 10_061.7
    result = find_focus(lorentz(focus, 2.0), 9_500, 10_500, 10, "continuous",
                        coarse_score=lorentz(focus, 10.0))
    assert result.focused and result.best_z_um is not None, result.reason
    assert abs(result.best_z_um - focus) < 0.1


FIRST_PASS_SPACING = CONTINUOUS_FACTOR * TUTORIAL.step_um


def first_pass(score) -> list:  # type: ignore[no-untyped-def]
    space = SearchSpace(TUTORIAL.start_um, TUTORIAL.end_um, TUTORIAL.step_um, TUTORIAL.start_um)
    probe = CallableProbe(score, space)
    return whole_pass(probe, space, space.lo_um, space.hi_um, FIRST_PASS_SPACING,
                      stop_when=peak_passed)


def test_the_first_pass_stops_once_a_clear_peak_is_behind_it() -> None:
    full = len(even_positions(TUTORIAL.start_um, TUTORIAL.end_um, FIRST_PASS_SPACING))
    samples = first_pass(lorentz(9_700.0, 15.0, np.random.default_rng(1)))
    assert len(samples) < full
    z = [s.z_um for s in samples]
    assert max(z) > 9_700.0 + 2 * FIRST_PASS_SPACING  # the peak and its fall are in the pass
    # On the stage: the streamed pass stops (the stage with it) before the far end.
    result = run_autofocus(small_sim(specimen="beads", objective="10x",
                                     true_focus_um=9_650.0).devices(), TUTORIAL)
    assert result.focused and result.best_z_um is not None, result.reason
    assert max(s.z_um for s in result.curve.samples) < TUTORIAL.end_um - FIRST_PASS_SPACING


def test_the_first_pass_runs_to_its_end_on_a_flat_curve() -> None:
    full = len(even_positions(TUTORIAL.start_um, TUTORIAL.end_um, FIRST_PASS_SPACING))
    rng = np.random.default_rng(2)
    assert len(first_pass(lambda z: 1.0 + 0.01 * rng.standard_normal())) == full
    # A peak still rising at the far end, or one that does not fall back, does not stop it.
    assert len(first_pass(lambda z: 1.0 + (z - 9_500.0) / 100.0)) == full
    assert len(first_pass(lambda z: 1.0 + 40.0 * (z > 9_800.0))) == full
