"""The search, off the GUI thread: one :class:`SearchThread` per run.

The runner's callbacks fire on the search thread; each becomes a Qt signal, which Qt queues to
the widgets on the GUI thread (a signal emitted on one thread reaches an object living on
another through that object's event loop). The GUI thread never waits for hardware.

Stop: :meth:`SearchThread.request_stop` sets a flag; the next scored frame's callback raises
:class:`SearchStopped` inside the runner's probe, which the runner treats as every failure: it
stops the stage and moves it back to where the run started. At most the frame already being
taken when Stop was pressed completes. Only the frame callback raises: the event callback is
also called on the runner's failure path, before the stage goes back, and must never fail there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from qtpy.QtCore import QThread, Signal

from autofocus.devices.base import Microscope
from autofocus.errors import EXIT_NOT_FOUND, AutofocusError
from autofocus.frames import Frame
from autofocus.runner import AutofocusSettings, run_autofocus

__all__ = ["SearchStopped", "SearchThread"]


class SearchStopped(AutofocusError):
    """The user pressed Stop; the runner returned the stage to its start."""

    exit_code = EXIT_NOT_FOUND


class SearchThread(QThread):  # type: ignore[misc]  # Qt is opaque to mypy here
    """Runs :func:`autofocus.runner.run_autofocus` once and reports through signals.

    Signals (all delivered on the GUI thread):

    - ``progress(ProgressEvent)``: every runner event (start, frame, final-move, done, ...).
    - ``scored(index, z_um, score, coarse, frame)``: each scored frame with both its scores.
    - ``succeeded(FocusResult)``: the run ended (focused, or focus not found with the reason).
    - ``ended_early(kind, message)``: ``"stopped"`` or ``"failed"`` and one line for a person,
      which says where the stage is.
    """

    progress = Signal(object)
    scored = Signal(int, float, float, float, object)
    succeeded = Signal(object)
    ended_early = Signal(str, str)

    def __init__(self, microscope: Microscope, settings: AutofocusSettings) -> None:
        # No Qt parent, and a reference to itself until the run has ended: a panel closed or
        # deleted mid-search (a napari dock removed) must not destroy a running thread, which
        # aborts the process; the thread ends the search, returns the stage, then lets go.
        super().__init__()
        self._keep_alive: SearchThread | None = self
        self.finished.connect(self._let_go)
        self._microscope = microscope
        self._settings = settings
        self._stop = threading.Event()
        # The coarse score is not in the runner's frame callback: score it here with the
        # runner's own coarse measure for this run, so the live curve shows both.
        self._coarse: Callable[[Frame], float] = settings.score_functions()[1]

    def request_stop(self) -> None:
        """Ask the search to end after the frame being taken now; safe from any thread."""
        self._stop.set()

    def _let_go(self) -> None:
        self._keep_alive = None

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:  # on the search thread
        try:
            result = run_autofocus(self._microscope, self._settings,
                                   on_event=self.progress.emit, on_frame=self._on_frame)
        except SearchStopped as exc:
            self.ended_early.emit("stopped", exc.describe())
        except AutofocusError as exc:
            self.ended_early.emit("failed", exc.describe())
        except Exception as exc:  # a bug or a library's own error: say it, never kill the GUI
            self.ended_early.emit("failed", f"{type(exc).__name__}: {exc}")
        else:
            self.succeeded.emit(result)

    def _on_frame(self, index: int, z_um: float, frame: Frame, score: float) -> None:
        self.scored.emit(index, z_um, score, float(self._coarse(frame)), frame)
        if self._stop.is_set():
            raise SearchStopped("stopped by the user")
