"""FLIR (Teledyne) cameras through the Spinnaker SDK, as in Zaber's tutorial: ``--camera spinnaker``
for the first camera, ``spinnaker:SERIAL`` for a particular one, with options
``?exposure_ms=..&gain_db=..&format=Mono8|Mono16&timeout_ms=..``.

simple_pyspin opens and configures the camera (its attribute access is the tutorial's). Frames
come from PySpin directly, because simple_pyspin's ``get_array`` waits forever and never
releases the image, which exhausts the SDK's buffer pool over a long search.

Each grab fires a software trigger, so the single frame it returns was exposed after the stage
had settled; a free-running camera would hand over frames exposed during the move.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from autofocus.devices.base import Camera
from autofocus.devices.camera_settings import CameraSettings, parse_camera_argument
from autofocus.errors import CameraError, InputError, install_hint
from autofocus.frames import Frame

__all__ = [
    "OPTIONS",
    "PIXEL_FORMATS",
    "SDK_HINT",
    "SDK_URL",
    "SPINNAKER_ERR_TIMEOUT",
    "SpinnakerCamera",
    "configure",
    "import_sdk",
    "open_camera",
    "open_spinnaker",
]

SDK_URL = "https://www.teledynevisionsolutions.com/products/spinnaker-sdk/"
SDK_HINT = (
    "the spinnaker camera needs FLIR's Spinnaker SDK and its Python package PySpin, which pip cannot "
    f"fetch: install the SDK from {SDK_URL}, pip install the spinnaker_python wheel that comes with it "
    f"for this Python version, then {install_hint('spinnaker')} "
    "(or use --camera genicam:PATH with the SDK's GenTL producer)"
)
OPTIONS = ("exposure_ms", "gain_db", "format", "timeout_ms")
PIXEL_FORMATS = ("Mono8", "Mono16")
SPINNAKER_ERR_TIMEOUT = -1011
"""PySpin's error code for a wait that ran out of time."""


def import_sdk() -> tuple[ModuleType, ModuleType]:
    """PySpin and simple_pyspin, or one line saying how to get them."""
    try:
        import PySpin
    except ModuleNotFoundError:
        raise InputError(SDK_HINT) from None
    except ImportError as exc:  # installed, but its native libraries do not load
        raise InputError(f"PySpin is installed but does not load ({exc}); {SDK_HINT}") from None
    try:
        import simple_pyspin
    except ImportError:
        raise InputError(
            f"the spinnaker camera needs simple-pyspin: {install_hint('spinnaker')}"
        ) from None
    return PySpin, simple_pyspin


class SpinnakerCamera:
    """One initialised, software-triggered FLIR camera behind the ``Camera`` protocol."""

    def __init__(self, cam: Any, pyspin: ModuleType, settings: CameraSettings, name: str) -> None:
        self._cam = cam
        self._pyspin = pyspin
        self._settings = settings
        self.name = name
        self._closed = False

    @property
    def exposure_s(self) -> float:
        return float(self._cam.ExposureTime) / 1e6  # Spinnaker speaks microseconds

    def grab(self) -> Frame:
        if self._closed:
            raise CameraError(f"{self.name}: the camera has been closed")
        timeout_s = self._settings.grab_timeout_s(self.exposure_s)
        try:
            return self._grab_once(math.ceil(timeout_s * 1000))
        except self._pyspin.SpinnakerException as exc:
            code = getattr(exc, "errorcode", None)
            if code == getattr(self._pyspin, "SPINNAKER_ERR_TIMEOUT", SPINNAKER_ERR_TIMEOUT):
                raise CameraError(f"{self.name}: no frame within {timeout_s:.3g} s") from exc
            raise CameraError(f"{self.name}: {exc}") from exc

    def _grab_once(self, timeout_ms: int) -> Frame:
        self._cam.TriggerSoftware()
        image = self._cam.cam.GetNextImage(timeout_ms)
        try:
            if image.IsIncomplete():
                raise CameraError(f"{self.name}: incomplete frame (image status {image.GetImageStatus()})")
            # Copy: the array views the SDK's buffer, which is reused once released.
            return np.array(image.GetNDArray(), copy=True)
        finally:
            image.Release()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._cam.stop()
            self._cam.TriggerMode = "Off"  # leave the camera free-running for the next program
            self._cam.cam.DeInit()
        finally:
            self._cam.close()


def _set(cam: Any, errors: tuple[type[Exception], ...], name: str, value: object) -> None:
    try:
        setattr(cam, name, value)
    except errors as exc:
        raise InputError(f"cannot set the camera's {name} to {value!r}: {exc}") from None


def configure(cam: Any, settings: CameraSettings, errors: tuple[type[Exception], ...]) -> None:
    """Mono pixel format, software trigger, and exposure/gain with their automatic modes off."""
    requested = settings.pixel_format
    if requested is not None and requested not in PIXEL_FORMATS:
        raise InputError(f"pixel format {requested!r}: choose {' or '.join(PIXEL_FORMATS)}")
    current = cam.PixelFormat
    chosen = requested or (current if current in PIXEL_FORMATS else "Mono8")
    if chosen != current:
        _set(cam, errors, "PixelFormat", chosen)
    _set(cam, errors, "AcquisitionMode", "Continuous")
    # The trigger source can only change while triggering is off.
    _set(cam, errors, "TriggerMode", "Off")
    _set(cam, errors, "TriggerSelector", "FrameStart")
    _set(cam, errors, "TriggerSource", "Software")
    _set(cam, errors, "TriggerMode", "On")
    if settings.exposure_s is not None:
        _set(cam, errors, "ExposureAuto", "Off")
        _set(cam, errors, "ExposureTime", settings.exposure_s * 1e6)
    if settings.gain_db is not None:
        _set(cam, errors, "GainAuto", "Off")
        _set(cam, errors, "Gain", settings.gain_db)


def open_spinnaker(serial: str = "", settings: CameraSettings | None = None) -> SpinnakerCamera:
    """Open the first FLIR camera, or the one with this serial number, and start acquisition."""
    settings = settings or CameraSettings()
    pyspin, simple_pyspin = import_sdk()
    errors = (pyspin.SpinnakerException, simple_pyspin.CameraError)
    which = f"FLIR camera {serial}" if serial else "FLIR camera"
    try:
        cam = simple_pyspin.Camera(serial or 0)
        cam.init()
    except errors as exc:
        raise CameraError(f"cannot open the {which}: {exc}") from None
    camera = SpinnakerCamera(cam, pyspin, settings, which)
    try:
        configure(cam, settings, errors)
        cam.start()
    except BaseException as exc:
        # The failure to report is this one, not a follow-on error while closing.
        with contextlib.suppress(Exception):
            camera.close()
        if isinstance(exc, errors):
            raise CameraError(f"cannot start the {which}: {exc}") from None
        raise
    return camera


def open_camera(argument: str) -> tuple[Camera, Callable[[], None]]:
    """``[SERIAL][?options]`` from ``--camera spinnaker[:...]``."""
    serial, settings = parse_camera_argument(argument, OPTIONS)
    camera = open_spinnaker(serial, settings)
    return camera, camera.close
