"""Faults the simulated microscope injects on demand."""

from __future__ import annotations

from dataclasses import dataclass

FAULT_NAMES = (
    "stage-stall",
    "stage-limit",
    "camera-timeout",
    "dropped-frame",
    "black-frame",
    "saturated-frame",
    "disconnect",
)


@dataclass
class FaultPlan:
    """Which fault to inject and after how many operations of its kind (moves or grabs)."""

    kind: str | None = None
    after: int = 3

    def __post_init__(self) -> None:
        if self.kind is not None and self.kind not in FAULT_NAMES:
            raise ValueError(f"unknown fault {self.kind!r}; choose one of: {', '.join(FAULT_NAMES)}")
