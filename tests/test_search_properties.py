"""No strategy ever commands the stage outside the allowed interval, whatever the curve.

Watched where it matters: at the stage. Every strategy runs through the runner's
:class:`~autofocus.runner.HardwareProbe` on a simulated stage that records every position it is
commanded (blocking moves, and the targets of streamed constant-speed moves), once as a
continuous stage (``sweep`` streams frames during one move) and once as a plain stepped stage.
"""

from __future__ import annotations

import math
import random as stdlib_random
from contextlib import suppress

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autofocus.clock import VirtualClock
from autofocus.devices.base import Microscope
from autofocus.errors import CameraError
from autofocus.frames import Frame
from autofocus.runner import AutofocusSettings, HardwareProbe
from autofocus.search import STRATEGIES, SearchSpace, run_strategy
from autofocus.sim.stage import SimStage, StageSpec

EXPOSURE_S = 0.005


@st.composite
def problems(draw: st.DrawFn) -> tuple[SearchSpace, float, float, float, int]:
    # Inside the simulated stage's 0..25 mm travel, so only the search's own interval limits it.
    lo = draw(st.floats(200.0, 1e4))
    width = draw(st.floats(0.5, 5e3))
    step = draw(st.floats(width / 200, width))
    start = draw(st.floats(lo - width, lo + 2 * width))
    space = SearchSpace(lo, lo + width, step, min(max(start, lo), lo + width),
                        draw(st.sampled_from(["peak", "dip", "auto"])))
    centre = draw(st.floats(lo - width, lo + 2 * width))
    curve_width = draw(st.floats(1e-3, 2 * width))
    noise = draw(st.floats(0.0, 0.5))
    return space, centre, curve_width, noise, draw(st.integers(0, 3))


class SteppedStage:
    """The same simulated drive seen through the plain Stage protocol (no streamed moves)."""

    def __init__(self, stage: SimStage) -> None:
        self._stage = stage

    @property
    def limits_um(self) -> tuple[float, float]:
        return self._stage.limits_um

    def position_um(self) -> float:
        return self._stage.position_um()

    def move_to_um(self, z_um: float) -> None:
        self._stage.move_to_um(z_um)

    def stop(self) -> None:
        self._stage.stop()


class CurveCamera:
    """A 1x1 frame holding the curve's value where the stage is now (also while it moves)."""

    def __init__(self, stage: SimStage, clock: VirtualClock, curve: object) -> None:
        self._stage, self._clock, self._curve = stage, clock, curve

    @property
    def exposure_s(self) -> float:
        return EXPOSURE_S

    def grab(self) -> Frame:
        self._clock.sleep(EXPOSURE_S)
        return np.array([[self._curve(self._stage.position_um())]], dtype=np.float64)  # type: ignore[operator]


def commanded_positions(problem: tuple[SearchSpace, float, float, float, int], strategy: str,
                        random: stdlib_random.Random, streamed: bool
                        ) -> tuple[SearchSpace, list[float], HardwareProbe]:
    space, centre, curve_width, noise, shape = problem

    def curve(z: float) -> float:
        u = (z - centre) / curve_width
        base = [1 + 10 * math.exp(-u * u), 1.0, 1 + 10 * (math.exp(-(u - 2) ** 2) + math.exp(-(u + 2) ** 2)),
                1 + 5 * math.exp(-u * u) + 5 * math.exp(-(u - 7) ** 2)][shape]
        return base * (1 + noise * random.gauss(0, 1))

    clock = VirtualClock()
    stage = SimStage(clock, StageSpec(), space.start_um)
    camera = CurveCamera(stage, clock, curve)
    scope = Microscope(stage if streamed else SteppedStage(stage), camera, clock)
    # A timeline of the hardware alone: the same example must draw the same noise when replayed.
    run_settings = AutofocusSettings(space.lo_um, space.hi_um, space.step_um, strategy=strategy,
                                     compute_waits=False)
    # With a coarse score the pass-based route streams; with one score the step-grid route runs.
    score = lambda frame: float(frame[0, 0])  # noqa: E731
    probe = HardwareProbe(scope, space, score, run_settings.settle_s, lambda event: None, None,
                          score if streamed else None, budget=run_settings.budget,
                          pipeline=run_settings.pipeline, compute_waits=False)
    # Noise drawn near the largest float overflows the frame: the probe refuses such frames
    # after a few tries, as it must (CameraError). The positions commanded until then are checked.
    with suppress(CameraError):
        run_strategy(strategy, probe, space)  # a LimitError from the probe would fail the test
    return space, stage.commanded, probe


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(), st.sampled_from(sorted(STRATEGIES)), st.randoms(use_true_random=False), st.booleans())
def test_no_strategy_commands_the_stage_outside_the_allowed_interval(
    problem: tuple[SearchSpace, float, float, float, int], strategy: str, random: stdlib_random.Random,
    streamed: bool,
) -> None:
    space, commanded, _ = commanded_positions(problem, strategy, random, streamed)
    assert commanded, "the search never moved the stage"
    outside = [z for z in commanded if not space.lo_um <= z <= space.hi_um]
    assert not outside, f"commanded {outside} outside {space.lo_um}..{space.hi_um}"


def test_the_streamed_path_is_watched_too() -> None:
    # The property above must cover frames taken while the stage moves at a set speed, whose
    # targets reach the stage through start_move_to_um, not only blocking moves.
    space = SearchSpace(1_000.0, 1_200.0, 2.0, 1_000.0)
    problem = (space, 1_100.0, 10.0, 0.0, 0)
    _, commanded, probe = commanded_positions(problem, "continuous", stdlib_random.Random(0), streamed=True)
    assert any(sample.moving for sample in probe.curve.samples)
    assert len(commanded) > 1 and all(space.lo_um <= z <= space.hi_um for z in commanded)
    _, _, stepped = commanded_positions(problem, "continuous", stdlib_random.Random(0), streamed=False)
    assert not any(sample.moving for sample in stepped.curve.samples)
