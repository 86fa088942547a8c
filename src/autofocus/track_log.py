"""The log of a time-lapse (:mod:`autofocus.track`): one row per position and time point, and
its CSV and JSON files. The keys of :meth:`TrackRow.to_dict` (``LOG_COLUMNS``) are a contract:
scripts read them."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autofocus.errors import InputError

__all__ = ["LOG_COLUMNS", "LOG_SUFFIXES", "TrackLog", "TrackRow", "check_log_path", "write_log"]

LOG_SUFFIXES = (".csv", ".json")


@dataclass(frozen=True)
class TrackRow:
    """One position at one time point. ``z_um``: the answer (None when not found);
    ``final_z_um``: where the stage was left (the answer, or where it was returned to);
    ``method``: which step answered (``track``, ``refocus`` or ``search``); ``jump``: the answer
    broke the drift model's trend; ``true_z_um``/``error_um``: ground truth, when known."""

    time_point: int
    time_s: float
    position: int
    x_um: float | None
    y_um: float | None
    predicted_z_um: float | None
    z_um: float | None
    final_z_um: float | None
    frames: int
    light_dose_s: float
    hardware_s: float
    wall_s: float
    confidence: float
    status: str
    reason_code: str
    reason: str
    method: str
    jump: bool
    true_z_um: float | None = None

    @property
    def correction_um(self) -> float | None:
        if self.z_um is None or self.predicted_z_um is None:
            return None
        return self.z_um - self.predicted_z_um

    @property
    def error_um(self) -> float | None:
        if self.final_z_um is None or self.true_z_um is None:
            return None
        return self.final_z_um - self.true_z_um

    def to_dict(self) -> dict[str, Any]:
        def r(v: float | None, digits: int = 4) -> float | None:
            return None if v is None else round(v, digits)

        return {"time_point": self.time_point, "time_s": r(self.time_s, 3), "position": self.position,
                "x_um": r(self.x_um), "y_um": r(self.y_um), "predicted_z_um": r(self.predicted_z_um),
                "z_um": r(self.z_um), "correction_um": r(self.correction_um),
                "final_z_um": r(self.final_z_um), "frames": self.frames,
                "light_dose_s": r(self.light_dose_s, 6), "hardware_s": r(self.hardware_s, 6),
                "wall_s": r(self.wall_s, 6), "confidence": r(self.confidence, 3),
                "status": self.status, "reason_code": self.reason_code, "reason": self.reason,
                "method": self.method, "jump": self.jump, "true_z_um": r(self.true_z_um),
                "error_um": r(self.error_um)}


LOG_COLUMNS = ("time_point", "time_s", "position", "x_um", "y_um", "predicted_z_um", "z_um",
               "correction_um", "final_z_um", "frames", "light_dose_s", "hardware_s", "wall_s",
               "confidence", "status", "reason_code", "reason", "method", "jump", "true_z_um",
               "error_um")
"""The log's columns (CSV header, keys of every row's dict)."""


@dataclass(frozen=True)
class TrackLog:
    """Every row of a time-lapse, in the order they were taken."""

    rows: tuple[TrackRow, ...]
    every_s: float
    duration_s: float
    dof_um: float
    positions: int = 1
    notes: tuple[str, ...] = field(default_factory=tuple)

    def summary(self) -> dict[str, Any]:
        rows = self.rows
        frames = sum(r.frames for r in rows)
        errors = [r.error_um for r in rows if r.error_um is not None]
        rms = math.sqrt(sum(e * e for e in errors) / len(errors)) if errors else None
        return {"time_points": len({r.time_point for r in rows}), "rows": len(rows),
                "frames": frames, "frames_per_row": frames / len(rows) if rows else 0.0,
                "light_dose_s": round(sum(r.light_dose_s for r in rows), 6),
                "hardware_s": round(sum(r.hardware_s for r in rows), 6),
                "wall_s": round(sum(r.wall_s for r in rows), 6),
                "not_found": sum(r.status != "focused" for r in rows),
                "jumps": sum(r.jump for r in rows),
                "methods": {m: sum(r.method == m for r in rows) for m in ("track", "refocus", "search")},
                "rms_error_um": rms, "max_error_um": max((abs(e) for e in errors), default=None)}

    def to_dict(self) -> dict[str, Any]:
        return {"every_s": self.every_s, "duration_s": self.duration_s, "dof_um": self.dof_um,
                "positions": self.positions, "summary": self.summary(), "notes": list(self.notes),
                "rows": [r.to_dict() for r in self.rows]}


def check_log_path(path: Path) -> None:
    """The log's type from its name (checked before anything moves)."""
    if path.suffix.lower() not in LOG_SUFFIXES:
        raise InputError(f"--log {path}: write a .csv or a .json file, not {path.suffix or '(none)'!r}")
    if path.is_dir():
        raise InputError(f"--log {path} is a folder; give a file name")


def write_log(log: TrackLog, path: Path) -> None:
    """CSV (one row per position and time point, the columns of :meth:`TrackRow.to_dict`) or
    JSON (:meth:`TrackLog.to_dict`), by the file's suffix."""
    check_log_path(path)
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(log.to_dict(), indent=1))
        return
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(LOG_COLUMNS))
        writer.writeheader()
        for row in log.rows:
            writer.writerow({k: "" if v is None else v for k, v in row.to_dict().items()})
