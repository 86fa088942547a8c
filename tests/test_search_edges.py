"""Issue 11's promises at the edges of the search: focus beyond the range is "not found" with
the direction, a narrow peak beside a broad one is found, and no strategy takes more frames than
the sweep over the same range and step."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import small_sim

from autofocus.runner import AutofocusSettings, run_autofocus
from autofocus.search import STRATEGIES, CallableProbe, SearchSpace, find_focus, run_strategy
from autofocus.space import sweep_positions

FOCUS = 10_000.0
PASS_BASED = ("coarse-to-fine", "continuous")


def beyond_range(side: int, distance: float, width: float) -> tuple[float, float, float]:
    """A range ``width`` wide whose ``side`` end (-1 lower, +1 upper) lies ``distance`` from
    focus, and the end the stage starts at (the one nearer focus, for brent)."""
    if side > 0:
        return FOCUS - distance - width, FOCUS - distance, FOCUS - distance
    return FOCUS + distance, FOCUS + distance + width, FOCUS + distance


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@pytest.mark.parametrize("side", [-1, 1])
@pytest.mark.parametrize("distance", [5.0, 10.0, 20.0])
def test_live_focus_beyond_the_range_is_not_found_with_its_direction(
        strategy: str, side: int, distance: float) -> None:
    # 300 um at 5 um: 61 positions, enough for the coarse passes (shorter ranges use the grid).
    lo, hi, start = beyond_range(side, distance, 300.0)
    sim = small_sim(true_focus_um=FOCUS)
    sim.stage.move_to_um(start)
    result = run_autofocus(sim.devices(), AutofocusSettings(lo, hi, 5.0, strategy=strategy))
    expected = "beyond_upper" if side > 0 else "beyond_lower"
    assert result.status == "not_found", (result.best_z_um, result.confidence)
    assert result.reason_code == expected, result.reason
    assert ("upper" if side > 0 else "lower") in result.reason
    assert result.to_dict()["reason_code"] == expected


def lorentz(centre: float, width: float, height: float = 40.0):
    return lambda z: 1.0 + height / (1.0 + ((z - centre) / width) ** 2)


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@pytest.mark.parametrize("side", [-1, 1])
@pytest.mark.parametrize("distance", [5.0, 10.0, 20.0])
@pytest.mark.parametrize("coarse", [False, True])
def test_plain_score_focus_beyond_the_range_is_not_found_with_its_direction(
        strategy: str, side: int, distance: float, coarse: bool) -> None:
    lo, hi, start = beyond_range(side, distance, 500.0)
    result = find_focus(lorentz(FOCUS, 3.0), lo, hi, 5.0, strategy, start_z_um=start,
                        coarse_score=lorentz(FOCUS, 12.0) if coarse else None)
    assert result.status == "not_found", (result.best_z_um, result.confidence)
    assert result.reason_code == ("beyond_upper" if side > 0 else "beyond_lower"), result.reason


def narrow_beside_broad(narrow_at: float, broad_at: float, step: float):
    """A peak two steps wide at half height beside a broad one half as high."""
    sigma = 2 * step / (2 * math.sqrt(2 * math.log(2)))

    def score(z: float) -> float:
        narrow = math.exp(-0.5 * ((z - narrow_at) / sigma) ** 2)
        broad = 0.5 * math.exp(-0.5 * ((z - broad_at) / (15 * step)) ** 2)
        return 1.0 + 10.0 * (narrow + broad)

    return score


@pytest.mark.parametrize("strategy", PASS_BASED)
@pytest.mark.parametrize("fraction", [0.06, 0.13, 0.21, 0.33, 0.47, 0.55, 0.68, 0.79, 0.88, 0.95])
@pytest.mark.parametrize("offset", [0.0, 0.37, 0.5])
def test_a_narrow_peak_beside_a_broad_one_is_found_anywhere(strategy: str, fraction: float,
                                                           offset: float) -> None:
    lo, hi, step = 0.0, 1_000.0, 10.0
    narrow_at = lo + fraction * (hi - lo) + offset * step
    broad_at = 750.0 if narrow_at < 500 else 250.0
    result = find_focus(narrow_beside_broad(narrow_at, broad_at, step), lo, hi, step, strategy)
    assert result.focused, result.reason
    assert result.best_z_um is not None and abs(result.best_z_um - narrow_at) <= 0.5 * step
    assert result.frames <= len(sweep_positions(lo, hi, step))


@st.composite
def problems(draw: st.DrawFn) -> tuple[SearchSpace, float, float, int, bool]:
    lo = draw(st.floats(-1e4, 1e4))
    width = draw(st.floats(1.0, 2e3))
    step = draw(st.floats(width / 150, width / 2))
    start = draw(st.floats(lo, lo + width))
    space = SearchSpace(lo, lo + width, step, start, draw(st.sampled_from(["peak", "dip", "auto"])))
    centre = draw(st.floats(lo - width / 2, lo + 1.5 * width))
    curve_width = draw(st.floats(step / 4, width))
    return space, centre, curve_width, draw(st.integers(0, 2)), draw(st.booleans())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(), st.sampled_from(sorted(STRATEGIES)), st.randoms(use_true_random=False))
def test_no_strategy_takes_more_frames_than_the_sweep(problem, strategy, random) -> None:
    space, centre, curve_width, shape, with_coarse = problem

    def score(z: float, widen: float = 1.0) -> float:
        u = (z - centre) / (curve_width * widen)
        base = [1 + 10 * math.exp(-u * u), 1 + 10 * (math.exp(-(u - 3) ** 2) + math.exp(-(u + 3) ** 2)),
                1 + 5 * math.exp(-u * u) + 4 * math.exp(-(u - 7) ** 2)][shape]
        return base * (1 + 0.01 * random.gauss(0, 1))

    probe = CallableProbe(score, space, (lambda z: score(z, 4.0)) if with_coarse else None)
    run_strategy(strategy, probe, space)
    assert probe.curve.frames_taken <= len(sweep_positions(space.lo_um, space.hi_um, space.step_um))
