"""Frames: the image type every layer passes around, regions of interest, and colour to grey.

Ground floor: imports nothing from the package but :mod:`autofocus.errors`, so devices, analysis
and workflows can all share one definition of a frame and one grey formula.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from autofocus.errors import InputError

__all__ = ["ChannelOrder", "Frame", "Roi", "crop", "is_colour", "parse_roi", "to_grey", "validate_roi"]

Frame = npt.NDArray[np.generic]
"""A 2-D monochrome image: uint8, uint16 or floating point."""

Roi = tuple[int, int, int, int]
"""x, y, width, height in pixels."""

ChannelOrder = Literal["RGB", "BGR"]


def parse_roi(text: str | None, what: str = "--roi") -> Roi | None:
    """``X,Y,WIDTH,HEIGHT`` (pixels) as a :data:`Roi`; None or "" for the whole frame."""
    if text is None or not text.strip():
        return None
    try:
        x, y, w, h = (int(part) for part in text.split(","))
    except ValueError:
        raise InputError(f"{what} takes X,Y,WIDTH,HEIGHT in pixels, got {text!r}") from None
    return (x, y, w, h)


def validate_roi(roi: Roi | None) -> None:
    """Check the shape-independent parts of a region of interest."""
    if roi is None:
        return
    if len(roi) != 4 or not all(isinstance(v, (int, np.integer)) for v in roi):
        raise InputError(f"roi must be four integers (x, y, width, height), got {roi!r}")
    x, y, w, h = roi
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise InputError(f"roi {roi} needs x, y >= 0 and a positive width and height")


def crop(frame: npt.NDArray[Any], roi: Roi | None) -> npt.NDArray[Any]:
    """The region ``roi`` of a 2-D frame (a view); the whole frame when ``roi`` is None."""
    validate_roi(roi)
    if roi is None:
        return frame
    x, y, w, h = (int(v) for v in roi)
    if x + w > frame.shape[1] or y + h > frame.shape[0]:
        raise InputError(f"roi {roi} does not fit a {frame.shape[1]}x{frame.shape[0]} frame")
    return frame[y : y + h, x : x + w]


def is_colour(pixels: npt.NDArray[Any]) -> bool:
    """Whether a frame is (height, width, 3 or 4): RGB or BGR, optionally with alpha."""
    return pixels.ndim == 3 and pixels.shape[2] in (3, 4)


def to_grey(pixels: npt.NDArray[Any], order: ChannelOrder = "RGB") -> Frame:
    """Luminance of an RGB/BGR(A) frame; a 2-D frame is returned as it is.

    One formula for every backend and measure, so a colour camera scores the same grey wherever
    it is read: Rec. 601 weights, as OpenCV's own conversion uses. uint8, uint16 and float32
    keep their dtype; other dtypes are converted in float32 (the depths OpenCV converts).
    Anything else than 2-D or (h, w, 3|4) raises ValueError.
    """
    if pixels.ndim == 2:
        return pixels
    if not is_colour(pixels):
        raise ValueError(f"cannot convert a {order} frame of shape {pixels.shape} to grey")
    import cv2

    codes = {
        ("RGB", 3): cv2.COLOR_RGB2GRAY,
        ("BGR", 3): cv2.COLOR_BGR2GRAY,
        ("RGB", 4): cv2.COLOR_RGBA2GRAY,
        ("BGR", 4): cv2.COLOR_BGRA2GRAY,
    }
    if pixels.dtype not in (np.uint8, np.uint16, np.float32):
        pixels = pixels.astype(np.float32)
    return np.asarray(cv2.cvtColor(np.ascontiguousarray(pixels), codes[order, pixels.shape[2]]))
