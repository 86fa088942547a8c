"""The progress bar ends full, whatever the first estimate of the frames was (issue 14)."""

from __future__ import annotations

from autofocus.cli_progress import progress_view
from autofocus.events import ProgressEvent


def test_the_bar_ends_full_when_the_search_takes_fewer_frames_than_planned() -> None:
    with progress_view("focusing", show_bar=True, expected_frames=101) as view:
        for frame in range(1, 31):
            view(ProgressEvent("frame", frame, 10_000.0 + frame, 1.0))
        view(ProgressEvent("done", 30, 10_010.0, 1.0))
        assert view.progress is not None
        task = view.progress.tasks[0]
        assert (task.completed, task.total) == (30, 30)


def test_the_bar_ends_full_when_focus_is_not_found() -> None:
    with progress_view("focusing", show_bar=True, expected_frames=101) as view:
        for frame in range(1, 13):
            view(ProgressEvent("frame", frame, 10_000.0 + frame, 1.0))
        view(ProgressEvent("not-found", 12, message="flat"))
        assert view.progress is not None
        task = view.progress.tasks[0]
        assert task.completed == task.total == 12
