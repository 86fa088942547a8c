"""Zaber Motion Library exceptions as our own errors, each saying what the user should check."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from zaber_motion import (
    BadDataException,
    CommandFailedException,
    ConnectionClosedException,
    MotionLibException,
    MovementFailedException,
    RequestTimeoutException,
)
from zaber_motion.ascii import Connection

from autofocus.errors import LimitError, StageError

__all__ = ["CHECK_CONNECTION", "rejection_hint", "stage_error", "translated"]

CHECK_CONNECTION = (
    "check the cable and the controller's power, and that no other program (Zaber Launcher, "
    "another script) is using the port"
)


def stage_error(exc: MotionLibException, doing: str, connection: Connection | None = None) -> StageError:
    """Our StageError for a Zaber Motion Library exception, saying what the user should check."""
    detail = exc.message
    if isinstance(exc, MovementFailedException):
        return StageError(
            f"Zaber stage: {doing} failed: {exc.details.reason or detail}; the stage was stopped. "
            "Check that nothing blocks the stage, that the load is within its rating, and clear "
            "the fault in Zaber Launcher if it persists"
        )
    if isinstance(exc, BadDataException):
        return LimitError(
            f"Zaber stage: {doing} was rejected as out of range (BADDATA); check the requested "
            "positions against the stage's limits (limit.min, limit.max)"
        )
    if isinstance(exc, CommandFailedException):
        reason = exc.details.response_data
        return StageError(f"Zaber stage: {doing} was rejected ({reason}); {rejection_hint(reason)}")
    if isinstance(exc, ConnectionClosedException) or (
        isinstance(exc, RequestTimeoutException) and connection is not None and not connection.is_open
    ):
        return StageError(f"Zaber stage: the connection was lost during {doing}; {CHECK_CONNECTION}")
    if isinstance(exc, RequestTimeoutException):
        return StageError(
            f"Zaber stage: no answer during {doing} (request timed out); check the controller's "
            "power and cable"
        )
    return StageError(f"Zaber stage: {doing} failed: {detail}")


def rejection_hint(reason: str) -> str:
    hints = {
        "DRIVERDISABLED": "the motor driver is disabled (over-temperature, power supply or "
                          "emergency stop); check the power supply, then re-enable it in Zaber Launcher",
        "PARKED": "the axis is parked; unpark it in Zaber Launcher",
        "BADAXIS": "the device has no such axis; check --axis",
        "STATUSBUSY": "the device is busy with another command; close other programs using it",
        "NOACCESS": "the command needs a higher access level",
    }
    return hints.get(reason, "check the device's state in Zaber Launcher")


@contextlib.contextmanager
def translated(doing: str, connection: Connection | None = None) -> Iterator[None]:
    """Run a block of library calls, turning its exceptions into our StageError."""
    try:
        yield
    except MotionLibException as exc:
        raise stage_error(exc, doing, connection) from None


