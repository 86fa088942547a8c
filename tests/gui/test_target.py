"""The panel on a plain Microscope (the simulator's) and on an AutofocusCore's AutoFocus device."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("qtpy.QtWidgets", reason="the panel needs the [gui] extra (qtpy + a Qt binding)")
pytest.importorskip("pyqtgraph", reason="the panel needs the [gui] extra (pyqtgraph)")
pytest.importorskip("pytestqt", reason="the panel's tests need pytest-qt")

from tests.conftest import small_sim
from tests.gui.conftest import GatedCamera, set_search

from autofocus.devices.base import Microscope
from autofocus.errors import InputError
from autofocus.gui import AutofocusWidget
from autofocus.gui.target import FocusTarget

RUN_TIMEOUT_MS = 60_000


def test_a_plain_microscope_focuses_through_the_panel(qtbot: Any) -> None:
    sim = small_sim(start_um=10_000.0)
    panel = AutofocusWidget(sim.devices())
    qtbot.addWidget(panel)
    set_search(panel, range_um=60.0, step_um=1.0)
    with qtbot.waitSignal(panel.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        panel.run_button.click()
    assert finished.args[0].outcome == "focused"
    assert abs(sim.stage.position_um() - sim.true_focus_um) <= 1.0


def test_stop_during_a_streamed_pass_stops_the_moving_stage_and_returns_it(qtbot: Any) -> None:
    sim = small_sim(start_um=10_000.0)
    gate = GatedCamera(sim.camera)
    scope = Microscope(sim.stage, gate, sim.clock)  # the simulator's stage streams (continuous)
    panel = AutofocusWidget(scope)
    qtbot.addWidget(panel)
    set_search(panel, range_um=60.0, step_um=1.0)
    panel.settings_panel.strategy.setCurrentText("continuous")
    gate.hold_at = 4
    panel.run_button.click()
    assert gate.held.wait(timeout=30)
    assert sim.stage.is_moving()  # a frame of the streamed first pass is in flight
    with qtbot.waitSignal(panel.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        panel.stop_button.click()
        gate.release.set()
    assert finished.args[0].outcome == "stopped"
    assert gate.grabs == 4
    assert not sim.stage.is_moving()
    assert sim.stage.position_um() == pytest.approx(10_000.0)


def test_settings_of_a_focused_run_are_written_to_the_cores_autofocus_device(
        qtbot: Any, core: Any) -> None:
    from autofocus.micromanager import install_software_autofocus

    device = install_software_autofocus(core, search_range_um=40.0, step_um=2.0, strategy="sweep")
    panel = AutofocusWidget(core)
    qtbot.addWidget(panel)
    form = panel.settings_panel
    assert (form.range.value(), form.step.value(), form.strategy.currentText()) == (40.0, 2.0, "sweep")
    set_search(panel, range_um=60.0, step_um=1.0)
    form.strategy.setCurrentText("coarse-to-fine")
    with qtbot.waitSignal(panel.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        panel.run_button.click()
    assert finished.args[0].outcome == "focused"
    options = device.settings_options()
    assert (options["range_um"], options["step_um"], options["strategy"]) == (60.0, 1.0, "coarse-to-fine")
    assert options["metric"] == finished.args[0].metric


def test_anything_else_is_refused_in_one_line() -> None:
    with pytest.raises(InputError, match="needs a pymmcore-plus core or an autofocus Microscope"):
        FocusTarget(object())
