"""Batch scoring throughput: generated 1920x1200 frames scored on Dask, for one worker and for
all cores, with the peak memory of the whole process tree.

Frames are generated inside the workers (a fixed random texture, shifted and, for every tenth
frame, blurred), so the numbers measure loading + scoring + scheduling without a disk in the way,
and the run shows memory staying flat although the frames together are several gigabytes.
Each configuration runs in a fresh process so peak memory is its own.

    python benchmarks/batch.py [--frames 2000] [--width 1920] [--height 1200] [--bits 8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BLUR_EVERY = 10  # every tenth frame is out of focus; the batch must flag exactly those


@dataclass(frozen=True)
class Config:
    scheduler: str
    workers: int


class PeakMemory:
    """Samples the resident memory of this process and its children (process workers count)."""

    def __init__(self, interval_s: float = 0.05) -> None:
        import psutil

        self._me = psutil.Process()
        self._interval = interval_s
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        total = 0
        for proc in [self._me, *self._me.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except Exception:  # a worker may exit between listing and reading: skip it
                continue
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self._sample())
            self._stop.wait(self._interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def child(args: argparse.Namespace) -> dict[str, Any]:
    """One configuration, measured in this (fresh) process."""
    import cv2

    from autofocus.batch import FlagRule, MetricSpec, score_and_rank

    # The frame generator is a test helper (tests/synthetic.py), not part of the library.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.synthetic import SyntheticFrame

    from autofocus.modes import metric_for_mode

    # One OpenCV thread per worker, so "1 worker" really is one core and scaling comes from Dask.
    cv2.setNumThreads(1)
    sources = (
        SyntheticFrame(i, args.width, args.height, blur_px=4.0 if i % BLUR_EVERY == 0 else 0.0,
                       bits=args.bits)
        for i in range(args.frames)  # lazy: the collection is never materialised either
    )
    metric = MetricSpec(args.metric or metric_for_mode("auto"))
    with PeakMemory() as memory:
        began = time.perf_counter()
        report = score_and_rank(sources, metric, FlagRule(), scheduler=args.scheduler,
                                workers=args.workers, chunk_size=args.chunk_size)
        elapsed = time.perf_counter() - began
    flagged = {int(row.path.rsplit("-", 1)[1]) for row in report.flagged}
    expected = set(range(0, args.frames, BLUR_EVERY))
    return {
        "frames": len(report.rows), "seconds": elapsed, "fps": len(report.rows) / elapsed,
        "peak_mb": memory.peak_bytes / 2**20, "metric": metric.name,
        "flags_correct": flagged == expected, "flagged": len(flagged),
    }


def run_config(config: Config, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", "--scheduler", config.scheduler,
               "--workers", str(config.workers), "--frames", str(args.frames), "--width", str(args.width),
               "--height", str(args.height), "--bits", str(args.bits), "--chunk-size", str(args.chunk_size)]
    if args.metric:
        command += ["--metric", args.metric]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{config} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1200)
    parser.add_argument("--bits", type=int, choices=(8, 16), default=8)
    parser.add_argument("--metric", default=None, help="default: the 'auto' mode's measure")
    parser.add_argument("--chunk-size", type=int, default=4)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--scheduler", default="threads", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return 0

    cores = os.cpu_count() or 1
    configs = [Config("threads", 1), Config("threads", cores), Config("processes", cores)]
    frame_mb = args.width * args.height * (1 if args.bits == 8 else 2) / 2**20
    total_gib = args.frames * frame_mb / 1024
    print(f"{args.frames} generated {args.width}x{args.height} {args.bits}-bit frames "
          f"({total_gib:.1f} GiB in total), chunk size {args.chunk_size}, {cores} cores\n")
    headers = ["scheduler", "workers", "metric", "frames", "seconds", "frames/s", "peak memory (MiB)",
               "flags correct"]
    print("| " + " | ".join(headers) + " |")
    print("| " + " | ".join("-" * len(h) for h in headers) + " |")
    ok = True
    for config in configs:
        r = run_config(config, args)
        ok &= bool(r["flags_correct"])
        cells = [config.scheduler, str(config.workers), r["metric"], str(r["frames"]), f"{r['seconds']:.1f}",
                 f"{r['fps']:.1f}", f"{r['peak_mb']:.0f}", "yes" if r["flags_correct"] else "NO"]
        print("| " + " | ".join(cells) + " |", flush=True)
    print(f"\none frame is {frame_mb:.1f} MiB; peak memory covers the whole process tree "
          "(Python, NumPy, OpenCV, Dask and every worker)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
