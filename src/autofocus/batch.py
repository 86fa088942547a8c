"""Batch scoring: rank many images or stacks by focus quality and flag the out-of-focus ones.

Work runs on Dask: the local threaded (default) or process scheduler, or an existing
``dask.distributed`` cluster by address. Memory stays bounded on collections larger than memory:
a task receives only *descriptions* of frames (a file path, a generator's seed), loads each
frame where it is scored and returns one small row per frame; and tasks are handed to Dask in
waves of a few per worker, so neither frames nor a graph of the whole collection pile up.

Dask is the optional ``batch`` extra: it is imported only when a collection is scored.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Protocol, TextIO

import cv2
import numpy as np
import numpy.typing as npt

from autofocus.errors import InputError, install_hint
from autofocus.events import EventHandler, ProgressEvent
from autofocus.frames import Frame
from autofocus.metrics import Roi, make_metric
from autofocus.readers import TIFF_SUFFIXES, TiffPlanes, image_files, read_image

__all__ = [
    "CONNECT_TIMEOUT_S",
    "DEFAULT_SCHEDULER",
    "LOCAL_SCHEDULERS",
    "BatchReport",
    "FlagRule",
    "FrameSource",
    "ImageFile",
    "MetricSpec",
    "RankedFrame",
    "ScoredFrame",
    "collect_files",
    "open_scheduler",
    "rank_scores",
    "score_and_rank",
    "score_chunk",
    "score_collection",
    "score_source",
]

LOCAL_SCHEDULERS = ("threads", "processes", "sync")
DEFAULT_SCHEDULER = "threads"
CONNECT_TIMEOUT_S = 10.0
"""How long to wait for a dask.distributed scheduler before calling its address bad input."""


# --- what is scored --------------------------------------------------------------------------------


class FrameSource(Protocol):
    """A picklable description of one or more frames, loaded where they are scored."""

    @property
    def name(self) -> str: ...

    def frames(self) -> Iterator[Frame]:
        """The frames, one at a time (a stack yields its planes in order)."""
        ...


@dataclass(frozen=True)
class ImageFile:
    """An image file, or a multi-page TIFF whose pages are planes of a stack."""

    path: str

    @property
    def name(self) -> str:
        return self.path

    def frames(self) -> Iterator[Frame]:
        path = Path(self.path)
        if path.suffix.lower() not in TIFF_SUFFIXES:
            yield read_image(path)
            return
        planes = TiffPlanes(path)
        try:
            for index in range(len(planes)):
                yield planes.read(index)
        finally:
            planes.close()


def collect_files(paths: Iterable[str]) -> list[ImageFile]:
    """Image files named directly, found under folders (recursively, in natural name order) or
    matched by globs. Unknown names are an input error, found before work."""
    found: list[ImageFile] = []
    for text in paths:
        path = Path(text)
        if path.is_file():
            found.append(ImageFile(str(path)))
            continue
        images = image_files(text, recursive=True)
        if not images and not path.is_dir():
            raise InputError(f"{text}: no such file, folder or images matching it")
        found.extend(ImageFile(str(p)) for p in images)
    return found


# --- scoring (runs on the workers) -----------------------------------------------------------------


@dataclass(frozen=True)
class MetricSpec:
    """Which measure to score with; turned into a function on the worker (functions built from
    OpenCV calls need not pickle well, a name always does)."""

    name: str
    blur: int | None = None
    roi: Roi | None = None
    downsample: int = 1

    def make(self) -> Callable[[Frame], float]:
        options: dict[str, Any] = {"roi": self.roi, "downsample": self.downsample}
        if self.blur is not None:
            options["blur"] = self.blur
        return make_metric(self.name, **options)


@dataclass(frozen=True)
class ScoredFrame:
    """One scored frame (or a whole stack's best plane). ``score`` is NaN when ``error`` says why
    the source could not be scored."""

    name: str
    plane: int
    planes: int
    score: float
    error: str = ""


def score_source(source: FrameSource, score: Callable[[Frame], float], per_plane: bool) -> list[ScoredFrame]:
    """Rows for one source: every plane, or the stack's best plane (a stack is as good as its
    sharpest plane). A source that cannot be read becomes a row with the reason, so one bad file
    does not cost the rest of a long batch."""
    values: list[float] = []
    try:
        values.extend(float(score(frame)) for frame in source.frames())
    except Exception as exc:  # any failure of one file's reader/decoder: report it, keep going
        return [ScoredFrame(source.name, len(values), len(values), math.nan, f"{type(exc).__name__}: {exc}")]
    if not values:
        return [ScoredFrame(source.name, 0, 0, math.nan, "no frames")]
    if per_plane:
        return [ScoredFrame(source.name, i, len(values), v) for i, v in enumerate(values)]
    best = int(np.nanargmax(values)) if np.isfinite(values).any() else 0
    return [ScoredFrame(source.name, best, len(values), values[best])]


def score_chunk(sources: Sequence[FrameSource], metric: MetricSpec, per_plane: bool) -> list[ScoredFrame]:
    """One Dask task: a few sources scored one after another."""
    score = metric.make()
    rows: list[ScoredFrame] = []
    for source in sources:
        rows.extend(score_source(source, score, per_plane))
    return rows


# --- scheduling ------------------------------------------------------------------------------------


@dataclass
class Scheduler:
    """A way to run lists of Dask tasks, and how many run at once."""

    name: str
    parallelism: int
    compute: Callable[[list[Any]], Sequence[Any]]


def open_scheduler(scheduler: str, workers: int | None) -> AbstractContextManager[Scheduler]:
    """``threads``, ``processes``, ``sync`` or the address of a dask.distributed scheduler."""
    if workers is not None and workers < 1:
        raise InputError("workers must be 1 or more")
    if scheduler in LOCAL_SCHEDULERS:
        return _local_scheduler(scheduler, workers)
    if "://" in scheduler or ":" in scheduler:
        return _distributed_scheduler(scheduler)
    raise InputError(f"unknown scheduler {scheduler!r}: use {', '.join(LOCAL_SCHEDULERS)} "
                     "or a dask.distributed address such as tcp://10.0.0.5:8786")


@contextmanager
def _local_scheduler(name: str, workers: int | None) -> Iterator[Scheduler]:
    import os

    import dask

    count = 1 if name == "sync" else workers or os.cpu_count() or 1
    pool: Executor | None = None
    if name == "threads":
        pool = ThreadPoolExecutor(count)
    elif name == "processes":
        import multiprocessing

        # spawn, not fork: forking a process that already runs threads (Dask's, the caller's)
        # can deadlock the children.
        pool = ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_one_thread_per_worker)
    # One pool for the whole run: Dask would otherwise start a new pool for every wave.
    options: dict[str, Any] = {"scheduler": name} if pool is None else {"scheduler": name, "pool": pool}

    def compute(tasks: list[Any]) -> Sequence[Any]:
        return dask.compute(*tasks, **options)

    try:
        yield Scheduler(name, count, compute)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


@contextmanager
def _distributed_scheduler(address: str) -> Iterator[Scheduler]:
    try:
        from distributed import Client
    except ModuleNotFoundError:
        raise InputError(
            f"--scheduler ADDRESS needs dask.distributed: {install_hint('batch')}"
        ) from None
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise InputError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    try:
        threads = sum(client.nthreads().values()) or 1

        def compute(tasks: list[Any]) -> Sequence[Any]:
            return client.gather(client.compute(tasks))  # type: ignore[no-any-return]

        yield Scheduler(address, threads, compute)
    finally:
        client.close()


def _one_thread_per_worker() -> None:
    """Each worker process is one core's worth of work already: OpenCV's own thread pool on top
    would only oversubscribe the cores."""
    cv2.setNumThreads(1)


def chunked(items: Iterable[FrameSource], size: int) -> Iterator[list[FrameSource]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def score_collection(
    sources: Iterable[FrameSource],
    metric: MetricSpec,
    *,
    scheduler: str = DEFAULT_SCHEDULER,
    workers: int | None = None,
    chunk_size: int = 4,
    per_plane: bool = False,
    on_event: EventHandler | None = None,
) -> list[ScoredFrame]:
    """Score every source on Dask, in input order. ``sources`` may be a lazy iterable: it is
    consumed a wave at a time, so a generator over millions of files never becomes one graph."""
    import dask

    if chunk_size < 1:
        raise InputError("chunk size must be 1 or more")
    metric.make()  # an unknown metric is bad input here, not an error on every worker
    emit: EventHandler = on_event or (lambda event: None)
    total = len(sources) if isinstance(sources, Sequence) else None
    rows: list[ScoredFrame] = []
    done = 0
    with open_scheduler(scheduler, workers) as run:
        # Two tasks per worker in flight keeps every worker busy while one wave's stragglers
        # finish, and bounds frames in memory to about one per worker.
        wave_size = 2 * run.parallelism
        chunks = chunked(sources, chunk_size)
        while wave := list(islice(chunks, wave_size)):
            tasks = [dask.delayed(score_chunk, pure=False)(chunk, metric, per_plane) for chunk in wave]
            for chunk_rows in run.compute(tasks):
                rows.extend(chunk_rows)
            done += sum(len(chunk) for chunk in wave)
            emit(ProgressEvent("frame", done, message=run.name, expected_frames=total))
    return rows


# --- ranking and flagging --------------------------------------------------------------------------


@dataclass(frozen=True)
class FlagRule:
    """Out of focus means a score below ``absolute``, or else below ``relative`` times the
    collection's median score (a collection-relative rule needs no calibration per specimen)."""

    relative: float = 0.5
    absolute: float | None = None

    def __post_init__(self) -> None:
        if self.absolute is None and not (math.isfinite(self.relative) and self.relative > 0):
            raise InputError("the relative threshold must be a positive number")
        if self.absolute is not None and not math.isfinite(self.absolute):
            raise InputError("the absolute threshold must be a finite number")

    def threshold(self, scores: npt.NDArray[np.float64]) -> float:
        if self.absolute is not None:
            return self.absolute
        finite = scores[np.isfinite(scores)]
        return float(self.relative * np.median(finite)) if finite.size else math.nan

    def describe(self) -> str:
        if self.absolute is not None:
            return f"score < {self.absolute:g}"
        return f"score < {self.relative:g} x collection median"


@dataclass(frozen=True)
class RankedFrame:
    rank: int
    path: str
    plane: int
    planes: int
    score: float
    flagged: bool
    error: str = ""


@dataclass
class BatchReport:
    """Frames ranked sharpest first (unreadable ones last), with the out-of-focus flag."""

    rows: list[RankedFrame]
    threshold: float
    rule: str
    metric: str
    scheduler: str = ""
    elapsed_s: float = 0.0

    @property
    def flagged(self) -> list[RankedFrame]:
        return [row for row in self.rows if row.flagged]

    @property
    def errors(self) -> list[RankedFrame]:
        return [row for row in self.rows if row.error]

    def summary(self) -> str:
        rate = len(self.rows) / self.elapsed_s if self.elapsed_s > 0 else math.inf
        scored = len(self.rows) - len(self.errors)
        blurred = len(self.flagged) - len(self.errors)  # unreadable rows are flagged too
        threshold = f"threshold {self.threshold:.6g}" if math.isfinite(self.threshold) else "no threshold"
        return (f"{scored} frames scored with {self.metric} on {self.scheduler} in "
                f"{self.elapsed_s:.2f} s ({rate:.1f}/s); {blurred} out of focus "
                f"({self.rule}, {threshold}); {len(self.errors)} unreadable (flagged too)")

    def write_csv(self, handle: TextIO) -> None:
        writer = csv.writer(handle)
        writer.writerow(["rank", "path", "plane", "planes", "score", "flagged", "error"])
        for row in self.rows:
            writer.writerow([row.rank, row.path, row.plane, row.planes, repr(row.score),
                             int(row.flagged), row.error])

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric, "rule": self.rule,
            "threshold": self.threshold if math.isfinite(self.threshold) else None,
            "scheduler": self.scheduler, "elapsed_s": round(self.elapsed_s, 6),
            "frames": len(self.rows), "flagged": len(self.flagged), "errors": len(self.errors),
            "rows": [{**asdict(r), "score": r.score if math.isfinite(r.score) else None} for r in self.rows],
        }

    def write_json(self, handle: TextIO) -> None:
        json.dump(self.to_dict(), handle)
        handle.write("\n")


def rank_scores(scored: Sequence[ScoredFrame], rule: FlagRule, metric: str) -> BatchReport:
    """Sort sharpest first and flag by the rule; unreadable sources are flagged and ranked last."""
    scores = np.array([s.score for s in scored], dtype=float)
    threshold = rule.threshold(scores)
    # Sharpest first; NaN (unreadable) sorts last instead of scrambling the order.
    order = sorted(range(len(scored)), key=lambda i: (not math.isfinite(scores[i]), -scores[i]))
    rows = [
        RankedFrame(rank + 1, s.name, s.plane, s.planes, s.score,
                    flagged=not math.isfinite(s.score) or s.score < threshold, error=s.error)
        for rank, s in ((rank, scored[i]) for rank, i in enumerate(order))
    ]
    return BatchReport(rows, threshold, rule.describe(), metric)


def score_and_rank(
    sources: Iterable[FrameSource],
    metric: MetricSpec,
    rule: FlagRule,
    *,
    scheduler: str = DEFAULT_SCHEDULER,
    workers: int | None = None,
    chunk_size: int = 4,
    per_plane: bool = False,
    on_event: EventHandler | None = None,
) -> BatchReport:
    """Score a collection and rank it: the whole batch job in one call."""
    began = time.perf_counter()
    scored = score_collection(sources, metric, scheduler=scheduler, workers=workers,
                              chunk_size=chunk_size, per_plane=per_plane, on_event=on_event)
    report = rank_scores(scored, rule, metric.name)
    report.scheduler = scheduler
    report.elapsed_s = time.perf_counter() - began
    return report
