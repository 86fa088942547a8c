"""The hardware probe's budgets and frame checks, on the simulated microscope."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import small_sim

from autofocus.errors import CameraError, InputError, SearchTimeout
from autofocus.hardware_probe import Budget, HardwareProbe, frame_problem
from autofocus.runner import AutofocusSettings, run_autofocus, suggest_step_mm
from autofocus.search import STRATEGIES, SearchSpace
from autofocus.sim import FaultPlan
from autofocus.space import sweep_positions


def settings(**overrides: object) -> AutofocusSettings:
    values: dict[str, object] = {"start_um": 9_900.0, "end_um": 10_100.0, "step_um": 10.0}
    values.update(overrides)
    return AutofocusSettings(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@pytest.mark.parametrize("fault", ["black-frame", "saturated-frame"])
def test_blank_frames_never_enter_the_curve_and_end_the_run_as_a_camera_fault(
    strategy: str, fault: str
) -> None:
    sim = small_sim(faults=FaultPlan(fault, after=1))
    start = sim.stage.position_um()
    with pytest.raises(CameraError, match="unusable frames in a row") as caught:
        run_autofocus(sim.devices(), settings(strategy=strategy))
    assert "stage returned to its start position" in caught.value.describe()
    assert sim.stage.position_um() == start


def test_a_frozen_stream_is_unusable_and_a_real_frame_is_not() -> None:
    sim = small_sim()
    frame = sim.camera.grab()
    assert frame_problem(frame, None) == ""
    assert "frozen" in frame_problem(frame, frame.copy())
    assert "black" in frame_problem(np.zeros((8, 8), np.uint16), None)
    assert "saturated" in frame_problem(np.full((8, 8), 255, np.uint8), None)
    assert "non-finite" in frame_problem(np.full((8, 8), np.nan, np.float32), None)


def test_one_bad_frame_is_asked_again_and_the_run_goes_on() -> None:
    class OneBlank:
        def __init__(self, camera: object) -> None:
            self.camera, self.grabs = camera, 0

        @property
        def exposure_s(self) -> float:
            return self.camera.exposure_s  # type: ignore[attr-defined,no-any-return]

        def grab(self) -> np.ndarray:
            self.grabs += 1
            frame = self.camera.grab()  # type: ignore[attr-defined]
            return np.zeros_like(frame) if self.grabs == 3 else frame

    sim = small_sim()
    scope = sim.devices()
    scope.camera = OneBlank(scope.camera)
    result = run_autofocus(scope, settings(strategy="sweep"))
    assert result.focused and result.frames == 21  # every position, none of them the blank
    assert all(sample.score > 0 for sample in result.curve.samples)


@pytest.mark.parametrize("step_um", [1e-6, 1e-12, 1e-317])
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_a_plan_beyond_the_frame_budget_is_refused_before_anything_moves(
    step_um: float, strategy: str
) -> None:
    sim = small_sim()
    with pytest.raises(InputError, match="use a step of at least 5e-05 mm"):
        run_autofocus(sim.devices(), settings(step_um=step_um, strategy=strategy))
    assert sim.stage.commanded == []


def test_the_frame_budget_holds_while_the_search_runs() -> None:
    # The plan check keeps the step grid within the budget; the probe still counts every frame
    # a strategy asks for (revisits, streamed passes), and stops at the budget.
    sim = small_sim()
    space = SearchSpace(9_900.0, 10_100.0, 10.0, 9_900.0)
    fine, coarse = settings().score_functions()
    probe = HardwareProbe(sim.devices(), space, fine, 0.0, lambda event: None, None, coarse,
                          Budget(max_frames=5))
    for z in range(5):
        probe.sample(9_900.0 + 10 * z)
    with pytest.raises(SearchTimeout, match="budget of 5 frames"):
        probe.sample(10_000.0)
    assert sim.camera.grabs == 5


def test_settling_is_cut_at_the_time_budget() -> None:
    sim = small_sim()
    start = sim.stage.position_um()
    began = sim.clock.now()
    with pytest.raises(SearchTimeout, match=r"6 s budget \(waiting 5 s to settle"):
        run_autofocus(sim.devices(), settings(strategy="sweep", settle_s=5.0, timeout_s=6.0))
    # Two settles of 5 s would be 10 s: the second one is cut where the budget ends (on the
    # simulator's virtual clock: 6 s, and the move back), not slept out and refused after.
    assert sim.clock.now() - began < 7.0
    assert sim.camera.grabs == 1
    assert sim.stage.position_um() == start


def test_a_settle_time_longer_than_the_budget_is_refused_up_front() -> None:
    sim = small_sim()
    with pytest.raises(InputError, match="longer than the time budget"):
        run_autofocus(sim.devices(), settings(settle_s=1e4, timeout_s=5.0))
    assert sim.stage.commanded == []


@pytest.mark.parametrize(("span_um", "frames", "step_mm"),
                         [(200.0, 10_000, 5e-5), (1_000.0, 101, 0.01), (1_000.0, 100, 0.02)])
def test_the_suggested_step_fits_the_budget(span_um: float, frames: int, step_mm: float) -> None:
    assert suggest_step_mm(span_um, frames) == pytest.approx(step_mm)
    assert span_um / (step_mm * 1000) + 1 <= frames + 1e-9



def test_streamed_frames_are_stamped_where_their_exposure_was_and_passes_start_on_time() -> None:
    """Each streamed frame's z is where the stage was at the middle of its exposure, also for
    the last frame of a pass (the stage stopped during its grab) and the first (the stage run
    up to the pass's start, so it is not a stand still ringing from the move there)."""
    sim = small_sim(specimen="stained-tissue", start_um=9_000.0)
    exposed: dict[float, float] = {}  # the grab's end (the sample's time) -> z at mid-exposure
    grab = sim.camera.grab

    def watched_grab():  # type: ignore[no-untyped-def]
        mid = sim.clock.now() + sim.camera.exposure_s / 2
        frame = grab()
        move = sim.stage._move  # the trajectory the controller reports
        exposed[sim.clock.now()] = move.position(mid) if move is not None else sim.stage.position_um()
        return frame

    sim.camera.grab = watched_grab  # type: ignore[method-assign]
    space = SearchSpace(9_900.0, 10_100.0, 10.0, 9_000.0)
    probe = HardwareProbe(sim.devices(), space, lambda frame: float(frame.mean()), 0.0,
                          lambda event: None, None)
    began = sim.clock.now()
    probe.sweep(9_900.0, 10_100.0, 20.0)  # the first pass (its frame period is measured here)
    for start, end, spacing in [(10_060.0, 9_960.0, 10.0), (9_990.0, 10_030.0, 4.0)]:
        moving = [s for s in probe.sweep(start, end, spacing) if s.moving]
        assert abs(moving[0].z_um - start) <= 0.1 * spacing
        assert abs(moving[-1].z_um - end) <= 0.6 * spacing
        for sample in moving:
            truth = exposed[min(exposed, key=lambda t: abs(t - began - sample.t_s))]
            assert abs(sample.z_um - truth) <= 0.05 * spacing, (sample, truth)


def test_a_streamed_pass_stops_at_the_sweeps_frame_count_with_the_pipeline_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A strategy streaming three frames per step would take three times the sweep's frames;
    the budget stops the stream in time, counting the frames still being scored."""
    def greedy(probe, space):  # type: ignore[no-untyped-def]
        probe.sweep(space.lo_um, space.hi_um, space.step_um / 3)
        raise AssertionError("the budget should have stopped the pass")

    monkeypatch.setitem(STRATEGIES, "greedy", greedy)
    sim = small_sim(specimen="stained-tissue", start_um=9_900.0)
    result = run_autofocus(sim.devices(), settings(strategy="greedy", pipeline=True))
    assert result.frames <= len(sweep_positions(9_900.0, 10_100.0, 10.0))
