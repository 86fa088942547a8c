"""Qt on the offscreen platform, and a simulated Micro-Manager core to focus.

Qt must be told its platform before the first QApplication exists (pytest-qt makes it on first
use of ``qtbot``): offscreen unless the environment names another, so no screen is needed and
nothing pops up on a developer's desktop.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# An explicit choice wins (QT_QPA_PLATFORM=xcb under xvfb-run gives napari the OpenGL its layers need).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from tests.conftest import small_sim

STEP_UM = 1.0
START_UM = 10_000.0  # 12.3 um below the simulator's true focus (10 012.3 um)
RANGE_UM = 60.0


class GatedCamera:
    """The simulator's camera, with a gate: grab number ``hold_at`` waits until ``release`` is
    set, so a test can act while a known frame is in flight. Counts every grab."""

    def __init__(self, camera: Any) -> None:
        self._camera = camera
        self.grabs = 0
        self.hold_at: int | None = None
        self.held = threading.Event()
        self.release = threading.Event()
        self.timed_out = False

    @property
    def exposure_s(self) -> float:
        return float(self._camera.exposure_s)

    def grab(self) -> Any:
        self.grabs += 1
        if self.grabs == self.hold_at:
            self.held.set()
            # A bounded wait: a GUI that never lets the test release the gate fails the test
            # instead of hanging it.
            self.timed_out = not self.release.wait(timeout=30)
        return self._camera.grab()


@pytest.fixture
def slide() -> Any:
    pytest.importorskip("pymmcore_plus")
    from autofocus.sim.mmdevices import SimulatedSlide

    return SimulatedSlide(small_sim(start_um=START_UM))


@pytest.fixture
def gate(slide: Any) -> GatedCamera:
    gated = GatedCamera(slide.sim.camera)
    slide.sim.camera = gated  # the core's camera device takes it from the slide
    return gated


@pytest.fixture
def core(tmp_path: Path, slide: Any, gate: GatedCamera) -> Iterator[Any]:
    from autofocus.micromanager import AutofocusCore
    from autofocus.sim.mmdevices import load_simulated_devices

    mmc = AutofocusCore(mm_path=str(tmp_path))
    load_simulated_devices(mmc, slide)
    gate.grabs = 0  # loading the camera grabbed a probe frame; count the search's only
    yield mmc
    mmc.unloadAllDevices()


def set_search(widget: Any, *, range_um: float = RANGE_UM, step_um: float = STEP_UM,
               center_um: float = START_UM) -> None:
    panel = widget.settings_panel
    panel.center.setValue(center_um)
    panel.range.setValue(range_um)
    panel.step.setValue(step_um)
