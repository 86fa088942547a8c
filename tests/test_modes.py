from __future__ import annotations

import pytest

from autofocus.errors import InputError
from autofocus.metrics import METRICS
from autofocus.modes import MODES, coarse_metric_for_mode, expect_for_mode, metric_for_mode


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_names_registered_measures(mode: str) -> None:
    assert metric_for_mode(mode) in METRICS
    assert coarse_metric_for_mode(mode) in METRICS


def test_transparent_and_auto_read_dips() -> None:
    assert expect_for_mode("fluorescence") == "peak"
    assert expect_for_mode("transparent") == "dip"
    assert expect_for_mode("auto") == "auto"


def test_unknown_mode_is_an_input_error() -> None:
    with pytest.raises(InputError, match="unknown mode"):
        metric_for_mode("phase-contrast-ish")
