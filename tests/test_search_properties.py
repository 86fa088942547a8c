"""No strategy ever asks for a position outside the allowed interval, whatever the curve."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autofocus.search import STRATEGIES, CallableProbe, SearchSpace, run_strategy


@st.composite
def problems(draw: st.DrawFn) -> tuple[SearchSpace, float, float, float, int]:
    lo = draw(st.floats(-1e4, 1e4))
    width = draw(st.floats(0.5, 5e3))
    step = draw(st.floats(width / 200, width))
    start = draw(st.floats(lo - width, lo + 2 * width))
    space = SearchSpace(lo, lo + width, step, min(max(start, lo), lo + width),
                        draw(st.sampled_from(["peak", "dip", "auto"])))
    centre = draw(st.floats(lo - width, lo + 2 * width))
    curve_width = draw(st.floats(1e-3, 2 * width))
    noise = draw(st.floats(0.0, 0.5))
    return space, centre, curve_width, noise, draw(st.integers(0, 3))


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(), st.sampled_from(sorted(STRATEGIES)), st.randoms(use_true_random=False))
def test_no_strategy_leaves_the_allowed_interval(problem, strategy, random) -> None:
    space, centre, curve_width, noise, shape = problem
    asked: list[float] = []

    def score(z: float) -> float:
        asked.append(z)
        u = (z - centre) / curve_width
        base = [1 + 10 * math.exp(-u * u), 1.0, 1 + 10 * (math.exp(-(u - 2) ** 2) + math.exp(-(u + 2) ** 2)),
                1 + 5 * math.exp(-u * u) + 5 * math.exp(-(u - 7) ** 2)][shape]
        return base * (1 + noise * random.gauss(0, 1))

    probe = CallableProbe(score, space)
    run_strategy(strategy, probe, space)  # LimitError would propagate and fail the test
    assert all(space.lo_um <= z <= space.hi_um for z in asked)
