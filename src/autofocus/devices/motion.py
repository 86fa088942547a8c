"""How long a motorised move takes: the trapezoidal velocity profile that the simulated stage and
the replayed recordings both charge to their virtual clocks."""

from __future__ import annotations

import math

__all__ = ["move_duration_s"]


def move_duration_s(distance_um: float, speed_um_s: float, accel_um_s2: float) -> float:
    """Time of a trapezoidal (or triangular, for short moves) velocity profile."""
    d = abs(distance_um)
    if d == 0:
        return 0.0
    ramp = speed_um_s**2 / accel_um_s2  # distance to accelerate and decelerate
    if d < ramp:
        return 2.0 * math.sqrt(d / accel_um_s2)
    return d / speed_um_s + speed_um_s / accel_um_s2
