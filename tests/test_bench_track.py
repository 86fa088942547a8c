"""``benchmarks/track.py`` judges its run honestly: its verdicts turn to MISS when a target is
missed (checked on made-up outcomes; the benchmark itself takes minutes)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "track.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_track", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_track"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


STEPS = ((1_000.0, 10.0), (2_000.0, -10.0))


def outcome(bench: ModuleType, errors: list[float], frames: int) -> object:
    job = bench.Job("track", "beads", "20x", 1.0, 1)
    times = tuple(300.0 * k for k in range(len(errors)))
    return bench.Outcome(job, 4.0, tuple(errors), times, frames, 0.1, 1.0, 1.1, 0, {}, 0.0)


def test_time_points_off_after_a_step_are_counted_in_a_row(bench: ModuleType) -> None:
    errors = [0.1] * 4 + [5.0, 4.5, 0.2, 6.0] + [0.1] * 4
    run = outcome(bench, errors, 24)
    # After 1000 s (time points from 1200 s): 5.0, 4.5 off, then back; after 2000 s: 6.0 off.
    assert run.off_after_steps(STEPS) == [2, 1]  # type: ignore[attr-defined]


def test_verdicts_pass_and_miss(bench: ModuleType) -> None:
    good = outcome(bench, [0.1, -0.2, 0.1, 0.0], 10)
    verdicts = bench.verdicts([good], STEPS)
    assert all(ok for _, ok in verdicts)
    costly = outcome(bench, [0.1, -0.2, 0.1, 0.0], 13)  # 3.25 frames per time point
    off = outcome(bench, [0.1] * 4 + [5.0, 5.0] + [0.1] * 2, 8)
    assert [ok for _, ok in bench.verdicts([costly], STEPS)] == [True, True, False]
    assert [ok for _, ok in bench.verdicts([off], STEPS)] == [False, False, True]
