"""The pass machinery's judgement of a fine peak: resolved only when narrower than the coarse
peak, placed from its top only."""

from __future__ import annotations

import math

from autofocus.curve import Sample
from autofocus.search import SearchSpace
from autofocus.strategies.passes import fit_fine

SPACE = SearchSpace(0.0, 1_000.0, 10.0, 0.0)


def window(fine_sigma: float, coarse_sigma: float, *, skew: float = 0.0) -> list[Sample]:
    """Frames 2 um apart around focus at 500 um; ``skew`` broadens the fine peak's lower flank."""
    def fine(z: float) -> float:
        sigma = fine_sigma * (1 + skew) if z < 500 else fine_sigma
        return 1.0 + 10.0 * math.exp(-0.5 * ((z - 500) / sigma) ** 2)

    def coarse(z: float) -> float:
        return 1.0 + 10.0 * math.exp(-0.5 * ((z - 500) / coarse_sigma) ** 2)

    return [Sample(z, fine(z), coarse=coarse(z)) for z in range(470, 531, 2)]


def test_a_fine_peak_narrower_than_the_coarse_one_is_resolved() -> None:
    peak = fit_fine(window(3.0, 12.0), SPACE, 2.0, 1e-3, final=False)
    assert peak is not None and abs(peak.z_um - 500) < 0.2


def test_a_fine_peak_as_wide_as_the_coarse_one_is_noise_on_its_tail() -> None:
    """Fine detail fades with defocus before coarse detail: a fine "peak" as wide is not focus."""
    assert fit_fine(window(12.0, 10.0), SPACE, 2.0, 1e-3, final=False) is None


def test_a_broad_flank_does_not_pull_the_answer() -> None:
    """Placed from the top alone: a lower flank three times broader (sigma 9 um against 3)
    pulls it by less than 0.7 sigma of the sharp side (a fit down the flanks: 0.87)."""
    peak = fit_fine(window(3.0, 12.0, skew=2.0), SPACE, 2.0, 1e-3, final=False)
    assert peak is not None and abs(peak.z_um - 500) < 0.7 * 3.0
