"""Generated microscope-like frames for batch tests and benchmarks (no disk in the way).

A :class:`~autofocus.batch.FrameSource` that pickles as a few numbers, so process and distributed
schedulers generate the frames where they are scored. Importable as ``tests.synthetic`` from the
project root (spawned worker processes inherit the parent's ``sys.path``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from autofocus.errors import InputError
from autofocus.frames import Frame


@dataclass(frozen=True)
class SyntheticFrame:
    """A generated microscope-like frame: a fixed random texture, shifted per frame and blurred by
    ``blur_px`` (0 is sharp). For benchmarks and tests, with no disk in the way."""

    index: int
    width: int = 1920
    height: int = 1200
    blur_px: float = 0.0
    bits: int = 8
    seed: int = 0

    @property
    def name(self) -> str:
        return f"synthetic-{self.index:06d}"

    def frames(self) -> Iterator[Frame]:
        base = _texture(self.width, self.height, self.bits, self.seed)
        # A different field of view per frame, without paying for new random numbers per frame.
        frame = np.roll(base, (self.index * 37 % self.height, self.index * 53 % self.width), axis=(0, 1))
        if self.blur_px > 0:
            frame = cv2.GaussianBlur(frame, (0, 0), self.blur_px)
        yield frame


@lru_cache(maxsize=2)
def _texture(width: int, height: int, bits: int, seed: int) -> np.ndarray:
    """Fine random structure at the camera's bit depth (cached: one per worker process)."""
    if bits not in (8, 16):
        raise InputError("synthetic frames are 8 or 16 bits")
    noise = np.random.default_rng(seed).random((height, width), dtype=np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 1.5)
    smooth = (smooth - smooth.min()) / max(float(smooth.max() - smooth.min()), 1e-6)
    top = 255 if bits == 8 else 65_535
    return np.rint(smooth * top).astype(np.uint8 if bits == 8 else np.uint16)
