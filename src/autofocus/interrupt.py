"""Interruption by signals: SIGINT (Ctrl-C) and SIGTERM (``kill``, systemd, a lab scheduler, a
closing terminal) end a run the same way, as an :class:`Interrupted` exception, so the code that
owns the stage can stop it and bring it back before the process exits.

Python delivers signals to the main thread only, so both context managers act only there and do
nothing elsewhere (a run on another thread keeps the process's own handlers). Handlers are
process-wide by nature; each context manager restores what it found.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import FrameType

__all__ = ["SIGNALS", "Interrupted", "annotate", "signals_deferred", "signals_raise", "stage_state_of"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """The run was interrupted by ``signum``; exit code 128 + signal number (130, 143).

    A BaseException like KeyboardInterrupt (``except Exception`` does not swallow it), but not
    one: the command-line library turns a KeyboardInterrupt into a silent exit 130, and this
    must reach our handler, which says where the stage is."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.stage_state = ""

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    def describe(self) -> str:
        text = f"interrupted ({self.name})"
        return f"{text}; {self.stage_state}" if self.stage_state else text


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def signals_raise() -> Iterator[None]:
    """Inside, SIGINT and SIGTERM raise :class:`Interrupted` in the main thread."""
    if not _main_thread():
        yield
        return

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, interrupt) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def signals_deferred() -> Iterator[list[int]]:
    """Inside, SIGINT and SIGTERM are only recorded (in the yielded list), never raised: the
    block brings the stage back to safety, and a second Ctrl-C must not abandon it half way.
    The caller decides what a recorded signal means once the block is done."""
    pending: list[int] = []
    if not _main_thread():
        yield pending
        return

    def record(signum: int, _frame: FrameType | None) -> None:
        pending.append(signum)

    previous = {sig: signal.signal(sig, record) for sig in SIGNALS}
    try:
        yield pending
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def annotate(exc: BaseException, stage_state: str, position_um: float | None = None) -> None:
    """Record on ``exc`` where the failure left the stage (shown after its message) and, when
    the stage answered, its position (for ``--json``)."""
    with suppress(AttributeError):  # an exception type with __slots__: nothing to record on
        exc.stage_state = stage_state  # type: ignore[attr-defined]
        exc.stage_position_um = position_um  # type: ignore[attr-defined]


def stage_state_of(exc: BaseException) -> str:
    state = getattr(exc, "stage_state", "")
    return state if isinstance(state, str) else ""
