"""What a stage port may be: a serial port (``COM3``, ``/dev/ttyUSB0``) or ``tcp://HOST:PORT``;
and what a stage's native unit may be.

The one owner of these words, so the command line (through :mod:`autofocus.connect` and
:mod:`autofocus.cli_checks`) refuses a bad port or native unit before anything opens, and the Zaber
backend reads the same TCP form and checks the same unit. Needs no optional library.
"""

from __future__ import annotations

import math
import re

from autofocus.errors import InputError

__all__ = ["NATIVE_UNIT_RANGE_UM", "SERIAL_PORT", "TCP_URL", "check_native_unit", "check_port", "tcp_address"]

SERIAL_PORT = re.compile(r"^(COM\d+|/dev/\S+)$", re.IGNORECASE)
TCP_URL = re.compile(r"^tcp://(?P<host>[^:/\s]+):(?P<port>\d{1,5})$")


def tcp_address(port: str) -> tuple[str, int] | None:
    """(host, port number) of a ``tcp://HOST:PORT`` port; None for anything else."""
    match = TCP_URL.match(port)
    return (match["host"], int(match["port"])) if match else None


def check_port(port: str) -> None:
    """Raise InputError unless ``port`` is a serial port or ``tcp://HOST:PORT``."""
    if SERIAL_PORT.match(port) or TCP_URL.match(port):
        return
    raise InputError(f"unknown port {port!r}: use sim, a serial port (COM3, /dev/ttyUSB0) or tcp://HOST:PORT")


NATIVE_UNIT_RANGE_UM = (1e-3, 1e3)
"""Plausible micrometres per native unit: from 1 nm (fine encoders) to 1 mm (coarse steppers)."""


def check_native_unit(native_unit_um: float) -> None:
    lo, hi = NATIVE_UNIT_RANGE_UM
    if not (math.isfinite(native_unit_um) and lo <= native_unit_um <= hi):
        raise InputError(
            f"--native-unit-um {native_unit_um:g} is not a plausible native unit: give the stage's "
            f"microstep size or encoder resolution, between {lo:g} and {hi:g} micrometres"
        )
