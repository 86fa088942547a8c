"""What a stage port may be: a serial port (``COM3``, ``/dev/ttyUSB0``) or ``tcp://HOST:PORT``.

The one owner of these words, so the command line (through :mod:`autofocus.connect`) refuses a bad
port before anything opens, and the Zaber backend reads the same TCP form it was checked against.
Needs no optional library.
"""

from __future__ import annotations

import re

from autofocus.errors import InputError

__all__ = ["SERIAL_PORT", "TCP_URL", "check_port", "tcp_address"]

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
