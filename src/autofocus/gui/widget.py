"""The live autofocus panel: settings, Run and Stop, the live frame, the growing focus curve,
a status line and the history of runs.

Layout::

    +-----------+---------------------+---------------------+
    | settings  |  live frame + ROI   |  focus curve        |
    | Run Stop  +---------------------+---------------------+
    | Snap      |  tabs: History | Focus map | Tracking log |
    +-----------+-------------------------------------------+
    | status: result, confidence, reason                    |
    +-------------------------------------------------------+

``stacked=True`` (the napari dock) puts the settings above the curve, and the live image in the
first tab. The "Focus map" tab shows a focus map's picture (:meth:`AutofocusWidget.show_focus_map`
or a ``map.png`` opened there), the "Tracking log" tab a time-lapse's tracking log
(``panel.tracking_log.add_row(row)`` or a log file opened there): :mod:`autofocus.gui.workflow_tabs`.

The search runs on a :class:`autofocus.gui.worker.SearchThread`; this widget only shows what it
reports. Settings are checked by the runner's own validation before anything moves, so a bad
setting is one line in the status and the stage stays where it is.
"""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from autofocus.errors import AutofocusError, InputError
from autofocus.events import ProgressEvent
from autofocus.frames import Frame
from autofocus.gui.curve_view import CurveView
from autofocus.gui.history import HistoryTable, RunRecord
from autofocus.gui.live_view import LiveView
from autofocus.gui.settings_panel import SettingsPanel
from autofocus.gui.target import FocusTarget
from autofocus.gui.worker import SearchThread
from autofocus.gui.workflow_tabs import FocusMapView, TrackingLogView
from autofocus.result import FocusResult
from autofocus.runner import AutofocusSettings, allowed_interval

__all__ = ["AutofocusWidget"]

ERROR_STYLE = "color: #b00020;"


class AutofocusWidget(QWidget):  # type: ignore[misc]  # Qt is opaque to mypy here
    """Software autofocus you can watch and stop.

    ``target`` is a pymmcore-plus core (``CMMCorePlus``, ``UniMMCore`` or
    :class:`autofocus.micromanager.AutofocusCore`: the current focus device and camera are
    used) or an :class:`autofocus.devices.base.Microscope` (e.g. the simulator's). The widget
    never closes it: the caller owns the hardware. ``stacked=True`` puts the settings, the
    views and the tabs one above the other, for a narrow dock.

    Signals: ``run_started()``; ``run_finished(RunRecord)`` once the search thread has ended
    and the widget is ready to run again; ``frame_shown(frame)`` for every frame it displays
    (the napari dock mirrors them into a layer).
    """

    run_started = Signal()
    run_finished = Signal(object)
    frame_shown = Signal(object)

    def __init__(self, target: Any, parent: Any = None, *, stacked: bool = False) -> None:
        super().__init__(parent)
        self.target = target if isinstance(target, FocusTarget) else FocusTarget(target)
        self.settings_panel = SettingsPanel(self.target.defaults())
        self.live = LiveView()
        self.curve = CurveView()
        self.history = HistoryTable()
        self.tabs = QTabWidget()
        self.focus_map_view = FocusMapView()
        self.tracking_log = TrackingLogView()
        self.tabs.addTab(self.history, "History")
        self.tabs.addTab(self.focus_map_view, "Focus map")
        self.tabs.addTab(self.tracking_log, "Tracking log")
        self.run_button = QPushButton("Run")
        self.stop_button = QPushButton("Stop")
        self.snap_button = QPushButton("Snap")
        self.status = QLabel(f"ready on {self.target.description}")
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._thread: SearchThread | None = None
        self._settings: AutofocusSettings | None = None
        self._frames = 0
        self._returned_z: float | None = None
        self._record: RunRecord | None = None
        self.status.setWordWrap(True)  # a long reason wraps instead of widening the panel
        self._layout(stacked)
        self.run_button.clicked.connect(self.run)
        self.stop_button.clicked.connect(self.stop)
        self.snap_button.clicked.connect(self.snap)
        self.settings_panel.here_requested.connect(self._centre_here)
        self.settings_panel.roi_toggled.connect(self._roi_toggled)
        self.focus_map_view.shown.connect(self._bring_up_map)
        self._set_running(False)

    def _layout(self, stacked: bool) -> None:
        side = QVBoxLayout()
        side.addWidget(self.settings_panel)
        buttons = QHBoxLayout()
        for button in (self.run_button, self.stop_button, self.snap_button):
            buttons.addWidget(button)
        side.addLayout(buttons)
        if not stacked:
            side.addStretch(1)
        side_widget = QWidget()
        side_widget.setLayout(side)
        right = QSplitter(Qt.Orientation.Vertical)
        if stacked:
            # A narrow dock (napari shows the frames in its own canvas): the curve above the
            # tabs, the live image (where the ROI is drawn) the first tab.
            self.tabs.insertTab(0, self.live, "Image")
            self.tabs.setCurrentIndex(0)
            right.addWidget(self.curve)
        else:
            views = QSplitter(Qt.Orientation.Horizontal)
            views.addWidget(self.live)
            views.addWidget(self.curve)
            right.addWidget(views)
        right.addWidget(self.tabs)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2 if stacked else 1)
        self._splitter = right
        for view in (self.live, self.curve):
            view.setMinimumHeight(200)
        body = QVBoxLayout() if stacked else QHBoxLayout()
        body.addWidget(side_widget, 0)
        body.addWidget(right, 1)
        outer = QVBoxLayout(self)
        outer.addLayout(body, 1)
        outer.addWidget(self.status)

    # --- public API -----------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self._thread is not None

    def run(self) -> None:
        """Check the settings, then search on a thread of its own. A bad setting is shown in the
        status line and nothing moves."""
        if self._thread is not None:
            return
        settings = self.settings_panel.settings(self._roi())
        try:
            settings.validate()
            allowed_interval(settings, self.target.microscope.stage.limits_um)
        except InputError as exc:
            self._show_status(f"error: {exc}", error=True)
            return
        self._settings, self._frames, self._returned_z, self._record = settings, 0, None, None
        self.curve.clear()
        thread = SearchThread(self.target.microscope, settings)
        self.destroyed.connect(thread.request_stop)  # a deleted panel stops its search
        thread.progress.connect(self._on_progress)
        thread.scored.connect(self._on_scored)
        thread.succeeded.connect(self._on_succeeded)
        thread.ended_early.connect(self._on_ended_early)
        thread.finished.connect(self._on_thread_finished)
        self._thread = thread
        self._set_running(True)
        self._show_status("searching…")
        thread.start()
        self.run_started.emit()

    def stop(self) -> None:
        """End the search after the frame being taken now; the stage goes back to its start."""
        if self._thread is None:
            return
        self._thread.request_stop()
        self.stop_button.setEnabled(False)
        self._show_status("stopping: returning the stage to its start…")

    def snap(self) -> None:
        """Show one frame from the camera (not while a search runs: the search owns it)."""
        if self._thread is not None:
            return
        try:
            frame = self.target.snap()
        except AutofocusError as exc:
            self._show_status(f"error: {exc.describe()}", error=True)
            return
        self.live.show_now(frame)
        self.live.set_caption("snapped")  # between runs: the stage is where the status says
        self.frame_shown.emit(frame)

    def show_focus_map(self, focus_map: Any) -> None:
        """Draw a :class:`~autofocus.focusmap.FocusMap` in the "Focus map" tab and bring it up."""
        self.focus_map_view.show_map(focus_map)

    def _bring_up_map(self) -> None:
        """A map just shown: its tab in front, with at least half the height (the picture is
        unreadable in the strip the history needs; the splitter can be dragged back)."""
        self.tabs.setCurrentWidget(self.focus_map_view)
        sizes = self._splitter.sizes()
        if sum(sizes) > 0 and sizes[-1] < sum(sizes) / 2:
            half = sum(sizes) // 2
            self._splitter.setSizes([sum(sizes) - half, half])

    def set_tab(self, name: str, widget: QWidget) -> None:
        """Put a view in the tab ``name`` (replacing the one there, or adding the tab)."""
        for index in range(self.tabs.count()):
            if self.tabs.tabText(index) == name:
                self.tabs.removeTab(index)
                self.tabs.insertTab(index, widget, name)
                return
        self.tabs.addTab(widget, name)

    def shutdown(self) -> None:
        """Stop a running search and wait until the stage is back (closing the panel)."""
        thread = self._thread
        if thread is not None:
            thread.request_stop()
            thread.wait()

    def closeEvent(self, event: Any) -> None:
        self.shutdown()
        super().closeEvent(event)

    # --- what the search thread reports (on the GUI thread) -------------------------------------

    def _on_progress(self, event: ProgressEvent) -> None:
        if event.kind == "start":
            self._show_status(event.message)
        elif event.kind == "final-move" and event.z_um is not None:
            self._show_status(f"moving to the focus, {event.z_um:.2f} µm")
        elif event.kind == "returned":
            self._returned_z = event.z_um

    def _on_scored(self, index: int, z_um: float, score: float, coarse: float, frame: Frame) -> None:
        self._frames = index
        self.curve.add_point(z_um, score, coarse)
        self.live.show_frame(frame)
        self.live.set_caption(f"frame {index} at {z_um:.2f} µm")
        self.frame_shown.emit(frame)
        if self._thread is not None and not self._thread.stop_requested:
            self._show_status(f"frame {index} at {z_um:.2f} µm, score {score:.4g}")

    def _on_succeeded(self, result: FocusResult) -> None:
        self.curve.show_result(result)
        self._record = RunRecord.of_result(len(self.history.records) + 1, result)
        if result.focused and result.final_z_um is not None:
            self._show_status(
                f"focused at {result.final_z_um:.2f} µm · confidence {result.confidence:.2f} · "
                f"{result.frames} frames, {result.hardware_s:.2f} s of hardware time")
            self._remember(result)
        else:
            where = "" if result.final_z_um is None else f"; stage back at {result.final_z_um:.2f} µm"
            self._show_status(f"focus not found: {result.reason}{where}", error=True)

    def _on_ended_early(self, kind: str, message: str) -> None:
        assert self._settings is not None
        self.curve.show_returned(self._returned_z)
        self._record = RunRecord.ended_early(len(self.history.records) + 1, kind, self._settings,
                                             self._frames, message)
        self._show_status(f"{'stopped' if kind == 'stopped' else 'error'}: {message}", error=True)

    def _on_thread_finished(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.deleteLater()
        self._set_running(False)
        if self._record is not None:
            self.history.add(self._record)
        self.run_finished.emit(self._record)

    # --- helpers --------------------------------------------------------------------------------

    def _remember(self, result: FocusResult) -> None:
        if self._settings is None:
            return
        try:
            self.target.remember(self._settings)
        except Exception as exc:  # the run itself succeeded; say why the device kept its values
            self._show_status(f"{self.status.text()} (AutoFocus device not updated: {exc})")

    def _roi(self) -> Any:
        return self.live.roi()

    def _roi_toggled(self, on: bool) -> None:
        if on and self.live.frame_shape is None:
            self.snap()  # the rectangle is drawn on an image: take one
        self.live.show_roi(on)

    def _centre_here(self) -> None:
        try:
            self.settings_panel.center.setValue(self.target.position_um())
        except AutofocusError as exc:
            self._show_status(f"error: {exc.describe()}", error=True)

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.snap_button.setEnabled(not running)
        self.settings_panel.setEnabled(not running)

    def _show_status(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(ERROR_STYLE if error else "")

