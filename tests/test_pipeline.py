"""Honest time: compute the loop waits for counts in wall_s, not hardware_s; the scoring
pipeline takes it off a streamed pass; every streamed frame keeps the z of its own exposure.

Ratios on the virtual clock against the measured sleep, never absolute times: a loaded
machine sleeps longer, and these tests compare with what was slept."""

from __future__ import annotations

import time

import numpy as np
import pytest
from tests.conftest import small_sim

from autofocus.curve import Peak
from autofocus.metrics import METRICS, MetricInfo, bandpass
from autofocus.result import FocusResult
from autofocus.runner import AutofocusSettings, run_autofocus
from autofocus.search import STRATEGIES, Probe, SearchSpace

FOCUS = 10_012.3
FRAME_PERIOD_S = 0.035  # the simulated camera: 10 ms exposure + 25 ms readout


class SlowMeasure:
    """The band-pass measure, made slow on purpose; remembers how long it really slept."""

    def __init__(self, sleep_s: float, *, uneven: bool = False) -> None:
        self.sleep_s = sleep_s
        self.uneven = uneven
        """Alternate 0.5x and 1.5x the sleep, as a busy machine does."""
        self.slept: list[float] = []

    def __call__(self, image: np.ndarray, **kwargs: object) -> float:
        began = time.perf_counter()
        time.sleep(self.sleep_s * ((0.5 + len(self.slept) % 2) if self.uneven else 1.0))
        self.slept.append(time.perf_counter() - began)
        return bandpass(image, **kwargs)  # type: ignore[arg-type]


def one_pass(probe: Probe, space: SearchSpace) -> Peak:
    """One streamed pass over the range; the best frame (a strategy that is all stream)."""
    samples = probe.sweep(space.lo_um, space.hi_um, space.step_um)
    best = max(samples, key=lambda s: s.score)
    return Peak(best.z_um, best.score, 1.0, "best")


def run(monkeypatch: pytest.MonkeyPatch, strategy: str, sleep_s: float, *,
        pipeline: bool, uneven: bool = False) -> tuple[FocusResult, SlowMeasure]:
    measure = SlowMeasure(sleep_s, uneven=uneven)
    monkeypatch.setitem(METRICS, "slow", MetricInfo(measure, "slow on purpose"))
    monkeypatch.setitem(STRATEGIES, "one-pass", one_pass)
    sim = small_sim(specimen="stained-tissue", start_um=FOCUS - 1.0)
    settings = AutofocusSettings(FOCUS - 60, FOCUS + 60, 4.0, strategy=strategy, metric="slow",
                                 pipeline=pipeline, compute_waits=True)
    return run_autofocus(sim.devices(), settings), measure


def test_a_slow_measure_raises_wall_time_and_not_hardware_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fast, _ = run(monkeypatch, "refocus", 0.0, pipeline=False)
    slow, measure = run(monkeypatch, "refocus", 2 * FRAME_PERIOD_S, pipeline=False)
    assert slow.frames == fast.frames and slow.focused
    # Every stepped frame is scored before the next move: the run waits for each sleep.
    assert slow.wall_s - slow.hardware_s >= 0.95 * sum(measure.slept)
    assert slow.hardware_s == pytest.approx(fast.hardware_s, rel=0.02)
    assert slow.to_dict()["wall_s"] == pytest.approx(slow.wall_s, abs=1e-6)


def test_with_the_pipeline_a_streamed_pass_hides_scoring_behind_exposures(
        monkeypatch: pytest.MonkeyPatch) -> None:
    result, measure = run(monkeypatch, "one-pass", FRAME_PERIOD_S / 2, pipeline=True)
    if max(measure.slept) >= FRAME_PERIOD_S:
        pytest.skip("this machine slept longer than a frame period: the scorer cannot keep up")
    assert result.frames >= 20
    assert result.wall_s <= 1.10 * result.hardware_s
    assert result.compute_s >= 0.95 * sum(measure.slept)


def test_without_the_pipeline_a_slow_scorer_spaces_streamed_frames_further_apart(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fast, _ = run(monkeypatch, "one-pass", 0.0, pipeline=False)
    slow, _ = run(monkeypatch, "one-pass", 2 * FRAME_PERIOD_S, pipeline=False)
    assert slow.frames < fast.frames


@pytest.mark.parametrize("pipeline", [False, True])
def test_streamed_frames_keep_the_z_of_their_own_exposure(
        monkeypatch: pytest.MonkeyPatch, pipeline: bool) -> None:
    sleep = FRAME_PERIOD_S / 2 if pipeline else 2 * FRAME_PERIOD_S
    result, _ = run(monkeypatch, "one-pass", sleep, pipeline=pipeline, uneven=True)
    moving = [s for s in result.curve.samples if s.moving]
    assert len(moving) >= 3
    # At constant speed a frame's z advances with its own time stamp, however late it was
    # scored and however unevenly the scoring delayed the next exposure: z against t is one
    # straight line through the pass's middle frames.
    middle = moving[1:-1]
    t = np.array([s.t_s for s in middle])
    z = np.array([s.z_um for s in middle])
    slope, intercept = np.polyfit(t, z, 1)
    assert np.max(np.abs(z - (slope * t + intercept))) < 0.05 * abs(slope) * FRAME_PERIOD_S + 1e-6


def test_with_the_pipeline_a_slow_scorer_leaves_the_frames_where_they_were(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fast, _ = run(monkeypatch, "one-pass", 0.0, pipeline=True)
    slow, measure = run(monkeypatch, "one-pass", FRAME_PERIOD_S / 2, pipeline=True)
    if max(measure.slept) >= FRAME_PERIOD_S:
        pytest.skip("this machine slept longer than a frame period: the scorer cannot keep up")
    # Same frames, same spacing (a stray scheduling delay on a busy machine may shift one).
    assert abs(slow.frames - fast.frames) <= 1
    spacing = [float(np.median(np.diff([s.z_um for s in r.curve.samples if s.moving])))
               for r in (fast, slow)]
    assert spacing[1] == pytest.approx(spacing[0], rel=0.05)


def test_without_compute_waits_the_timeline_is_the_hardware_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    measure = SlowMeasure(FRAME_PERIOD_S)
    monkeypatch.setitem(METRICS, "slow", MetricInfo(measure, "slow on purpose"))
    monkeypatch.setitem(STRATEGIES, "one-pass", one_pass)
    results = []
    for _ in range(2):
        sim = small_sim(specimen="stained-tissue", start_um=FOCUS - 1.0)
        settings = AutofocusSettings(FOCUS - 60, FOCUS + 60, 4.0, strategy="one-pass",
                                     metric="slow", pipeline=False, compute_waits=False)
        results.append(run_autofocus(sim.devices(), settings))
    first, second = results
    assert [s.z_um for s in first.curve.samples] == [s.z_um for s in second.curve.samples]
    assert first.wall_s == pytest.approx(first.hardware_s)
    assert first.compute_s >= 0.95 * sum(measure.slept) / 2
