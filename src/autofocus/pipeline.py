"""The time a run spends computing, and scoring taken off the hardware's critical path.

A loop that scores a frame before it commands the next move or grab waits for the scoring: on
real hardware that time passes on the wall clock; on the simulator's virtual clock it would
not pass at all, and the run would look faster than it is. :class:`ComputeTime` measures the
compute between hardware operations (scoring, the strategy's decisions, callbacks) and, on a
virtual clock, lets the clock wait as long, so ``wall_s`` is what a real run would take and
``hardware_s`` (the clock less those waits) what the hardware itself needed.

:class:`ScoringPipeline` takes scoring off that path for streamed passes: frame n is scored
while frame n+1 is exposed, with at most ``depth`` frames waiting (memory stays bounded and
the scores the strategy's ``stop_when`` sees lag by at most that much). A frame keeps the z
and time of its own exposure, whenever it is scored. On a real clock a worker thread scores;
on a virtual clock scoring runs at once in this thread and its measured duration is placed on
a virtual worker's timeline, so the run stays deterministic in its order of events and the
clock waits only when the loop would really have waited (a full queue, the end of the pass).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from autofocus.clock import Clock, VirtualClock
from autofocus.frames import Frame
from autofocus.space import STREAM_LAG

__all__ = ["DEFAULT_DEPTH", "ComputeTime", "Scores", "ScoringPipeline"]

Scores = tuple[float, float | None]
"""A frame's fine score and its coarse one (None without a coarse measure)."""
Tag = TypeVar("Tag")

DEFAULT_DEPTH = STREAM_LAG


class ComputeTime:
    """Compute the hardware loop waited for (``waited_s``) and all compute (``compute_s``).

    Call :meth:`resume` just before each hardware operation and :meth:`pause` just after it;
    what passed between them is compute the loop waited for."""

    def __init__(self, clock: Clock, *, wait_on_virtual: bool = True) -> None:
        self.clock = clock
        self.virtual = isinstance(clock, VirtualClock)
        self._wait_on_virtual = wait_on_virtual
        self.waited_s = 0.0
        self.compute_s = 0.0
        self.streaming = False
        """True while the stage keeps moving by itself (a streamed pass): a wait then delays
        the next frame, the move goes on, and the run takes no longer for it."""
        self._mark = time.perf_counter()

    def resume(self) -> None:
        gap = time.perf_counter() - self._mark
        self.compute_s += max(gap, 0.0)
        self.wait(gap)
        self._mark = time.perf_counter()

    def pause(self) -> None:
        self._mark = time.perf_counter()

    def wait(self, seconds: float) -> None:
        """The loop waits ``seconds`` for compute (on a virtual clock, the clock waits too)."""
        if seconds <= 0:
            return
        if self.virtual:
            if not self._wait_on_virtual:
                return  # a timeline of hardware alone: reproducible, but wall_s = hardware_s
            self.clock.sleep(seconds)
        if not self.streaming:
            self.waited_s += seconds

    def off_path(self, seconds: float) -> None:
        """``seconds`` of compute just done that the loop did not wait for (a worker's)."""
        self.compute_s += seconds
        self._mark += seconds


@dataclass
class _Job(Generic[Tag]):
    tag: Tag
    frame: Frame
    done_at: float = 0.0
    scores: Scores | None = None
    future: Future[tuple[Scores, float]] | None = None


class ScoringPipeline(Generic[Tag]):
    """Frames in, scores out in the same order, scored off the loop's path (see module)."""

    def __init__(self, score: Callable[[Frame], Scores], timer: ComputeTime,
                 depth: int = DEFAULT_DEPTH) -> None:
        self._score = score
        self._timer = timer
        self._depth = max(1, depth)
        self._jobs: deque[_Job[Tag]] = deque()
        self._free_at = timer.clock.now()
        self._pool = None if timer.virtual else ThreadPoolExecutor(1, "autofocus-scoring")

    def submit(self, tag: Tag, frame: Frame) -> list[tuple[Tag, Frame, Scores]]:
        """Queue a frame; returns the frames whose scores are ready (oldest first), waiting for
        the oldest when ``depth`` frames are already queued."""
        out: list[tuple[Tag, Frame, Scores]] = []
        if len(self._jobs) >= self._depth:
            out.append(self._wait_oldest())
        job: _Job[Tag] = _Job(tag, frame)
        if self._pool is None:
            began = time.perf_counter()
            job.scores = self._score(frame)
            spent = time.perf_counter() - began
            self._timer.off_path(spent)
            self._free_at = max(self._free_at, self._timer.clock.now()) + spent
            job.done_at = self._free_at
        else:
            job.future = self._pool.submit(self._timed, frame)
        self._jobs.append(job)
        return out + self.ready()

    def ready(self) -> list[tuple[Tag, Frame, Scores]]:
        """Frames scored by now (virtual time, or the worker's progress), oldest first."""
        out: list[tuple[Tag, Frame, Scores]] = []
        while self._jobs and self._is_done(self._jobs[0]):
            out.append(self._wait_oldest())
        return out

    def drain(self) -> list[tuple[Tag, Frame, Scores]]:
        """Every queued frame's scores, waiting for them."""
        out: list[tuple[Tag, Frame, Scores]] = []
        while self._jobs:
            out.append(self._wait_oldest())
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _is_done(self, job: _Job[Tag]) -> bool:
        if job.future is not None:
            return job.future.done()
        return job.done_at <= self._timer.clock.now()

    def _wait_oldest(self) -> tuple[Tag, Frame, Scores]:
        job = self._jobs.popleft()
        if job.future is not None:
            # A real wait: it passes on the wall clock, and the caller's next resume() counts it.
            scores, spent = job.future.result()
            self._timer.compute_s += spent
        else:
            assert job.scores is not None
            scores = job.scores
            self._timer.wait(job.done_at - self._timer.clock.now())
        return job.tag, job.frame, scores

    def _timed(self, frame: Frame) -> tuple[Scores, float]:
        began = time.perf_counter()
        scores = self._score(frame)
        return scores, time.perf_counter() - began
