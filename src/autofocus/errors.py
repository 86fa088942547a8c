"""The package's own exceptions. Each carries the command-line exit code it maps to."""

from __future__ import annotations


class AutofocusError(Exception):
    """Base of every error this package raises on purpose."""

    exit_code = 3
    stage_state = ""
    """Where the failure left the stage, set by the runner (shown after the message)."""

    def describe(self) -> str:
        """One line for a person: the message and where the stage is now."""
        return f"{self}; {self.stage_state}" if self.stage_state else str(self)


class InputError(AutofocusError, ValueError):
    """The user asked for something impossible; raised before anything moves."""

    exit_code = 2


class DeviceError(AutofocusError):
    """A stage, camera or connection failed."""

    exit_code = 3


class StageError(DeviceError):
    """The focus drive failed: stall, fault flag, lost connection, timeout."""


class LimitError(StageError):
    """A position outside the allowed interval was requested; it was never commanded."""


class CameraError(DeviceError):
    """The camera failed: timeout, dropped or incomplete frame, disconnect."""


class SearchTimeout(AutofocusError):
    """The whole search took longer than its time budget."""

    exit_code = 3


class OutputError(AutofocusError):
    """Output could not be written (a closed pipe, a full disk, an unwritable file). The stage
    is handled as on any other failure: returned, or left at the answer once focus was found."""

    exit_code = 4


class FocusNotFound(AutofocusError):
    """The focus curve does not support an answer (flat, edge peak, ambiguous, too noisy)."""

    exit_code = 1

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
