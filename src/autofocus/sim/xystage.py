"""The simulated specimen stage: two axes moving together on the virtual clock.

Defaults follow a 100 x 75 mm motorized microscope stage (Zaber X-ASR100B075B-like). Every move
is logged with the focus drive's position at that moment (``log``), so tests can check that the
focus drive was at a safe height before the specimen moved under the objective.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from autofocus.clock import VirtualClock
from autofocus.devices.motion import move_duration_s
from autofocus.errors import LimitError, StageError

__all__ = ["SimXYStage", "XYStageSpec"]


@dataclass(frozen=True)
class XYStageSpec:
    x_max_um: float = 100_000.0
    y_max_um: float = 75_000.0
    speed_um_s: float = 20_000.0
    accel_um_s2: float = 100_000.0
    command_latency_s: float = 0.005
    settle_s: float = 0.020
    """A heavy stage rings a little after a move; it is folded into the move's time."""


@dataclass(frozen=True)
class XYMove:
    """One logged move: where to, and where the focus drive was when it began."""

    x_um: float
    y_um: float
    z_um: float | None
    t_s: float


class SimXYStage:
    """Implements the ``XYStage`` protocol. ``commanded`` lists every requested target (refused
    ones too); ``log`` the accepted moves with the focus drive's z at their start."""

    def __init__(self, clock: VirtualClock, spec: XYStageSpec | None = None,
                 position_um: tuple[float, float] = (0.0, 0.0),
                 z_now: Callable[[], float] | None = None) -> None:
        self.clock = clock
        self.spec = spec or XYStageSpec()
        self._x, self._y = position_um
        self._z_now = z_now
        self.commanded: list[tuple[float, float]] = []
        self.log: list[XYMove] = []
        self.connected = True

    @property
    def limits_um(self) -> tuple[tuple[float, float], tuple[float, float]]:
        return ((0.0, self.spec.x_max_um), (0.0, self.spec.y_max_um))

    def position_um(self) -> tuple[float, float]:
        if not self.connected:
            raise StageError("simulated XY stage: not connected")
        return (self._x, self._y)

    def move_to_um(self, x_um: float, y_um: float) -> None:
        if not self.connected:
            raise StageError("simulated XY stage: not connected")
        self.commanded.append((x_um, y_um))
        (x0, x1), (y0, y1) = self.limits_um
        if not (math.isfinite(x_um) and math.isfinite(y_um) and x0 <= x_um <= x1 and y0 <= y_um <= y1):
            raise LimitError(f"simulated XY stage: ({x_um:.1f}, {y_um:.1f}) um is outside its travel")
        z = self._z_now() if self._z_now is not None else None
        self.log.append(XYMove(x_um, y_um, z, self.clock.now()))
        s = self.spec
        duration = max(move_duration_s(x_um - self._x, s.speed_um_s, s.accel_um_s2),
                       move_duration_s(y_um - self._y, s.speed_um_s, s.accel_um_s2))
        self.clock.sleep(s.command_latency_s + duration + (s.settle_s if duration else 0.0))
        self._x, self._y = float(x_um), float(y_um)

    def stop(self) -> None:
        """Moves are blocking here, so there is never anything to stop."""
