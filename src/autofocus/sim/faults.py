"""Faults the simulated microscope injects on demand."""

from __future__ import annotations

from dataclasses import dataclass

from autofocus.errors import InputError

__all__ = [
    "FAULT_NAMES",
    "TRANSIENT_FAULTS",
    "FaultPlan",
]

FAULT_NAMES = (
    "stage-stall",
    "stage-limit",
    "camera-timeout",
    "dropped-frame",
    "black-frame",
    "saturated-frame",
    "disconnect",
)

TRANSIENT_FAULTS = frozenset({"stage-stall", "stage-limit"})
"""Faults that hit one operation only: a stalled motor or a tripped limit switch fails that
move, and the drive answers again afterwards (so a runner can bring the stage back to safety).
The others persist: a camera that timed out or drops or spoils frames keeps doing so, and a
disconnected device stays gone."""


@dataclass
class FaultPlan:
    """Which fault to inject and after how many operations of its kind (moves or grabs).

    With ``after=3`` the fourth move (stage faults) or grab (camera faults) fails; transient
    faults (:data:`TRANSIENT_FAULTS`) only that one, the others every one from then on.
    """

    kind: str | None = None
    after: int = 3

    def __post_init__(self) -> None:
        if self.kind is not None and self.kind not in FAULT_NAMES:
            raise InputError(f"unknown fault {self.kind!r}; choose one of: {', '.join(FAULT_NAMES)}")

    def due(self, count: int) -> str | None:
        """The fault hitting operation number ``count`` (1-based), if any."""
        if self.kind is None or count <= self.after:
            return None
        if self.kind in TRANSIENT_FAULTS and count > self.after + 1:
            return None
        return self.kind
