from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import small_sim

from autofocus.errors import InputError
from autofocus.runner import AutofocusSettings, run_autofocus
from autofocus.search import DEFAULT_STRATEGY, STRATEGIES, even_positions, find_focus

FOCUS = 10_012.3


def lorentz(centre: float, width: float, rng: np.random.Generator | None = None):
    def score(z: float) -> float:
        noise = 0.0 if rng is None else 0.005 * rng.standard_normal()
        return 1.0 + 40.0 / (1.0 + ((z - centre) / width) ** 2) * (1 + noise)

    return score


def test_default_is_coarse_to_fine() -> None:
    assert DEFAULT_STRATEGY == "coarse-to-fine"


@pytest.mark.parametrize("width", [1.0, 5.0, 15.0])
def test_coarse_to_fine_is_sub_step_and_frugal(width: float) -> None:
    rng = np.random.default_rng(1)
    result = find_focus(lorentz(FOCUS, width, rng), 9_500, 10_500, 10,
                        coarse_score=lorentz(FOCUS, 4 * width, rng))
    assert result.focused and result.best_z_um is not None
    assert abs(result.best_z_um - FOCUS) < 0.1 * width
    assert result.frames <= 101 // 3


def test_every_strategy_says_not_found_on_a_flat_curve() -> None:
    rng = np.random.default_rng(2)
    for name in STRATEGIES:
        result = find_focus(lambda z: 3.0 + 0.01 * rng.standard_normal(), 9_500, 10_500, 10, name)
        assert result.status == "not_found", name
        assert "flat" in result.reason


def test_brent_finds_a_nearby_peak_and_refuses_a_far_one() -> None:
    near = find_focus(lorentz(FOCUS, 3.0), 9_500, 10_500, 10, "brent", start_z_um=FOCUS + 20)
    assert near.focused and near.best_z_um is not None
    assert abs(near.best_z_um - FOCUS) < 0.3
    far = find_focus(lorentz(FOCUS, 3.0), 9_500, 10_500, 10, "brent", start_z_um=9_600)
    assert not far.focused


def test_unknown_strategy_is_rejected_before_scoring() -> None:
    calls: list[float] = []
    with pytest.raises(InputError):
        find_focus(lambda z: calls.append(z) or 0.0, 0, 10, 1, "guess")
    assert calls == []


def test_even_positions_cover_both_ends() -> None:
    positions = even_positions(0.0, 100.0, 30.0)
    assert positions[0] == 0.0 and positions[-1] == 100.0
    assert max(np.diff(positions)) <= 30.0


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_end_to_end_on_the_simulator(strategy: str) -> None:
    sim = small_sim(specimen="stained-tissue", objective="20x")
    start = FOCUS - 15 if strategy == "brent" else 9_900.0
    sim.stage.move_to_um(start)
    settings = AutofocusSettings(9_900.0, 10_100.0, 5.0, strategy=strategy, settle_s=0.1)
    result = run_autofocus(sim.devices(), settings)
    assert result.focused, result.reason
    assert result.best_z_um is not None
    tolerance = 5.0 if strategy == "sweep" else 1.0
    assert abs(result.best_z_um - FOCUS) <= tolerance
    assert sim.stage.position_um() == pytest.approx(result.best_z_um)
    assert all(9_900.0 - 1e-6 <= z <= 10_100.0 + 1e-6 for z in sim.stage.commanded[1:])


def test_empty_field_end_to_end_is_not_found_and_stage_returns() -> None:
    sim = small_sim(specimen="empty")
    sim.stage.move_to_um(9_950.0)
    result = run_autofocus(sim.devices(), AutofocusSettings(9_900.0, 10_100.0, 5.0))
    assert result.status == "not_found"
    assert sim.stage.position_um() == pytest.approx(9_950.0)
