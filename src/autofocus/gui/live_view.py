"""The live frame, and the region of interest drawn on it.

Frames are shown as the camera delivers them (row 0 at the top, as every image viewer does).
Frames can arrive faster than a screen refreshes, so the newest one is kept and painted by a
timer: the GUI never queues up stale frames.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from qtpy.QtCore import QRectF, QTimer
from qtpy.QtWidgets import QVBoxLayout, QWidget

from autofocus.frames import Frame, Roi

__all__ = ["LiveView"]

REFRESH_MS = 40  # 25 paints a second: smooth to the eye, cheap for the GUI thread
ROI_PEN = pg.mkPen((255, 200, 0), width=2)
MIN_ROI_PX = 32  # the coarse measure averages 4x4 blocks: leave it a few blocks to compare


class LiveView(QWidget):  # type: ignore[misc]  # Qt is opaque to mypy here
    """A pyqtgraph image with a draggable, resizable rectangle (the ROI, pixels)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget()
        self.plot.setAspectLocked(True)
        self.plot.invertY(True)
        self.plot.setLabel("bottom", "x (pixels)")
        self.plot.setLabel("left", "y (pixels)")
        self.plot.getViewBox().setBackgroundColor((70, 70, 70))  # where the frame ends shows
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.roi_item = pg.RectROI((0, 0), (1, 1), pen=ROI_PEN, translateSnap=True, scaleSnap=True)
        self.roi_item.setZValue(10)
        self.roi_item.setVisible(False)
        self.plot.addItem(self.roi_item)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        self._pending: Frame | None = None
        self._shape: tuple[int, int] | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self._paint)
        self._timer.start()

    @property
    def frame_shape(self) -> tuple[int, int] | None:
        """(height, width) of the frames shown so far, None before the first one."""
        return self._shape

    def show_frame(self, frame: Frame) -> None:
        """Show this frame at the next refresh (the newest frame wins)."""
        self._pending = frame

    def set_caption(self, text: str) -> None:
        """A line above the image: which frame it is."""
        self.plot.setTitle(text)

    def show_now(self, frame: Frame) -> None:
        self._pending = frame
        self._paint()

    def _paint(self) -> None:
        frame, self._pending = self._pending, None
        if frame is None:
            return
        image = np.asarray(frame)
        first = self._shape != image.shape[:2]
        self._shape = (int(image.shape[0]), int(image.shape[1]))
        self.image.setImage(image, autoLevels=True)
        if first:
            height, width = self._shape
            self.plot.getViewBox().setRange(QRectF(0, 0, width, height), padding=0.02)
            self.roi_item.maxBounds = QRectF(0, 0, width, height)
            self.roi_item.setPos((width // 4, height // 4))
            self.roi_item.setSize((width // 2, height // 2))

    def show_roi(self, visible: bool) -> None:
        self.roi_item.setVisible(visible)

    def set_roi(self, roi: Roi) -> None:
        x, y, w, h = roi
        self.roi_item.setPos((x, y))
        self.roi_item.setSize((w, h))

    def roi(self) -> Roi | None:
        """The rectangle in whole pixels, inside the frame and at least ``MIN_ROI_PX`` wide and
        high (the coarse measure downsamples it); None before the first frame."""
        if self._shape is None:
            return None
        height, width = self._shape
        (x0, y0), (w, h) = self.roi_item.pos(), self.roi_item.size()
        w_px = int(min(max(round(w), MIN_ROI_PX), width))
        h_px = int(min(max(round(h), MIN_ROI_PX), height))
        x = int(min(max(round(x0), 0), width - w_px))
        y = int(min(max(round(y0), 0), height - h_px))
        return (x, y, w_px, h_px)
