"""The step-grid search on a plain score(z): never worse than the sweep over the same frames."""

from __future__ import annotations

from autofocus.search import find_focus


def test_a_peak_one_step_wide_on_a_short_range_is_the_sweeps_answer() -> None:
    """Six planes, the peak on one of them (its neighbours barely lifted): too few frames to
    fit and no room for more, so the answer is the sweep's best frame, not "not found", and
    its confidence says a peak one frame wide is not placed surely."""
    planes = [1.0, 1.05, 1.3, 4.0, 1.2, 1.0]

    def score(z: float) -> float:
        return planes[round(z)]

    sweep = find_focus(score, 0.0, 5.0, 1.0, "sweep")
    default = find_focus(score, 0.0, 5.0, 1.0)
    assert sweep.focused and sweep.best_z_um == 3.0
    assert default.focused, default.reason
    assert default.best_z_um == sweep.best_z_um and default.frames <= sweep.frames
    assert default.confidence < 0.9
