"""continuous: streamed passes, then a few frames at rest."""

from __future__ import annotations

import pytest
from tests.conftest import small_sim
from tests.test_search import FOCUS, lorentz

from autofocus.runner import AutofocusSettings, run_autofocus
from autofocus.search import find_focus
from autofocus.strategies.continuous import CONTINUOUS_FACTOR, stream_phase

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
    # The first pass's frame at rest (it times the camera), then a short stepped refinement.
    assert sum(not s.moving for s in result.curve.samples) <= 1 + 6


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
