"""Time per 1920x1200 frame of every focus measure, uint8 and uint16, beside the tutorial's code.

Run: ``.venv/bin/python benchmarks/metrics.py [--repeats N]``. Prints a table of the median wall
time of N calls per cell, all measured in this one run on the same frames: a smooth random texture
(a focused specimen with detail down to a few pixels), not a flat frame. The tutorial's column is
the seed's code verbatim; OpenCV refuses a 9-pixel median on uint16, which the table reports.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import cv2
import numpy as np
from scipy import ndimage

from autofocus.metrics import METRICS

WIDTH, HEIGHT, BLUR = 1920, 1200, 9


def tutorial_focus_score(image: Any, blur: int) -> float:
    """The seed's calculate_focus_score (Zaber tutorial), verbatim."""
    image_filtered = cv2.medianBlur(image, blur)
    laplacian = cv2.Laplacian(image_filtered, cv2.CV_64F)
    focus_score: float = laplacian.var()
    return focus_score


def frames(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = cv2.GaussianBlur(rng.standard_normal((HEIGHT, WIDTH)).astype(np.float32), (0, 0), 3.0)
    t = (t - t.min()) / (t.max() - t.min())
    return {
        "uint8": np.round(t * 255).astype(np.uint8),
        "uint16": np.round(t * 65535).astype(np.uint16),
    }


def median_ms(call: Callable[[], object], repeats: int) -> float:
    call()  # warm-up: compiles the median network, starts the thread pool
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="calls per cell (median reported)")
    args = parser.parse_args()
    images = frames()
    rows: list[tuple[str, list[str]]] = []

    cells = []
    for image in images.values():
        try:
            cells.append(f"{median_ms(partial(tutorial_focus_score, image, BLUR), args.repeats):.1f}")
        except cv2.error:
            cells.append("crashes")
    rows.append(("tutorial (seed code, cv2 only)", cells))

    for name, info in METRICS.items():
        kwargs: dict[str, int] = {"blur": BLUR} if info.takes_blur else {}
        cells = [
            f"{median_ms(partial(info.function, image, **kwargs), args.repeats):.1f}"
            for image in images.values()
        ]
        rows.append((name, cells))

    # Context for the 16-bit median: the exact reference it replaces.
    ref = median_ms(partial(ndimage.median_filter, images["uint16"], BLUR, mode="nearest"), 1)
    rows.append(("(scipy median_filter 9x9 alone)", ["-", f"{ref:.1f}"]))

    # Exactness, checked on the benchmark frame itself.
    same8 = METRICS["laplacian"].function(images["uint8"]) == tutorial_focus_score(images["uint8"], BLUR)

    print(
        f"ms per {WIDTH}x{HEIGHT} frame, median of {args.repeats}, blur {BLUR}, "
        f"{os.cpu_count()} CPUs, OpenCV {cv2.__version__}, numpy {np.__version__}"
    )
    width = max(len(r[0]) for r in rows)
    print(f"| {'metric':<{width}} | {'uint8':>8} | {'uint16':>8} |")
    print(f"|{'-' * (width + 2)}|{'-' * 10}|{'-' * 10}|")
    for name, (c8, c16) in rows:
        print(f"| {name:<{width}} | {c8:>8} | {c16:>8} |")
    print(f"laplacian == tutorial on uint8 (bit-identical): {same8}")


if __name__ == "__main__":
    main()
