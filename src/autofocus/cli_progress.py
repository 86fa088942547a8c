"""The one progress renderer of the command line: a bar on stderr and, with ``--verbose``, the
tutorial's line per step on stdout. Shared by the live command (:mod:`autofocus.cli`) and the jobs
on recorded data (:mod:`autofocus.cli_recorded`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from autofocus.events import ProgressEvent

__all__ = ["ProgressView", "progress_view"]


class ProgressView:
    """Renders progress events: a bar (when ``progress`` is given) and verbose lines."""

    def __init__(self, progress: Progress | None, task: TaskID | None, expected_frames: int | None,
                 verbose: bool) -> None:
        self.progress = progress
        self.task = task
        self.expected_frames = expected_frames
        self.verbose = verbose

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind == "frame":
            if self.progress is not None and self.task is not None:
                known = event.expected_frames or self.expected_frames
                # A search may take more frames than first planned: the bar grows, never overflows.
                total = max(known, event.frame) if known is not None else None
                self.progress.update(self.task, completed=event.frame, total=total)
            if self.verbose and event.z_um is not None:
                print(f"step {event.frame}: position {event.z_um / 1000:.6f} mm, "
                      f"focus score {event.score:.6g}")
        elif self.verbose and event.message:
            print(f"{event.kind}: {event.message}")


@contextmanager
def progress_view(label: str, *, show_bar: bool, expected_frames: int | None = None, unit: str = "",
                  verbose: bool = False) -> Iterator[ProgressView]:
    """A renderer for the duration of a job; the bar is transient (gone before results print)."""
    if not show_bar:
        yield ProgressView(None, None, expected_frames, verbose)
        return
    columns = [TextColumn(label), BarColumn(), MofNCompleteColumn()]
    if unit:
        columns.append(TextColumn(unit))
    columns.append(TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(label, total=expected_frames)
        yield ProgressView(progress, task, expected_frames, verbose)
