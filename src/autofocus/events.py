"""Progress events: what a run, a stack or a batch reports as it goes (for progress bars, logs
and the GUI). Ground floor: every layer may emit them, every face may render them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

__all__ = ["EventHandler", "EventKind", "ProgressEvent"]

EventKind = Literal["start", "frame", "final-move", "done", "not-found", "failed", "returned"]


@dataclass(frozen=True)
class ProgressEvent:
    """One thing that happened during a run. ``frame`` counts scored frames so far."""

    kind: EventKind
    frame: int = 0
    z_um: float | None = None
    score: float | None = None
    message: str = ""
    expected_frames: int | None = None


EventHandler = Callable[[ProgressEvent], None]
