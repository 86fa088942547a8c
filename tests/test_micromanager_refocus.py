"""Acceptance (issue 12): a pymmcore-plus MDA with `AxesBasedAF` refocuses each position from the
focus last found there, falls back to the full search when refocus says focus is not near, and
writes every autofocus result into the metadata of the frames that follow.

Three positions on a tilted slide (different true heights) x 5 time points 60 s apart, on the
simulator's virtual clock, with a focus drift of 3 um (0.8 DOF) per interval: without refocusing,
the last time point would be 12 um (3 DOF) out of focus.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

pytest.importorskip("pymmcore_plus")
pytest.importorskip("useq")

import useq
from tests.conftest import small_sim

from autofocus.curve import FocusCurve
from autofocus.errors import FocusNotFound
from autofocus.micromanager import AutofocusCore, SoftwareAutofocus, install_software_autofocus
from autofocus.mm_refocus import METADATA_KEY, PositionFocus, Spot, answered_by, spot_of
from autofocus.result import FocusResult
from autofocus.sim.mmdevices import SimulatedSlide, on_virtual_clock, tilted

NOMINAL_Z_UM = 10_005.0
X_POSITIONS_UM = (0.0, 800.0, 1_600.0)
INTERVAL_S = 60.0
DRIFT_UM_S = 0.05  # 3 um per interval
TIME_POINTS = 5


class Bumps:
    """The slide's height: tilted 10 um/mm, plus a step at chosen x (someone moved the dish)."""

    def __init__(self) -> None:
        self.tilt = tilted(10.0)
        self.steps: dict[float, float] = {}

    def __call__(self, x_um: float, y_um: float) -> float:
        return self.tilt(x_um, y_um) + self.steps.get(x_um, 0.0)


@pytest.fixture
def bumps() -> Bumps:
    return Bumps()


@pytest.fixture
def slide(bumps: Bumps) -> SimulatedSlide:
    return SimulatedSlide(small_sim(start_um=NOMINAL_Z_UM, drift_um_s=DRIFT_UM_S), bumps)




def install(core: AutofocusCore, slide: SimulatedSlide, **properties: Any) -> SoftwareAutofocus:
    return install_software_autofocus(core, search_range_um=80.0, step_um=1.0,
                                      depth_of_field_um=slide.sim.depth_of_field_um(), **properties)


@dataclass(frozen=True)
class Frame:
    p: int
    t: int
    z_um: float
    true_um: float
    meta: dict[str, Any]

    @property
    def af(self) -> dict[str, Any]:
        return dict(self.meta["extra"][METADATA_KEY])


def run_mda(core: AutofocusCore, slide: SimulatedSlide, positions: tuple[float, ...] = X_POSITIONS_UM,
            time_points: int = TIME_POINTS, on_event: Any = None) -> dict[tuple[int, int], Frame]:
    frames: dict[tuple[int, int], Frame] = {}

    def record(image: Any, event: useq.MDAEvent, meta: dict[str, Any]) -> None:
        p, t = event.index.get("p", 0), event.index.get("t", 0)
        frames[p, t] = Frame(p, t, core.getPosition(), slide.true_focus_um(*slide.xy_um), meta)

    core.mda.events.frameReady.connect(record)
    if on_event is not None:
        core.mda.events.eventStarted.connect(on_event)
    sequence = useq.MDASequence(
        stage_positions=[useq.Position(x=x, y=0.0, z=NOMINAL_Z_UM) for x in positions],
        time_plan=useq.TIntervalLoops(interval=INTERVAL_S, loops=time_points),
        autofocus_plan=useq.AxesBasedAF(axes=("t", "p")),
    )
    core.mda.run(on_virtual_clock(sequence, slide.sim.clock))
    return frames


def step_at(bumps: Bumps, t: int, x_um: float, height_um: float) -> Any:
    """An eventStarted slot: at time point ``t``, while the stage is at the first position,
    the slide at ``x_um`` steps by ``height_um``."""

    def on_event(event: useq.MDAEvent) -> None:
        if event.index.get("t") == t and event.index.get("p") == 0:
            bumps.steps[x_um] = height_um

    return on_event


@pytest.mark.timeout(120)
def test_each_position_refocuses_from_its_own_last_focus(core: AutofocusCore,
                                                          slide: SimulatedSlide) -> None:
    dof = slide.sim.depth_of_field_um()
    install(core, slide)
    frames = run_mda(core, slide)

    assert sorted(frames) == [(p, t) for p in range(3) for t in range(TIME_POINTS)]
    for p in range(3):
        # The drift is real: staying at the first focus would leave the last frames 3 DOF off.
        assert frames[p, TIME_POINTS - 1].true_um - frames[p, 0].true_um > 2.5 * dof
        first = frames[p, 0].af
        assert first["strategy"] == "coarse-to-fine" and first["prior_um"] is None
        assert first["event_index"] == {"t": 0, "p": p}
        for t in range(1, TIME_POINTS):
            af, before = frames[p, t].af, frames[p, t - 1].af
            assert af["event_index"] == {"t": t, "p": p}
            assert af["status"] == "focused" and af["reason_code"] == ""
            assert af["strategy"] == "refocus" and af["answered_by"] == "refocus", af
            assert af["method"].startswith("refocus-")
            assert af["prior_um"] == pytest.approx(before["z_um"])  # this position's memory
            assert af["frames"] <= 6 < first["frames"]
            assert af["correction_um"] == pytest.approx(af["z_um"] - af["start_z_um"])
            # The correction measures the drift since this position's last autofocus.
            drift = frames[p, t].true_um - frames[p, t - 1].true_um
            assert af["correction_um"] == pytest.approx(drift, abs=dof / 2)
    for frame in frames.values():
        assert abs(frame.z_um - frame.true_um) <= dof / 4, (frame.p, frame.t, frame.z_um, frame.true_um)
        assert frame.meta["exposure_ms"] > 0 and "mda_event" in frame.meta  # the engine's own keys
        json.dumps(frame.af)  # plain data for any writer


@pytest.mark.timeout(120)
def test_refocus_miss_falls_back_to_the_full_search(core: AutofocusCore, slide: SimulatedSlide,
                                                     bumps: Bumps) -> None:
    dof = slide.sim.depth_of_field_um()
    install(core, slide)
    # At time point 3 the third position's specimen sits 20 um (5 DOF) higher: beyond refocus's
    # window, inside the search range.
    frames = run_mda(core, slide, on_event=step_at(bumps, 3, X_POSITIONS_UM[2], 20.0))

    jumped = frames[2, 3]
    assert jumped.true_um - frames[2, 2].true_um > 5 * dof
    af = jumped.af
    assert af["status"] == "focused" and af["strategy"] == "refocus"
    assert af["answered_by"] == "coarse-to-fine" and not af["method"].startswith("refocus-")
    assert af["correction_um"] == pytest.approx(20.0 + INTERVAL_S * DRIFT_UM_S, abs=dof / 2)
    assert frames[2, 4].af["answered_by"] == "refocus"  # from the new focus on
    assert frames[2, 4].af["prior_um"] == pytest.approx(af["z_um"])
    for p in (0, 1):
        assert all(frames[p, t].af["answered_by"] == "refocus" for t in range(1, TIME_POINTS))
    for frame in frames.values():
        assert abs(frame.z_um - frame.true_um) <= dof / 4, (frame.p, frame.t, frame.z_um, frame.true_um)


@pytest.mark.timeout(120)
def test_focus_not_found_is_in_the_metadata_and_the_memory_kept(core: AutofocusCore,
                                                                 slide: SimulatedSlide,
                                                                 bumps: Bumps) -> None:
    install(core, slide)
    # The second position's specimen leaves the search range at time point 1 (an empty field).
    frames = run_mda(core, slide, positions=X_POSITIONS_UM[:2], time_points=3,
                     on_event=step_at(bumps, 1, X_POSITIONS_UM[1], 300.0))
    found = frames[1, 0].af["z_um"]
    for t in (1, 2):
        af = frames[1, t].af
        assert af["status"] == "not_found" and af["reason_code"] != "" and af["reason"]
        assert af["z_um"] is None and af["correction_um"] is None and af["answered_by"] == ""
        assert af["strategy"] == "refocus" and af["prior_um"] == pytest.approx(found)
        assert af["attempt"] == 3  # the engine's retries, each recorded; the last one is shown
        # Not found: the stage went back; the MDA images where it stood (the last focus).
        assert frames[1, t].z_um == pytest.approx(found, abs=0.05)
    assert frames[0, 2].af["answered_by"] == "refocus"  # the other position is unaffected


@pytest.mark.timeout(120)
def test_refocus_in_mda_off_runs_the_full_search_every_time(core: AutofocusCore,
                                                             slide: SimulatedSlide) -> None:
    dof = slide.sim.depth_of_field_um()
    install(core, slide)
    core.setProperty("SoftwareAutofocus", "RefocusInMDA", "No")
    frames = run_mda(core, slide, positions=X_POSITIONS_UM[:1], time_points=3)
    for t in range(3):
        af = frames[0, t].af
        assert af["strategy"] == "coarse-to-fine" and af["prior_um"] is None
        assert abs(frames[0, t].z_um - frames[0, t].true_um) <= dof / 4


@pytest.mark.timeout(120)
def test_a_new_mda_starts_with_full_searches(core: AutofocusCore, slide: SimulatedSlide) -> None:
    device = install(core, slide)
    run_mda(core, slide, positions=X_POSITIONS_UM[:1], time_points=1)
    assert len(device.positions) == 1
    frames = run_mda(core, slide, positions=X_POSITIONS_UM[:1], time_points=2)
    assert frames[0, 0].af["strategy"] == "coarse-to-fine"
    assert frames[0, 1].af["strategy"] == "refocus"


def test_plain_full_focus_has_no_position_and_no_prior(core: AutofocusCore, slide: SimulatedSlide) -> None:
    device = install(core, slide)
    core.setPosition(slide.true_focus_um(0.0, 0.0) + 3.0)
    core.fullFocus()
    core.fullFocus()
    assert device.last_result is not None and device.last_result.strategy == "coarse-to-fine"
    assert len(device.positions) == 0


def result(status: str, z: float | None, strategy: str = "refocus", method: str = "") -> FocusResult:
    return FocusResult(status, z, 1.0 if z is not None else None, FocusCurve(), strategy,  # type: ignore[arg-type]
                       method=method)


def spot(z: float | None, p: int = 0) -> Spot:
    return spot_of(useq.MDAEvent(index={"p": p, "t": 0}, x_pos=100.0, y_pos=0.0, z_pos=z))


def test_memory_is_per_position_and_follows_the_planned_z() -> None:
    memory = PositionFocus()
    assert memory.prior_um() is None  # outside an MDA
    with memory.at(spot(50.0)) as records:
        assert memory.prior_um() is None  # first visit
        memory.record(result("focused", 57.0, "coarse-to-fine", "gaussian-fit"), 50.0, None)
    assert records[0].correction_um == pytest.approx(7.0)
    with memory.at(spot(50.0, p=1)):
        assert memory.prior_um() is None  # another position
    with memory.at(spot(60.0)):
        assert memory.prior_um() == pytest.approx(67.0)  # the MDA moved this position up 10 um
        memory.record(result("not_found", None), 67.0, 67.0)
    with memory.at(spot(50.0)):
        assert memory.prior_um() == pytest.approx(57.0)  # a miss keeps the last good focus
    memory.record(result("focused", 1.0), 0.0, None)  # outside an MDA: not remembered
    assert len(memory) == 1


def test_answered_by_names_the_search_that_placed_the_answer() -> None:
    assert answered_by(result("focused", 1.0, "refocus", "refocus-gaussian-fit")) == "refocus"
    assert answered_by(result("focused", 1.0, "refocus", "gaussian-fit")) == "coarse-to-fine"
    assert answered_by(result("focused", 1.0, "brent", "parabola-fit")) == "brent"
    assert answered_by(result("not_found", None)) == ""


def test_full_focus_not_found_raises_with_the_results_reason_code(core: AutofocusCore,
                                                                  slide: SimulatedSlide,
                                                                  bumps: Bumps) -> None:
    device = install(core, slide)
    x_um, _ = core.getXYPosition()
    bumps.steps[x_um] = 3_000.0  # the specimen far beyond the search range: an empty field
    with pytest.raises(FocusNotFound) as caught:
        device.full_focus(core)
    assert device.last_result is not None and not device.last_result.focused
    assert caught.value.kind == device.last_result.reason_code == "flat"  # not the message text
    assert caught.value.reason == device.last_result.reason
