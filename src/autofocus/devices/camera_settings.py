"""Camera settings shared by the machine-vision backends (Spinnaker, GenICam), and how they are
written on the command line: ``TARGET?exposure_ms=10&gain_db=0&format=Mono16&timeout_ms=2000``.

The query suffix lets ``--camera`` carry settings without one command-line option per vendor
feature. ``?`` cannot occur in a Windows path and almost never does in a POSIX one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from autofocus.errors import CameraError, InputError
from autofocus.frames import ChannelOrder, Frame, to_grey

__all__ = [
    "DEFAULT_GRAB_MARGIN_S",
    "CameraSettings",
    "colour_to_grey",
    "parse_camera_argument",
]

DEFAULT_GRAB_MARGIN_S = 2.0
"""Added to the exposure for each grab's deadline: covers readout, transfer and, when acquisition
starts per frame, the wait for the first frame at low frame rates."""


@dataclass(frozen=True)
class CameraSettings:
    """What to set on the camera. ``None`` leaves the camera's own setting untouched."""

    exposure_s: float | None = None
    gain_db: float | None = None
    pixel_format: str | None = None
    grab_margin_s: float = DEFAULT_GRAB_MARGIN_S
    device: str | None = None
    """Which camera when the library sees several: an index, a serial number or an id."""

    def grab_timeout_s(self, exposure_s: float) -> float:
        """The deadline for one frame at the given exposure."""
        return exposure_s + self.grab_margin_s


def _positive_ms(name: str, text: str) -> float:
    value = _number(name, text)
    if not value > 0:
        raise InputError(f"camera option {name} must be positive, got {text!r}")
    return value / 1000.0


def _number(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"camera option {name} takes a number, got {text!r}") from None
    if not math.isfinite(value):
        raise InputError(f"camera option {name} must be finite, got {text!r}")
    return value


# Each option: how to parse its text and which CameraSettings field it fills.
_OPTIONS: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    "exposure_ms": ("exposure_s", _positive_ms),
    "gain_db": ("gain_db", _number),
    "format": ("pixel_format", lambda _name, text: text),
    "timeout_ms": ("grab_margin_s", _positive_ms),
    "device": ("device", lambda _name, text: text),
}


def parse_camera_argument(argument: str, accepted: Collection[str]) -> tuple[str, CameraSettings]:
    """Split ``TARGET?key=value&...`` into the target and its settings; only ``accepted`` keys."""
    target, _, query = argument.partition("?")
    settings = CameraSettings()
    for pair in filter(None, query.split("&")):
        key, sep, text = pair.partition("=")
        if key not in accepted or not sep or not text:
            raise InputError(
                f"bad camera option {pair!r}; this camera takes {', '.join(f'{k}=...' for k in accepted)}"
            )
        field_name, parse = _OPTIONS[key]
        settings = replace(settings, **{field_name: parse(key, text)})
    return target, settings


def colour_to_grey(pixels: np.ndarray, order: ChannelOrder) -> Frame:
    """:func:`autofocus.frames.to_grey` for a camera backend: a frame it cannot convert is a
    :class:`CameraError` (the camera delivered something unexpected), not a programming error."""
    try:
        return to_grey(pixels, order)
    except ValueError as exc:
        raise CameraError(str(exc)) from None
