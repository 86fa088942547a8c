"""refocus: few frames near a known focus, and an honest exit when focus is not near."""

from __future__ import annotations

import math

import pytest
from tests.conftest import small_sim

from autofocus.errors import InputError
from autofocus.runner import AutofocusSettings, run_autofocus
from autofocus.search import find_focus
from autofocus.strategies.refocus import SIGMA_PER_DOF, would_end

FOCUS = 10_012.3


def refocus_from(offset_um: float, *, specimen: str = "fluorescent-cells", objective: str = "20x",
                 on_miss: str = "widen", brightness: float = 0.6):
    sim = small_sim(specimen=specimen, objective=objective, start_um=FOCUS + offset_um,
                    brightness=brightness)
    settings = AutofocusSettings(FOCUS + offset_um - 100, FOCUS + offset_um + 100, 1.0,
                                 strategy="refocus", on_miss=on_miss)  # type: ignore[arg-type]
    return sim, run_autofocus(sim.devices(), settings)


@pytest.mark.parametrize("specimen", ["fluorescent-cells", "beads", "stained-tissue"])
@pytest.mark.parametrize("offset_dof", [-0.8, -0.3, 0.0, 0.4, 0.9])
def test_refocus_near_focus_takes_few_frames_and_lands_within_a_tenth_dof(
        specimen: str, offset_dof: float) -> None:
    dof = small_sim(objective="20x").depth_of_field_um()
    sim, result = refocus_from(offset_dof * dof, specimen=specimen)
    assert result.focused, result.reason
    assert result.best_z_um is not None
    assert abs(result.best_z_um - FOCUS) <= 0.15 * dof
    assert result.frames <= 6
    assert sim.stage.position_um() == pytest.approx(result.best_z_um)
    assert result.light_dose_s == pytest.approx(result.frames * sim.camera.exposure_s)


@pytest.mark.parametrize("offset_dof", [-0.6, 0.0, 0.3, 0.6])
def test_the_third_frame_goes_where_it_brackets_the_top_two_frames_read(offset_dof: float) -> None:
    # Two frames at +-0.5 DOF read the top; the third goes where it completes a bracket, so a
    # top up to 0.6 DOF off (here a clean Gaussian) is placed from three frames.
    dof = 4.0
    top = 500.0 + offset_dof * dof

    def score(z: float) -> float:
        return 1.0 + 50.0 * math.exp(-((z - top) ** 2) / (2 * (SIGMA_PER_DOF * dof) ** 2))

    result = find_focus(score, 400, 600, 1.0, "refocus", start_z_um=500.0, dof_um=dof)
    assert result.focused and result.best_z_um is not None, result.reason
    assert result.frames == 3
    assert abs(result.best_z_um - top) <= 0.03 * dof


def test_a_top_is_read_only_between_frames_close_either_side_that_show_the_fall() -> None:
    assert would_end([-0.5, 0.1, 0.5], 0.0, 1.0)  # a frame at the top, the curve falls either side
    assert would_end([-1.0, -0.4, 0.45], 0.0, 1.0)  # no frame at it, but frames close either side
    assert not would_end([-0.7, 0.7], 0.0, 1.0)  # a top between frames far apart is not read
    assert not would_end([-0.2, 0.5, 0.9], 0.0, 1.0)  # nothing 0.3 DOF below it: a top seen from
    assert not would_end([-0.9, -0.5, -0.1], 0.0, 1.0)  # one side is not yet a peak


def test_transparent_cells_near_focus_are_found_at_their_dip() -> None:
    dof = small_sim(objective="20x").depth_of_field_um()
    _, result = refocus_from(0.2 * dof, specimen="transparent-cells")
    assert result.focused, result.reason
    assert result.best_z_um is not None
    assert abs(result.best_z_um - FOCUS) <= 0.3 * dof


def test_far_prior_with_fail_is_not_found_and_the_stage_returns() -> None:
    sim, result = refocus_from(40.0, on_miss="fail")
    assert not result.focused
    assert result.reason
    assert sim.stage.position_um() == pytest.approx(FOCUS + 40.0)
    assert result.frames <= 8


@pytest.mark.parametrize("on_miss", ["widen", "search"])
def test_far_prior_widens_or_searches_and_finds_focus(on_miss: str) -> None:
    dof = small_sim(objective="20x").depth_of_field_um()
    _, result = refocus_from(5 * dof, on_miss=on_miss)
    assert result.focused, result.reason
    assert result.best_z_um is not None
    assert abs(result.best_z_um - FOCUS) <= 0.3 * dof


def test_empty_field_is_not_found() -> None:
    _, result = refocus_from(0.0, specimen="empty")
    assert not result.focused


def test_on_callables_the_step_stands_in_for_the_width() -> None:
    def score(z: float) -> float:
        return 1.0 + 50.0 * 2.718281828 ** (-((z - 503.0) ** 2) / (2 * 2.0**2))

    result = find_focus(score, 400, 600, 4.0, "refocus", start_z_um=500.0)
    assert result.focused, result.reason
    assert result.best_z_um == pytest.approx(503.0, abs=0.5)


def test_bad_on_miss_and_near_outside_the_range_are_input_errors() -> None:
    with pytest.raises(InputError):
        AutofocusSettings(0, 100, 1, strategy="refocus", on_miss="guess").validate()  # type: ignore[arg-type]
    with pytest.raises(InputError):
        AutofocusSettings(0, 100, 1, strategy="refocus", near_um=150).validate()


def test_near_um_far_from_the_stage_refocuses_there_not_at_the_prior() -> None:
    # The stage waits at the bottom of the window (a focus map's clearance); the prior is given.
    dof = small_sim(objective="20x").depth_of_field_um()
    sim = small_sim(specimen="stained-tissue", start_um=FOCUS - 48.0)
    settings = AutofocusSettings(FOCUS - 50, FOCUS + 50, 2.0, strategy="refocus",
                                 near_um=FOCUS + 2.25)
    result = run_autofocus(sim.devices(), settings)
    assert result.focused and result.best_z_um is not None
    assert abs(result.best_z_um - FOCUS) <= 0.15 * dof


def test_a_top_at_the_end_of_the_widened_window_is_not_focus() -> None:
    # No depth of field known: the 2 um step stands in, and the widened window (+-30 um) ends
    # 18 um short of focus. Its highest score at that end is a rise, not a focus.
    sim = small_sim(specimen="stained-tissue", start_um=FOCUS - 48.0)
    devices = sim.devices()
    devices.depth_of_field_um = None
    result = run_autofocus(devices, AutofocusSettings(FOCUS - 48, FOCUS + 52, 2.0,
                                                      strategy="refocus"))
    assert not result.focused
    assert result.reason_code == "beyond_upper", result.reason


def test_a_widened_answer_that_left_the_range_unsearched_is_not_confident() -> None:
    """The prior's window shows no focus, the widened window (+-15 DOF) finds a small peak;
    a peak twice as high lies beyond it, unsearched: the answer stays below 0.5."""
    def score(z: float) -> float:
        small = 0.4 * math.exp(-0.5 * ((z - 14.0) / 0.8) ** 2)
        large = math.exp(-0.5 * ((z - 48.0) / 0.8) ** 2)
        return 1.0 + small + large

    result = find_focus(score, 0.0, 100.0, 1.0, "refocus", start_z_um=0.0)
    assert result.focused and result.best_z_um is not None, result.reason
    assert abs(result.best_z_um - 14.0) <= 1.0
    assert result.confidence < 0.5
    # The same small peak, widened into a window that is the whole range: nothing unsearched.
    whole = find_focus(score, 0.0, 18.0, 1.0, "refocus", start_z_um=4.0)
    assert whole.focused and whole.best_z_um is not None and abs(whole.best_z_um - 14.0) <= 1.0
    assert whole.confidence >= 0.5, (whole.best_z_um, whole.confidence)
