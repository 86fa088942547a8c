"""The workflows' views in the panel's tabs: the focus map's picture and the tracking log.

- :class:`FocusMapView` shows the picture of a focus map (surface with contours, the points,
  the set-apart ones marked, the residuals; :mod:`autofocus.focusmap_plot`): a
  :class:`~autofocus.focusmap.FocusMap` measured in this program (:meth:`show_map`), or the
  ``map.png`` that ``autofocus map`` wrote (:meth:`show_picture`, or the **Open** button).
- :class:`TrackingLogView` lists the rows of a time-lapse's tracking log, newest last: rows
  given as they come (:meth:`add_row`: a ``TrackRow``, or any object with ``to_dict()``, or a
  dict), or the CSV/JSON log that ``autofocus track --log`` wrote (:meth:`load_log`).

Both only show what they are given; measuring a map or tracking runs in the workflows.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qtpy.QtCore import Qt, Signal
from qtpy.QtGui import QPixmap
from qtpy.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from autofocus.errors import InputError

__all__ = ["FocusMapView", "TrackingLogView"]

MAP_HINT = ("No focus map yet. Measure one with `autofocus map ...` (or autofocus.focusmap."
            "measure_map) and open its map.png here.")
LOG_HINT = ("No tracking log yet. Keep a position in focus through a time-lapse with "
            "`autofocus track ... --log log.csv` and open the log here.")


def _hint(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setStyleSheet("color: #666;")
    return label


def _error_line(text: str) -> str:
    return " ".join(text.split())


def _open_into(parent: Any, title: str, kinds: str, load: Callable[[str], object],
               caption: QLabel) -> None:
    """Ask for a file and load it; a file that cannot be read is one line in the caption."""
    path, _ = QFileDialog.getOpenFileName(parent, title, "", kinds)
    if path:
        try:
            load(path)
        except InputError as exc:
            caption.setText(f"error: {_error_line(str(exc))}")


class FocusMapView(QWidget):  # type: ignore[misc]  # Qt is opaque to mypy here
    """The focus map's picture, scaled to the tab (aspect kept), with a caption line.
    ``shown()`` is emitted when a picture has been put up."""

    shown = Signal()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.picture = _hint(MAP_HINT)
        self.picture.setMinimumSize(1, 1)  # a pixmap must not hold the tab at its full size
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.open_button = QPushButton("Open map.png…")
        self.open_button.clicked.connect(self._ask_for_picture)
        self._pixmap: QPixmap | None = None
        top = QHBoxLayout()
        top.addWidget(self.caption, 1)
        top.addWidget(self.open_button, 0)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.picture, 1)

    def has_picture(self) -> bool:
        return self._pixmap is not None

    def picture_size(self) -> tuple[int, int]:
        """Width and height of the picture itself (not as scaled on screen); (0, 0) without one."""
        return (0, 0) if self._pixmap is None else (self._pixmap.width(), self._pixmap.height())

    def show_map(self, focus_map: Any) -> None:
        """Draw a :class:`~autofocus.focusmap.FocusMap` (matplotlib, off screen, then shown)."""
        from autofocus.focusmap_plot import map_png

        pixmap = QPixmap()
        pixmap.loadFromData(map_png(focus_map), "PNG")
        fit = focus_map.fit
        about = ("no surface: no point was found" if fit is None else
                 f"{fit.surface.model} surface through {len(fit.inliers)} points, leave-one-out "
                 f"error {fit.surface.loo_rms_um:.2f} µm")
        self._set(pixmap, f"{len(focus_map.points)} points, {len(focus_map.set_apart)} set apart; {about}")

    def show_picture(self, path: str | Path) -> None:
        """Show a saved picture (the ``map.png`` of ``autofocus map``); InputError if unreadable."""
        pixmap = QPixmap(str(path))
        if pixmap.isNull():
            raise InputError(f"cannot read a picture from {path}")
        self._set(pixmap, str(path))

    def _set(self, pixmap: QPixmap, caption: str) -> None:
        self._pixmap = pixmap
        self.caption.setText(caption)
        self.picture.setStyleSheet("")
        self._fit()
        self.shown.emit()

    def _fit(self) -> None:
        if self._pixmap is not None:
            self.picture.setPixmap(self._pixmap.scaled(
                self.picture.size(), Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation))

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._fit()

    def _ask_for_picture(self) -> None:
        _open_into(self, "Open a focus map's picture", "Pictures (*.png);;All files (*)",
                   self.show_picture, self.caption)


class TrackingLogView(QWidget):  # type: ignore[misc]  # Qt is opaque to mypy here
    """A table of tracking-log rows; its columns are the rows' keys, in order of appearance."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.hide()
        self.hint = _hint(LOG_HINT)
        self.caption = QLabel("")
        self.open_button = QPushButton("Open log…")
        self.open_button.clicked.connect(self._ask_for_log)
        self.columns: list[str] = []
        top = QHBoxLayout()
        top.addWidget(self.caption, 1)
        top.addWidget(self.open_button, 0)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.hint, 1)
        layout.addWidget(self.table, 1)

    def row_count(self) -> int:
        return int(self.table.rowCount())

    def cell(self, row: int, column: str) -> str:
        item = self.table.item(row, self.columns.index(column))
        return "" if item is None else str(item.text())

    def clear(self) -> None:
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
        self.columns = []

    def add_row(self, row: Any) -> None:
        """Append one row: a dict, or an object with ``to_dict()`` (the tracking log's rows)."""
        data = dict(row.to_dict() if hasattr(row, "to_dict") else row)
        for key in data:
            if key not in self.columns:
                self.columns.append(key)
                self.table.setColumnCount(len(self.columns))
                self.table.setHorizontalHeaderLabels(self.columns)
        index = self.table.rowCount()
        self.table.insertRow(index)
        for key, value in data.items():
            text = "" if value is None else (f"{value:.4g}" if isinstance(value, float) else str(value))
            item = QTableWidgetItem(text)
            item.setToolTip(text)
            self.table.setItem(index, self.columns.index(key), item)
        self.hint.hide()
        self.table.show()
        self.table.scrollToBottom()

    def load_log(self, path: str | Path) -> int:
        """Show a saved log (CSV with a header, or JSON: ``{"rows": [...]}`` or a list of rows),
        replacing what is shown; returns the number of rows. InputError if it is not one."""
        path = Path(path)
        try:
            text = path.read_text()
            if path.suffix.lower() == ".json":
                data = json.loads(text)
                rows = data["rows"] if isinstance(data, dict) else data
            else:
                rows = list(csv.DictReader(text.splitlines()))
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise ValueError("no rows")
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"cannot read a tracking log from {path}: {exc}") from None
        self.clear()
        for row in rows:
            self.add_row(row)
        self.caption.setText(f"{path}: {len(rows)} rows")
        return len(rows)

    def _ask_for_log(self) -> None:
        _open_into(self, "Open a tracking log", "Tracking logs (*.csv *.json);;All files (*)",
                   self.load_log, self.caption)
