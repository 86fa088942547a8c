"""The plain-data outcome of an autofocus run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from autofocus.curve import FocusCurve

__all__ = [
    "FocusResult",
    "Status",
]

Status = Literal["focused", "not_found"]


@dataclass
class FocusResult:
    """What a search found. ``best_z_um`` is None when focus was not found."""

    status: Status
    best_z_um: float | None
    score: float | None
    curve: FocusCurve
    strategy: str
    metric: str = ""
    reason: str = ""
    reason_code: str = ""
    """Why focus was not found, for programs (see :data:`autofocus.errors.ReasonCode`); "" when
    focused."""
    confidence: float = 0.0
    method: str = ""
    """How the answer was placed (``gaussian-fit``, ``parabola-fit``, ``best-sample``,
    ``best-frame``, ``dip-fit``, ...); "" when not found."""
    hardware_s: float = 0.0
    """Time the hardware worked: moves, settling, exposures, readout (the simulator's virtual
    clock, less the time the loop waited for computing)."""
    compute_s: float = 0.0
    """Time spent computing: scoring frames and the strategy's decisions."""
    wall_s: float = 0.0
    """What the run takes from start to end: the hardware's time plus the computing it waited
    for (scoring off the critical path overlaps the hardware and does not add)."""
    light_dose_s: float = 0.0
    """Light on the specimen: frames x exposure (seconds of illumination)."""
    final_z_um: float | None = None
    """Where the stage is at the end, by its own reading; None when it does not answer."""
    return_error: str = ""
    """Not found, and the move back to the start failed: why (a hardware failure, exit 3)."""

    @property
    def focused(self) -> bool:
        return self.status == "focused"

    @property
    def frames(self) -> int:
        return self.curve.frames_taken

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; millimetre keys mirror the command line's units."""
        best_mm = None if self.best_z_um is None else self.best_z_um / 1000.0
        final_mm = None if self.final_z_um is None else self.final_z_um / 1000.0
        return {
            "status": self.status,
            "best_position_mm": best_mm,
            "best_z_um": self.best_z_um,
            "score": self.score,
            "frames": self.frames,
            "hardware_s": round(self.hardware_s, 6),
            "compute_s": round(self.compute_s, 6),
            "wall_s": round(self.wall_s, 6),
            "light_dose_s": round(self.light_dose_s, 6),
            "final_position_mm": final_mm,
            "strategy": self.strategy,
            "metric": self.metric,
            "confidence": self.confidence,
            "reason": self.reason,
            "reason_code": self.reason_code,
            "method": self.method,
            "return_error": self.return_error,
            "curve": [
                {"z_um": s.z_um, "score": s.score, "t_s": s.t_s} for s in self.curve.samples
            ],
        }
