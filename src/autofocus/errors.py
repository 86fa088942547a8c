"""The package's own exceptions. Each carries the command-line exit code it maps to; the codes
themselves are defined here and nowhere else."""

from __future__ import annotations

from typing import Literal

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_FOCUSED",
    "EXIT_HARDWARE",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_FOUND",
    "EXIT_OUTPUT",
    "AutofocusError",
    "CameraError",
    "DeviceError",
    "FocusNotFound",
    "InputError",
    "LimitError",
    "OutputError",
    "ReasonCode",
    "SearchTimeout",
    "StageError",
    "beyond",
    "install_hint",
]

EXIT_FOCUSED = 0
"""Focused: the stage is at the best position (for recorded data: every stack has a peak)."""
EXIT_NOT_FOUND = 1
"""Focus not found: the stage is back where it started, and the reason was printed."""
EXIT_BAD_INPUT = 2
"""Bad input: one line on stderr, nothing moved."""
EXIT_HARDWARE = 3
"""Hardware error, a failed return to the start, or a budget (time, frames) used up: one line on
stderr saying where the stage was left."""
EXIT_OUTPUT = 4
"""Output could not be written (closed pipe, full disk): one line on stderr; the stage handled as
on any other failure (returned, or left at the answer once focus was found)."""
EXIT_INTERRUPTED = 130
"""Interrupted by SIGINT (Ctrl-C); SIGTERM gives 143 (128 + the signal number). The stage is
stopped and returned, and one line on stderr says where it is."""


class AutofocusError(Exception):
    """Base of every error this package raises on purpose."""

    exit_code = EXIT_HARDWARE
    stage_state = ""
    """Where the failure left the stage, set by the runner (shown after the message)."""
    stage_position_um: float | None = None
    """Where the stage truly is after the failure, when it answered (set with ``stage_state``)."""

    def describe(self) -> str:
        """One line for a person: the message and where the stage is now."""
        return f"{self}; {self.stage_state}" if self.stage_state else str(self)


class InputError(AutofocusError, ValueError):
    """The user asked for something impossible; raised before anything moves."""

    exit_code = EXIT_BAD_INPUT


class DeviceError(AutofocusError):
    """A stage, camera or connection failed."""

    exit_code = EXIT_HARDWARE


class StageError(DeviceError):
    """The focus drive failed: stall, fault flag, lost connection, timeout."""


class LimitError(StageError):
    """A position outside the allowed interval was requested; it was never commanded."""


class CameraError(DeviceError):
    """The camera failed: timeout, dropped or incomplete frame, disconnect."""


class SearchTimeout(AutofocusError):
    """The whole search took longer than its time budget."""

    exit_code = EXIT_HARDWARE


ReasonCode = Literal["flat", "beyond_lower", "beyond_upper", "rivals", "two_layers", "sparse",
                     "unresolved", "no_data"]
"""Why focus was not found, for programs (the sentence beside it is for people):

- ``flat``: nothing rises above the noise (empty field, no specimen in range);
- ``beyond_lower`` / ``beyond_upper``: the score still rises at that end of the range, so focus
  may lie beyond it (widen the range that way);
- ``rivals``: several comparable peaks and nothing to choose between them;
- ``two_layers``: two separated layers (a section and dust on the coverslip) of similar strength;
- ``sparse``: too few points carry the peak to place it (a spike, or sampling too coarse);
- ``unresolved``: the refinement never resolved a peak where the curve put focus;
- ``no_data``: no usable scores (no frames, or scores that are not finite numbers)."""


class OutputError(AutofocusError):
    """Output could not be written (a closed pipe, a full disk, an unwritable file). The stage
    is handled as on any other failure: returned, or left at the answer once focus was found."""

    exit_code = EXIT_OUTPUT


class FocusNotFound(AutofocusError):
    """The focus curve does not support an answer (flat, edge peak, ambiguous, too noisy).

    ``kind`` says why in a form decisions may read (never the message text)."""

    exit_code = 1

    def __init__(self, reason: str, kind: ReasonCode = "unresolved") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind: ReasonCode = kind

    @property
    def direction(self) -> str:
        """"lower"/"upper" for a focus beyond that end of the range, else ""."""
        return self.kind.removeprefix("beyond_") if self.kind.startswith("beyond_") else ""


def beyond(end: Literal["lower", "upper"]) -> ReasonCode:
    """The reason code of a focus beyond the ``end`` end of the range."""
    return "beyond_lower" if end == "lower" else "beyond_upper"


def install_hint(extra: str) -> str:
    """How to install an optional extra: autofocus is installed from its clone; it is not on a
    package index, so installing it by name with an extra finds nothing."""
    return f"pip install -e '.[{extra}]' in the autofocus clone (the autofocus[{extra}] extra)"
