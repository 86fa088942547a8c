"""Small translations at the command line's edges: negative numbers as positional values, the
``--json`` error object, stdout after it failed, and the Zaber chain options the XY commands
(``map``, ``track``) share."""

from __future__ import annotations

import json
import os
import re
import sys
from contextlib import suppress
from typing import Annotated

import typer

from autofocus.errors import EXIT_BAD_INPUT, AutofocusError

__all__ = [
    "AxisOption",
    "FocusDeviceOption",
    "NativeUnitOption",
    "XDeviceOption",
    "YDeviceOption",
    "json_error",
    "protect_negative_numbers",
    "silence_stdout",
]

FocusDeviceOption = Annotated[int, typer.Option("--device", help="Zaber focus device number")]
AxisOption = Annotated[int, typer.Option("--axis", help="Zaber focus axis number")]
XDeviceOption = Annotated[int, typer.Option("--x-device", help="Zaber X device number (same chain)")]
YDeviceOption = Annotated[int, typer.Option("--y-device", help="Zaber Y device number (same chain)")]
NativeUnitOption = Annotated[float | None, typer.Option(
    "--native-unit-um", help="micrometres per native unit, when no device database is reachable")]

NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def protect_negative_numbers(args: list[str]) -> list[str]:
    """Let ``autofocus -0.05 0.05 0.01 sim`` work without ``--``: the CLI library reads any word
    that starts with ``-`` as an option, and no option of ours is named like a number. A leading
    space keeps the word a value; Python's float() and int() ignore it."""
    return [f" {a}" if NEGATIVE_NUMBER.match(a) else a for a in args]


def json_error(exc: AutofocusError) -> str:
    """What ``--json`` prints when the run fails, so a script always gets one object."""
    stage = exc.stage_state or ("nothing moved" if exc.exit_code == EXIT_BAD_INPUT else "")
    position = exc.stage_position_um
    return json.dumps({"status": "error", "reason": str(exc), "stage": stage, "exit_code": exc.exit_code,
                       "final_position_mm": None if position is None else position / 1000.0})


def silence_stdout() -> None:
    """After stdout failed (a closed pipe), point it at /dev/null so the interpreter's last
    flush at exit adds no second message."""
    with suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
