"""The focus curve, growing one point per scored frame.

The fine score (the chosen measure, left axis) and the coarse score (the mode's broad measure on
a downsampled frame, right axis: its units differ) are drawn as points in the order the frames
came, with a line through them in z order. When the run ends, the fitted peak is starred and the
answer (where the stage ended) is a labelled vertical line; when focus was not found, the line
marks the start the stage went back to.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg
from qtpy.QtWidgets import QVBoxLayout, QWidget

from autofocus.result import FocusResult

__all__ = ["CurveView"]

FINE = (31, 119, 180)
COARSE = (255, 127, 14)
ANSWER = (44, 160, 44)
RETURNED = (214, 39, 40)


def sorted_line(z: list[float], y: list[float]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    order = np.argsort(np.asarray(z), kind="stable")
    return np.asarray(z)[order], np.asarray(y)[order]


class CurveView(QWidget):  # type: ignore[misc]  # Qt is opaque to mypy here
    """Fine and coarse scores against z (µm), the fitted peak and the answer."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget()
        self.plot.setBackground("w")
        item = self.plot.getPlotItem()
        item.setLabel("bottom", "z (µm)")
        item.setLabel("left", "fine score", color=FINE)
        item.showAxis("right")
        item.setLabel("right", "coarse score", color=COARSE)
        item.showGrid(x=True, y=True, alpha=0.2)
        for side in ("left", "bottom", "right"):
            item.getAxis(side).setTextPen("k")
        self.legend = item.addLegend(offset=(10, 10), labelTextColor="k", brush=(255, 255, 255, 210))
        # The coarse score has its own units: a second view box on the right axis, same z.
        self._coarse_box = pg.ViewBox()
        item.scene().addItem(self._coarse_box)
        item.getAxis("right").linkToView(self._coarse_box)
        self._coarse_box.setXLink(item)
        item.getViewBox().sigResized.connect(self._match_boxes)

        self.fine_line = item.plot(pen=pg.mkPen(FINE, width=1))
        self.fine_points = item.plot(pen=None, symbol="o", symbolSize=6, symbolBrush=FINE,
                                     symbolPen=None, name="fine (the measure)")
        self.coarse_line = pg.PlotDataItem(pen=pg.mkPen(COARSE, width=1, style=pg.QtCore.Qt.DashLine))
        self.coarse_points = pg.PlotDataItem(pen=None, symbol="t", symbolSize=6, symbolBrush=COARSE,
                                             symbolPen=None, name="coarse (bracketing)")
        self._coarse_box.addItem(self.coarse_line)
        self._coarse_box.addItem(self.coarse_points)
        self.legend.addItem(self.coarse_points, "coarse (bracketing)")
        self.peak = item.plot(pen=None, symbol="star", symbolSize=18, symbolBrush=ANSWER,
                              symbolPen=pg.mkPen("k"), name="fitted peak")
        self.stage_line = pg.InfiniteLine(angle=90, pen=pg.mkPen((120, 120, 120), width=1))
        self.answer_line = pg.InfiniteLine(
            angle=90, pen=pg.mkPen(ANSWER, width=2),
            label="", labelOpts={"position": 0.6, "color": (0, 0, 0), "fill": (255, 255, 255, 200)})
        for line in (self.stage_line, self.answer_line):
            line.setVisible(False)
            item.addItem(line)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        self.clear()

    def _match_boxes(self) -> None:
        main = self.plot.getPlotItem().getViewBox()
        self._coarse_box.setGeometry(main.sceneBoundingRect())
        self._coarse_box.linkedViewChanged(main, self._coarse_box.XAxis)

    def clear(self) -> None:
        self._z: list[float] = []
        self._fine: list[float] = []
        self._coarse: list[float] = []
        for data in (self.fine_line, self.fine_points, self.coarse_line, self.coarse_points, self.peak):
            data.setData([], [])
        self.stage_line.setVisible(False)
        self.answer_line.setVisible(False)
        self.plot.getPlotItem().setTitle("")

    def point_count(self) -> int:
        """Points on the fine curve (one per scored frame)."""
        x, _ = self.fine_points.getData()
        return 0 if x is None else len(x)

    def add_point(self, z_um: float, fine: float, coarse: float) -> None:
        self._z.append(z_um)
        self._fine.append(fine)
        self._coarse.append(coarse)
        self.fine_points.setData(self._z, self._fine)
        self.coarse_points.setData(self._z, self._coarse)
        self.fine_line.setData(*sorted_line(self._z, self._fine))
        self.coarse_line.setData(*sorted_line(self._z, self._coarse))
        self.stage_line.setPos(z_um)
        self.stage_line.setVisible(True)

    def show_result(self, result: FocusResult) -> None:
        """The fitted peak and the answer of a finished run."""
        self.stage_line.setVisible(False)
        if result.focused and result.best_z_um is not None and result.score is not None:
            self.peak.setData([result.best_z_um], [result.score])
            final = result.final_z_um if result.final_z_um is not None else result.best_z_um
            self._show_answer(final, f"focus {final:.2f} µm", ANSWER)
            self._title(f"focus at {final:.2f} µm, confidence {result.confidence:.2f}", ANSWER)
        else:
            if result.final_z_um is not None:
                self._show_answer(result.final_z_um, "not found: back at start", RETURNED)
            self._title("focus not found (the status line says why)", RETURNED)  # short: a
            # title as long as a reason would widen the plot past its pane

    def show_returned(self, z_um: float | None) -> None:
        """A stopped or failed run: where the stage went back to."""
        self.stage_line.setVisible(False)
        if z_um is not None:
            self._show_answer(z_um, "stopped: back at start", RETURNED)
        self._title("stopped: the stage went back to its start", RETURNED)

    def _title(self, text: str, colour: tuple[int, int, int]) -> None:
        self.plot.getPlotItem().setTitle(text, color=colour)

    def _show_answer(self, z_um: float, text: str, colour: tuple[int, int, int]) -> None:
        self.answer_line.setPen(pg.mkPen(colour, width=2))
        self.answer_line.setPos(z_um)
        self.answer_line.setVisible(True)  # first: a hidden line's label ignores new text
        self.answer_line.label.setFormat(text)
        # Show every point and the line (the start can lie outside the searched range).
        xs = [*self._z, z_um]
        item = self.plot.getPlotItem()
        item.setXRange(min(xs), max(xs), padding=0.03)
        item.enableAutoRange(axis="y")

    def answer_text(self) -> str:
        """The label of the answer line ("" while there is none)."""
        return str(self.answer_line.label.format) if self.answer_line.isVisible() else ""
