"""Real recorded focus series (../shared/data/real): the acceptance bar of recorded-data focus.

The data sets and their known in-focus planes are defined once, in benchmarks/real_data.py, which
prints the same numbers as a table.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import tifffile

from autofocus.search import STRATEGIES

PROJECT = Path(__file__).resolve().parents[1]
DATA = PROJECT.parent / "shared" / "data" / "real"


def load_benchmark() -> ModuleType:
    name = "benchmarks_real_data"
    spec = importlib.util.spec_from_file_location(name, PROJECT / "benchmarks" / "real_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


BENCH = load_benchmark()


@pytest.fixture
def data() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"real data not found at {DATA}: it lives beside the project in CI and developer "
                    "checkouts (../shared/data/real), not in a clone of the project alone")
    return DATA


@pytest.mark.parametrize("dataset", BENCH.DATASETS, ids=lambda ds: ds.name)
def test_stack_default_settings_find_the_in_focus_plane(data: Path, dataset: Any) -> None:
    result = BENCH.run_stack_cli(data / dataset.file)
    assert result["status"] == "focused", result["reason"]
    assert dataset.error(result["best_index"]) <= 1, (
        f"{dataset.name}: found plane {result['best_index']} "
        f"(fitted {result['best_plane']:.2f}) with {result['metric']}, known {dataset.known}"
    )
    assert len(result["scores"]) == result["planes"]
    # Scored at the file's own depth: the seed's 8-bit-only median filter crashed on 16-bit sets.
    with tifffile.TiffFile(data / dataset.file) as tif:
        assert result["dtype"] == str(tif.series[0].dtype)


@pytest.mark.parametrize("dataset", BENCH.DATASETS, ids=lambda ds: ds.name)
def test_replay_with_the_default_live_strategy(data: Path, dataset: Any) -> None:
    """The default live strategy on a replayed recording may refuse (benchmarks/real_data.py
    reports how often), but it must never be confidently wrong."""
    run = BENCH.replay_default(data / dataset.file)
    assert run.frames > 0 and run.hardware_s > 0
    if run.status != "focused":
        assert run.reason
        return
    assert run.found_plane is not None
    # A live search samples between the recorded planes; the bead's peak is one plane wide.
    assert dataset.error(run.found_plane) <= 2


def load_real_curves() -> ModuleType:
    name = "benchmarks_real_curves"
    spec = importlib.util.spec_from_file_location(name, PROJECT / "benchmarks" / "real_curves.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


CURVES = load_real_curves()


@pytest.mark.parametrize("measure", ["SQUARED_GRADIENT", "BRENNER"])
def test_default_search_on_recorded_focus_curves_is_right_frugal_and_calibrated(
        data: Path, measure: str) -> None:
    """Issue 11's acceptance on the 71 recorded slide-scanner curves (benchmarks/real_curves.py
    prints the same numbers as a table)."""
    series = CURVES.wsi_series(data, measure)
    sweep = [CURVES.run(s, "sweep") for s in series]
    default = [CURVES.run(s, "coarse-to-fine") for s in series]
    continuous = [CURVES.run(s, "continuous") for s in series]
    assert sum(o.right for o in default) >= sum(o.right for o in sweep) - 2
    assert sum(o.frames for o in default) <= 0.45 * sum(o.frames for o in sweep)
    for outcome in default + continuous:
        assert not (outcome.wrong and outcome.confidence >= 0.5), outcome
    for mine, reference in zip(default + continuous, sweep + sweep, strict=True):
        assert mine.frames <= reference.frames
    # Every strategy, local ones too (refocus, track, brent started far from most foci): a
    # wrong answer is never a confident one.
    for name in sorted(set(STRATEGIES) - {"sweep", "coarse-to-fine", "continuous"}):
        for outcome in (CURVES.run(s, name) for s in series):
            assert not (outcome.wrong and outcome.confidence >= 0.5), outcome
    # The reliability property: confident answers are right.
    confident = [o for o in default + continuous + sweep if o.status == "focused" and o.confidence >= 0.9]
    assert confident and sum(o.right for o in confident) >= 0.97 * len(confident)


def test_a_flat_topped_light_sheet_series_is_not_full_confidence(data: Path) -> None:
    """Its top planes lie within a few % of each other: the answer is right, the confidence
    says the top is broad."""
    result = BENCH.run_stack_cli(data / "lightsheet_mitochondria/mitochondria_stack.tif")
    assert result["status"] == "focused"
    assert result["confidence"] < 0.95
    assert result["reason_code"] == ""
