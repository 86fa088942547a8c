"""Focus measures: pure functions ``frame -> float``, larger is sharper.

Every measure accepts uint8, uint16 or floating-point 2-D frames of any size, an optional region of
interest ``roi=(x, y, width, height)`` in pixels, and ``downsample`` (an integer block-average
factor applied after cropping).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import cv2
import numpy as np
from scipy import ndimage

from autofocus.devices.base import Frame
from autofocus.errors import InputError

Roi = tuple[int, int, int, int]
"""x, y, width, height in pixels."""


def prepare(image: Frame, roi: Roi | None = None, downsample: int = 1) -> np.ndarray:
    """Crop and block-average a frame, keeping its dtype (no loss of bit depth)."""
    frame = np.asarray(image)
    if frame.ndim == 3 and frame.shape[2] in (3, 4):
        frame = frame[..., :3].mean(axis=2)
    if frame.ndim != 2:
        raise InputError(f"a frame must be 2-D, got shape {frame.shape}")
    if roi is not None:
        x, y, w, h = roi
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > frame.shape[1] or y + h > frame.shape[0]:
            raise InputError(f"roi {roi} does not fit a {frame.shape[1]}x{frame.shape[0]} frame")
        frame = frame[y : y + h, x : x + w]
    if downsample > 1:
        h = frame.shape[0] // downsample * downsample
        w = frame.shape[1] // downsample * downsample
        if h == 0 or w == 0:
            raise InputError(f"downsample {downsample} is larger than the frame")
        blocks = frame[:h, :w].reshape(h // downsample, downsample, w // downsample, downsample)
        frame = blocks.mean(axis=(1, 3), dtype=np.float32)
    return frame


def median_blur(frame: np.ndarray, size: int) -> np.ndarray:
    """Median filter of odd ``size``; 8-bit uses OpenCV, other depths an exact scipy median."""
    if size <= 1:
        return frame
    if frame.dtype == np.uint8:
        return cv2.medianBlur(frame, size)
    return ndimage.median_filter(frame, size=size, mode="reflect")


def variance_of_laplacian(
    image: Frame, *, blur: int = 9, roi: Roi | None = None, downsample: int = 1
) -> float:
    """The tutorial's measure: median blur of ``blur`` pixels, then the variance of the Laplacian.

    On 8-bit frames this is exactly ``cv2.Laplacian(cv2.medianBlur(img, blur), cv2.CV_64F).var()``.
    """
    frame = median_blur(prepare(image, roi, downsample), blur)
    return float(cv2.Laplacian(frame, cv2.CV_64F).var())


@dataclass(frozen=True)
class MetricInfo:
    function: Callable[..., float]
    summary: str
    takes_blur: bool = False


METRICS: dict[str, MetricInfo] = {
    "laplacian": MetricInfo(
        variance_of_laplacian, "the tutorial's: median blur then variance of the Laplacian", True
    ),
}


def make_metric(
    name: str, *, blur: int = 9, roi: Roi | None = None, downsample: int = 1
) -> Callable[[Frame], float]:
    """A ready-to-call ``frame -> score`` for a registered metric name."""
    try:
        info = METRICS[name]
    except KeyError:
        known = ", ".join(sorted(METRICS))
        raise InputError(f"unknown metric {name!r}; choose one of: {known}") from None
    validate_blur(blur)
    kwargs: dict[str, Any] = {"roi": roi, "downsample": downsample}
    if info.takes_blur:
        kwargs["blur"] = blur
    return partial(info.function, **kwargs)


def validate_blur(blur: int) -> None:
    if blur < 1 or blur % 2 == 0 or blur > 255:
        raise InputError(f"blur must be an odd number of pixels from 1 to 255, got {blur}")
