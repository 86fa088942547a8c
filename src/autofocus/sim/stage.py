"""The simulated focus drive: trapezoidal move timing on the virtual clock, faults on demand."""

from __future__ import annotations

import math
from dataclasses import dataclass

from autofocus.errors import LimitError, StageError
from autofocus.sim.clock import VirtualClock
from autofocus.sim.faults import FaultPlan


@dataclass(frozen=True)
class StageSpec:
    """Defaults of an X-LDA025-like linear stage (25 mm travel)."""

    min_um: float = 0.0
    max_um: float = 25_000.0
    speed_um_s: float = 5_000.0
    accel_um_s2: float = 50_000.0
    command_latency_s: float = 0.005


def move_duration_s(distance_um: float, speed_um_s: float, accel_um_s2: float) -> float:
    """Time of a trapezoidal (or triangular, for short moves) velocity profile."""
    d = abs(distance_um)
    if d == 0:
        return 0.0
    ramp = speed_um_s**2 / accel_um_s2  # distance to accelerate and decelerate
    if d < ramp:
        return 2.0 * math.sqrt(d / accel_um_s2)
    return d / speed_um_s + speed_um_s / accel_um_s2


class SimStage:
    def __init__(
        self,
        clock: VirtualClock,
        spec: StageSpec | None = None,
        position_um: float = 0.0,
        faults: FaultPlan | None = None,
    ) -> None:
        self.clock = clock
        self.spec = spec or StageSpec()
        self._position = position_um
        self.faults = faults or FaultPlan()
        self.moves = 0
        self.commanded: list[float] = []
        self.last_move_end_s = 0.0
        self.last_move_distance_um = 0.0
        self.connected = True

    @property
    def limits_um(self) -> tuple[float, float]:
        return (self.spec.min_um, self.spec.max_um)

    def position_um(self) -> float:
        self._check_connected()
        return self._position

    def move_to_um(self, z_um: float) -> None:
        self._check_connected()
        self.commanded.append(z_um)
        lo, hi = self.limits_um
        if not lo <= z_um <= hi:
            raise LimitError(f"simulated stage: {z_um:.3f} um is outside its travel {lo}..{hi} um")
        self.moves += 1
        fault = self.faults.kind if self.moves > self.faults.after else None
        if fault == "stage-limit":
            raise LimitError("simulated stage: limit switch triggered during the move")
        duration = self.spec.command_latency_s + move_duration_s(
            z_um - self._position, self.spec.speed_um_s, self.spec.accel_um_s2
        )
        if fault == "stage-stall":
            self.clock.sleep(duration / 2)
            self._position += (z_um - self._position) / 2
            raise StageError("simulated stage: the motor stalled (fault flag FS)")
        if fault == "disconnect":
            self.connected = False
            raise StageError("simulated stage: connection lost")
        self.clock.sleep(duration)
        self.last_move_distance_um = abs(z_um - self._position)
        self._position = z_um
        self.last_move_end_s = self.clock.now()

    def stop(self) -> None:
        """Stopping an idle stage is harmless, as on real hardware."""

    def _check_connected(self) -> None:
        if not self.connected:
            raise StageError("simulated stage: not connected")
