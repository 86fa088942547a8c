"""A plain ``score(z)`` that yields NaN: a failed measurement (CallableProbe), never a number a
strategy optimises and never a point of the curve."""

from __future__ import annotations

import math

import pytest

from autofocus.search import STRATEGIES, find_focus


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_a_nan_score_below_the_peak_ends_find_focus_with_a_reason(strategy: str) -> None:
    # NaN just below the peak: continuous and brent never returned (issue 16).
    def score(z: float) -> float:
        return math.nan if 10_000 <= z < 10_010 else math.exp(-(((z - 10_012.3) / 15) ** 2))

    result = find_focus(score, 9_900.0, 10_100.0, 2.0, strategy, start_z_um=10_000.0)
    assert result.focused or "not a finite number" in result.reason, result.reason
    assert all(math.isfinite(s.score) for s in result.curve.samples)
    assert result.frames <= 10_000
