"""Acceptance: a pymmcore-plus MDA with `AxesBasedAF` runs our software autofocus at each position.

Positions sit on a tilted slide, so each has a different true focus height, and each position's
nominal z is off focus. The recorded z-stacks must be centred on the true focus within one z step.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest

pytest.importorskip("pymmcore_plus")
pytest.importorskip("useq")

import useq
from tests.conftest import small_sim

from autofocus.events import ProgressEvent
from autofocus.micromanager import AutofocusCore, install_software_autofocus
from autofocus.sim.mmdevices import SimulatedSlide, tilted

Z_STEP_UM = 1.0
NOMINAL_Z_UM = 10_005.0  # where the user thinks focus is: 7..23 um off on this slide
X_POSITIONS_UM = (0.0, 800.0, 1_600.0)


@pytest.fixture
def slide() -> SimulatedSlide:
    # 10 um of height per mm of x: the three positions' focus differs by 8 um each.
    return SimulatedSlide(small_sim(start_um=NOMINAL_Z_UM), tilted(10.0))




@dataclass
class Recorded:
    """Where each position's frames were really taken, and that position's true focus."""

    stacks: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    truths: dict[int, float] = field(default_factory=dict)

    def centre(self, p: int) -> float:
        return sum(self.stacks[p]) / len(self.stacks[p])


def run_mda(core: AutofocusCore, slide: SimulatedSlide, plan: useq.AxesBasedAF) -> Recorded:
    recorded = Recorded()

    def record(image: Any, event: Any, meta: Any = None) -> None:
        p = event.index["p"]
        recorded.stacks[p].append(core.getPosition())
        recorded.truths[p] = slide.true_focus_um(*slide.xy_um)

    core.mda.events.frameReady.connect(record)
    core.mda.run(
        useq.MDASequence(
            stage_positions=[useq.Position(x=x, y=0.0, z=NOMINAL_Z_UM) for x in X_POSITIONS_UM],
            z_plan=useq.ZRangeAround(range=6.0, step=Z_STEP_UM),
            autofocus_plan=plan,
        )
    )
    return recorded


@pytest.mark.timeout(60)
def test_mda_z_stacks_are_centred_on_the_true_focus(core: AutofocusCore, slide: SimulatedSlide) -> None:
    device = install_software_autofocus(core, search_range_um=60.0, step_um=1.0)
    searches: list[ProgressEvent] = []
    device.on_event = lambda event: searches.append(event) if event.kind == "start" else None

    recorded = run_mda(core, slide, useq.AxesBasedAF(axes=("p",)))

    assert len(searches) == len(X_POSITIONS_UM)  # one autofocus per position
    assert sorted(recorded.stacks) == [0, 1, 2]
    assert recorded.truths[1] - recorded.truths[0] == pytest.approx(8.0)  # the positions differ
    for p, zs in recorded.stacks.items():
        assert len(zs) == 7
        assert abs(recorded.centre(p) - recorded.truths[p]) <= Z_STEP_UM, (p, zs, recorded.truths[p])


@pytest.mark.timeout(60)
def test_mda_autofocus_offset_shifts_every_stack(core: AutofocusCore, slide: SimulatedSlide) -> None:
    # useq's autofocus_motor_offset reaches the device through core.setAutoFocusOffset.
    install_software_autofocus(core, search_range_um=60.0, step_um=1.0)
    recorded = run_mda(core, slide, useq.AxesBasedAF(axes=("p",), autofocus_motor_offset=3.0))
    assert core.getAutoFocusOffset() == pytest.approx(3.0)
    for p in recorded.stacks:
        assert abs(recorded.centre(p) - (recorded.truths[p] + 3.0)) <= Z_STEP_UM
