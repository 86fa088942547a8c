"""The settings form: where to search, how, and with which measure.

The form only collects numbers; :meth:`AutofocusSettings.validate` (called by the widget before
anything moves) owns every check, so the panel says exactly what the command line would.
"""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QPushButton,
    QWidget,
)

from autofocus.frames import Roi
from autofocus.gui.target import Defaults
from autofocus.metrics import METRICS
from autofocus.modes import MODES
from autofocus.runner import AutofocusSettings
from autofocus.search import DEFAULT_STRATEGY, STRATEGIES

__all__ = ["SettingsPanel"]

MODE_DEFAULT = "(the mode's)"
"""The measure entry that leaves the choice to the imaging mode (see :mod:`autofocus.modes`)."""


def spin(value: float, lo: float, hi: float, decimals: int, suffix: str, tip: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setDecimals(decimals)
    box.setValue(value)
    box.setSuffix(suffix)
    box.setToolTip(tip)
    box.setKeyboardTracking(False)
    return box


class SettingsPanel(QWidget):  # type: ignore[misc]  # Qt is opaque to mypy here
    """Range, step, strategy, mode, measure, ROI, settle and backlash.

    ``here_requested`` asks the widget to set the centre to the stage's current position;
    ``roi_toggled(bool)`` shows or hides the rectangle on the live image."""

    here_requested = Signal()
    roi_toggled = Signal(bool)

    def __init__(self, defaults: Defaults, parent: Any = None) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        # Wide bounds: the form must not clip a real position; the runner and the stage's
        # limits decide what is allowed.
        self.center = spin(defaults.center_um, -1e6, 1e6, 3, " µm",
                           "the middle of the search (default: where the stage is now)")
        here = QPushButton("here")
        here.setToolTip("centre the search on the stage's current position")
        here.clicked.connect(self.here_requested.emit)
        row = QHBoxLayout()
        row.addWidget(self.center, 1)
        row.addWidget(here)
        form.addRow("centre", row)
        self.range = spin(defaults.range_um, 0.0, 1e5, 3, " µm", "total width of the search")
        form.addRow("range", self.range)
        self.step = spin(defaults.step_um, 0.0, 1e4, 3, " µm",
                         "finest spacing the search needs (about the depth of field)")
        form.addRow("step", self.step)
        self.strategy = combo(list(STRATEGIES), defaults.strategy or DEFAULT_STRATEGY)
        form.addRow("strategy", self.strategy)
        self.mode = combo(list(MODES), "auto")
        self.mode.setToolTip("what the camera sees; picks the default measure and the curve's shape")
        form.addRow("mode", self.mode)
        self.metric = combo([MODE_DEFAULT, *METRICS], defaults.metric or MODE_DEFAULT)
        form.addRow("measure", self.metric)
        self.use_roi = QCheckBox("score only the rectangle on the image")
        self.use_roi.toggled.connect(self.roi_toggled.emit)
        form.addRow("ROI", self.use_roi)
        self.settle = spin(defaults.settle_s * 1000.0, 0.0, 60_000.0, 1, " ms", "wait after each move")
        form.addRow("settle", self.settle)
        self.backlash = spin(defaults.backlash_um, 0.0, 1e4, 3, " µm",
                             "approach the answer from this far below, to take up gear play")
        form.addRow("backlash", self.backlash)

    def settings(self, roi: Roi | None) -> AutofocusSettings:
        """The form as settings (not yet validated)."""
        center, half = self.center.value(), self.range.value() / 2
        metric = self.metric.currentText()
        return AutofocusSettings(
            start_um=center - half,
            end_um=center + half,
            step_um=self.step.value(),
            strategy=self.strategy.currentText(),
            metric=None if metric == MODE_DEFAULT else metric,
            mode=self.mode.currentText(),
            roi=roi if self.use_roi.isChecked() else None,
            settle_s=self.settle.value() / 1000.0,
            backlash_um=self.backlash.value(),
        )


def combo(items: list[str], current: str) -> QComboBox:
    box = QComboBox()
    box.addItems(items)
    if current in items:
        box.setCurrentText(current)
    return box
