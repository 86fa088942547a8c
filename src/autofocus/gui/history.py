"""The runs of this session, newest first: what each found, how sure, and why not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qtpy.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from autofocus.result import FocusResult
from autofocus.runner import AutofocusSettings

__all__ = ["HistoryTable", "RunRecord"]

COLUMNS = ("#", "result", "z (µm)", "confidence", "frames", "strategy", "measure", "reason")


@dataclass(frozen=True)
class RunRecord:
    """One row of the history."""

    number: int
    outcome: str
    """``focused``, ``not_found``, ``stopped`` or ``failed``."""
    z_um: float | None
    confidence: float | None
    frames: int
    strategy: str
    metric: str
    reason: str

    @classmethod
    def of_result(cls, number: int, result: FocusResult) -> RunRecord:
        return cls(number, result.status, result.final_z_um if result.focused else None,
                   result.confidence, result.frames, result.strategy, result.metric, result.reason)

    @classmethod
    def ended_early(cls, number: int, outcome: str, settings: AutofocusSettings, frames: int,
                    reason: str) -> RunRecord:
        return cls(number, outcome, None, None, frames, settings.strategy, settings.metric_name,
                   reason)

    def cells(self) -> tuple[str, ...]:
        return (
            str(self.number),
            self.outcome.replace("_", " "),
            "" if self.z_um is None else f"{self.z_um:.2f}",
            "" if self.confidence is None else f"{self.confidence:.2f}",
            str(self.frames),
            self.strategy,
            self.metric,
            self.reason,
        )


class HistoryTable(QTableWidget):  # type: ignore[misc]  # Qt is opaque to mypy here
    def __init__(self, parent: Any = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(COLUMNS)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.records: list[RunRecord] = []

    def add(self, record: RunRecord) -> None:
        self.records.append(record)
        self.insertRow(0)
        for column, text in enumerate(record.cells()):
            cell = QTableWidgetItem(text)
            cell.setToolTip(text)
            self.setItem(0, column, cell)
