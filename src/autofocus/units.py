"""Units: the Python API speaks micrometres (``z_um``); the command line keeps the tutorial's
millimetres. The conversion lives here, once."""

from __future__ import annotations

__all__ = ["UM_PER_MM", "mm_to_um", "um_to_mm"]

UM_PER_MM = 1000.0


def mm_to_um(value_mm: float) -> float:
    return value_mm * UM_PER_MM


def um_to_mm(value_um: float) -> float:
    return value_um / UM_PER_MM
