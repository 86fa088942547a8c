"""brent: bounded local refinement around the start position."""

from __future__ import annotations

import pytest
from tests.conftest import small_sim
from tests.test_search import FOCUS, lorentz

from autofocus.runner import AutofocusSettings, run_autofocus
from autofocus.search import find_focus


@pytest.mark.parametrize("start", [10_000.0, 10_018.0, 10_030.0])
def test_accurate_near_focus_on_the_standard_simulator(start: float) -> None:
    # Reported: a constant error of several um on the default simulator (20x fluorescent cells)
    # with the stage near focus. Brent's frames cluster on the side it approached from, and a
    # fit through them alone landed there; the stepped fine climb brackets the peak.
    sim = small_sim()
    sim.stage.move_to_um(start)
    result = run_autofocus(sim.devices(), AutofocusSettings(9_990, 10_040, 5, strategy="brent"))
    assert result.focused and result.best_z_um is not None, result.reason
    assert abs(result.best_z_um - sim.true_focus_um) <= sim.depth_of_field_um() / 8
    assert result.frames <= 20


def test_focus_outside_the_window_is_not_found_and_the_stage_returns() -> None:
    # The window is start +- 5 steps: 9_750..9_850 here, focus at 10_012.3 is far outside.
    sim = small_sim()
    sim.stage.move_to_um(9_800.0)
    result = run_autofocus(sim.devices(), AutofocusSettings(9_500, 10_500, 10, strategy="brent"))
    assert result.status == "not_found"
    assert sim.stage.position_um() == pytest.approx(9_800.0)


@pytest.mark.parametrize("beyond", [2.0, 8.0])
def test_a_peak_just_beyond_the_window_is_not_a_focus(beyond: float) -> None:
    # Brent converges next to the window's end; the old check only caught a best frame exactly
    # on the end and answered a position just inside it (e.g. 12.5 um from focus).
    start = 10_000.0
    focus = start + 50.0 + beyond  # window: start +- 5 steps of 10 um
    result = find_focus(lorentz(focus, 3.0), 9_500, 10_500, 10, "brent", start_z_um=start,
                        coarse_score=lorentz(focus, 12.0))
    assert result.status == "not_found", result.best_z_um


@pytest.mark.parametrize("offset", [-40.0, -7.0, 0.0, 23.0, 45.0])
def test_finds_a_narrow_peak_anywhere_inside_the_window(offset: float) -> None:
    start = 10_000.0
    focus = start + offset
    result = find_focus(lorentz(focus, 1.0), 9_500, 10_500, 10, "brent", start_z_um=start,
                        coarse_score=lorentz(focus, 8.0))
    assert result.focused and result.best_z_um is not None, result.reason
    assert abs(result.best_z_um - focus) < 0.05


def test_noise_without_a_peak_is_not_found() -> None:
    import numpy as np

    rng = np.random.default_rng(3)
    result = find_focus(lambda z: 5.0 + 0.02 * rng.standard_normal(), 9_500, 10_500, 10, "brent",
                        start_z_um=FOCUS)
    assert result.status == "not_found"
