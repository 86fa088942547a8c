"""Acceptance of the live panel on the simulated Micro-Manager core (pytest-qt, offscreen Qt)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("qtpy.QtWidgets", reason="the panel needs the [gui] extra (qtpy + a Qt binding)")
pytest.importorskip("pyqtgraph", reason="the panel needs the [gui] extra (pyqtgraph)")
pytest.importorskip("pytestqt", reason="the panel's tests need pytest-qt")
pytest.importorskip("pymmcore_plus", reason="these tests run on a simulated Micro-Manager core")

from qtpy.QtCore import QTimer
from qtpy.QtGui import QImage
from tests.gui.conftest import RANGE_UM, START_UM, STEP_UM, GatedCamera, set_search

from autofocus.gui import AutofocusWidget
from autofocus.gui.history import RunRecord

RUN_TIMEOUT_MS = 60_000  # a guard against a hang, not a speed requirement


@pytest.fixture
def widget(qtbot: Any, core: Any) -> AutofocusWidget:
    panel = AutofocusWidget(core)
    qtbot.addWidget(panel)
    set_search(panel)
    return panel


def run_once(qtbot: Any, widget: AutofocusWidget) -> RunRecord:
    with qtbot.waitSignal(widget.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        widget.run_button.click()
    record: RunRecord = finished.args[0]
    return record


def test_a_run_reaches_focus_within_one_step_with_one_curve_point_per_frame(
        qtbot: Any, widget: AutofocusWidget, core: Any, slide: Any, gate: GatedCamera) -> None:
    shown: list[Any] = []
    widget.frame_shown.connect(shown.append)
    record = run_once(qtbot, widget)

    truth = slide.true_focus_um(*slide.xy_um)
    assert record.outcome == "focused", record.reason
    assert abs(core.getPosition() - truth) <= STEP_UM
    assert record.z_um == pytest.approx(core.getPosition())
    assert record.frames == gate.grabs  # every frame the camera took was scored
    assert widget.curve.point_count() == record.frames == len(shown)
    coarse_z, _ = widget.curve.coarse_points.getData()
    assert len(coarse_z) == record.frames  # both scores of every frame
    assert widget.status.text().startswith("focused at")
    assert "confidence" in widget.status.text()
    assert widget.curve.answer_text().startswith("focus ")
    assert widget.history.rowCount() == 1
    assert widget.live.frame_shape == (256, 256)


def test_stop_mid_search_returns_the_stage_to_its_start_within_one_frame(
        qtbot: Any, widget: AutofocusWidget, core: Any, gate: GatedCamera) -> None:
    start = core.getPosition()
    gate.hold_at = 6
    widget.run_button.click()
    assert gate.held.wait(timeout=30), "the search never reached its sixth frame"
    assert widget.is_running() and widget.stop_button.isEnabled()
    # Stop while the sixth frame is being taken: the search must end with that frame.
    with qtbot.waitSignal(widget.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        widget.stop_button.click()
        gate.release.set()
    record: RunRecord = finished.args[0]

    assert record.outcome == "stopped"
    assert gate.grabs == 6  # no frame after the one in flight
    assert record.frames == 6 == widget.curve.point_count()
    assert core.getPosition() == pytest.approx(start)
    assert widget.status.text().startswith("stopped: stopped by the user; stage returned to its start")
    assert widget.curve.answer_text() == "stopped: back at start"
    # ... and the widget is ready to run again.
    assert widget.run_button.isEnabled() and not widget.stop_button.isEnabled()
    assert not widget.is_running() and widget.settings_panel.isEnabled()
    gate.hold_at = None
    again = run_once(qtbot, widget)
    assert again.outcome == "focused"
    assert [r.outcome for r in widget.history.records] == ["stopped", "focused"]


def test_a_step_larger_than_the_range_is_one_line_and_moves_nothing(
        qtbot: Any, widget: AutofocusWidget, core: Any, gate: GatedCamera) -> None:
    start = core.getPosition()
    set_search(widget, range_um=RANGE_UM, step_um=RANGE_UM + 10)
    widget.run_button.click()

    text = widget.status.text()
    assert text == "error: step is larger than the range: there would be nothing to compare"
    assert "\n" not in text
    assert not widget.is_running() and widget.run_button.isEnabled()
    assert core.getPosition() == start
    assert gate.grabs == 0
    assert widget.history.rowCount() == 0


def test_the_gui_keeps_processing_events_while_a_search_runs(
        qtbot: Any, widget: AutofocusWidget, gate: GatedCamera) -> None:
    ticks_while_running: list[bool] = []

    def tick() -> None:
        ticks_while_running.append(widget.is_running())
        if sum(ticks_while_running) >= 3:
            gate.release.set()  # only a live event loop can let the search go on

    timer = QTimer()
    timer.setInterval(100)
    timer.timeout.connect(tick)
    timer.start()
    gate.hold_at = 3
    record = run_once(qtbot, widget)
    timer.stop()

    assert not gate.timed_out, "the timer stopped firing while the search ran"
    assert sum(ticks_while_running) >= 3
    assert record.outcome == "focused"


def test_a_screenshot_after_a_run_shows_the_panel(qtbot: Any, widget: AutofocusWidget,
                                                  tmp_path: Path) -> None:
    widget.resize(1400, 800)
    widget.show()
    qtbot.waitExposed(widget)
    run_once(qtbot, widget)
    qtbot.wait(100)  # one refresh of the live image
    path = tmp_path / "autofocus_widget.png"
    assert widget.grab().save(str(path))

    image = QImage(str(path))
    assert (image.width(), image.height()) == (1400, 800)
    colours = {image.pixel(x, y) for x in range(0, 1400, 25) for y in range(0, 800, 25)}
    assert len(colours) > 50  # an image, a plot and text; a blank or black grab has a handful


def test_roi_drawn_on_the_image_is_the_region_scored(qtbot: Any, widget: AutofocusWidget) -> None:
    widget.settings_panel.use_roi.setChecked(True)  # snaps a frame to draw on
    assert widget.live.frame_shape == (256, 256)
    widget.live.set_roi((40, 60, 100, 80))
    assert widget.settings_panel.settings(widget.live.roi()).roi == (40, 60, 100, 80)
    widget.live.set_roi((200, 220, 500, 500))  # dragged past the frame's edge: kept inside
    assert widget.live.roi() == (0, 0, 256, 256)
    record = run_once(qtbot, widget)
    assert record.outcome == "focused"


def test_start_position_is_the_default_centre(qtbot: Any, core: Any) -> None:
    panel = AutofocusWidget(core)
    qtbot.addWidget(panel)
    assert panel.settings_panel.center.value() == pytest.approx(START_UM)


def test_a_panel_deleted_mid_search_stops_it_and_returns_the_stage(
        qtbot: Any, core: Any, gate: GatedCamera) -> None:
    panel = AutofocusWidget(core)  # not given to qtbot: this test deletes it itself
    set_search(panel)
    start = core.getPosition()
    gate.hold_at = 4
    panel.run_button.click()
    assert gate.held.wait(timeout=30)
    thread = panel._thread  # the test needs a handle on the run that outlives the panel
    assert thread is not None
    panel.deleteLater()
    qtbot.waitUntil(lambda: thread.stop_requested, timeout=10_000)  # destroyed -> Stop
    gate.release.set()
    qtbot.waitUntil(lambda: thread.isFinished(), timeout=RUN_TIMEOUT_MS)
    assert gate.grabs == 4
    assert core.getPosition() == pytest.approx(start)


def test_focus_not_found_says_why_and_the_stage_is_back(
        qtbot: Any, widget: AutofocusWidget, core: Any) -> None:
    start = core.getPosition()
    set_search(widget, center_um=START_UM - 400.0)  # 400 um below focus: nothing to see
    record = run_once(qtbot, widget)

    assert record.outcome == "not_found" and record.reason
    assert widget.status.text() == f"focus not found: {record.reason}; stage back at {start:.2f} µm"
    assert core.getPosition() == pytest.approx(start)
    assert widget.curve.answer_text() == "not found: back at start"
    assert widget.history.item(0, 7).text() == record.reason
