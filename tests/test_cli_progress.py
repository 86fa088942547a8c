"""The progress bar follows the search's plan and ends full, whatever the first estimate of the
frames was (issue 14)."""

from __future__ import annotations

from tests.conftest import small_sim

from autofocus.cli_progress import progress_view
from autofocus.events import ProgressEvent
from autofocus.runner import AutofocusSettings, run_autofocus
from autofocus.space import sweep_positions


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


def test_frame_events_carry_the_plan_so_far_which_grows_with_the_passes() -> None:
    """The default search's frames report the frames planned so far (this pass's end), not the
    sweep's count: the bar's total follows the search and is never far ahead of it."""
    sim = small_sim(specimen="stained-tissue")
    events: list[ProgressEvent] = []
    result = run_autofocus(sim.devices(), AutofocusSettings(9_500.0, 10_500.0, 10.0),
                           on_event=events.append)
    frames = [e for e in events if e.kind == "frame"]
    plans = [e.expected_frames for e in frames]
    assert all(p is not None and p >= e.frame for p, e in zip(plans, frames, strict=True))
    assert plans == sorted(plans)  # type: ignore[type-var]
    assert plans[0] is not None and plans[0] < 30 < len(sweep_positions(9_500.0, 10_500.0, 10.0))
    assert plans[-1] is not None and result.frames <= plans[-1] <= result.frames + 10
