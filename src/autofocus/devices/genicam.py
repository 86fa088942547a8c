"""Any GenICam camera through harvesters and a GenTL producer (``.cti``).

Every vendor ships a GenTL producer with its SDK (FLIR's Spinnaker one included), so this one
backend reaches most machine-vision cameras: ``--camera genicam:/path/to/producer.cti``, with
options ``?device=N|SERIAL&exposure_ms=..&gain_db=..&format=Mono16&timeout_ms=..``. Without a
path, the producers on ``GENICAM_GENTL64_PATH`` (where SDK installers register them) are used.

Acquisition is started for each frame and stopped after it. A free-running camera queues frames
all the time; one exposed while the stage was still moving would score the wrong position.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from autofocus.devices.base import Camera
from autofocus.devices.camera_settings import CameraSettings, colour_to_grey, parse_camera_argument
from autofocus.errors import CameraError, InputError, install_hint
from autofocus.frames import ChannelOrder, Frame

__all__ = [
    "COLOUR_FORMATS",
    "GENTL_PATH_VARIABLE",
    "HARVESTERS_LOG",
    "OPTIONS",
    "GenICamCamera",
    "choose_pixel_format",
    "component_to_frame",
    "configure",
    "find_producers",
    "list_cameras",
    "open_camera",
    "open_genicam",
    "open_harvester",
]

GENTL_PATH_VARIABLE = "GENICAM_GENTL64_PATH"
OPTIONS = ("device", "exposure_ms", "gain_db", "format", "timeout_ms")
COLOUR_FORMATS: dict[str, ChannelOrder] = {"RGB8": "RGB", "BGR8": "BGR", "RGBa8": "RGB", "BGRa8": "BGR"}
"""Colour formats converted to grey in software, for cameras that offer no Mono format."""

# harvesters prints its own errors with tracebacks to stderr by default; ours carry the same
# information as one line, so its records go to a logger an application may configure.
HARVESTERS_LOG = logging.getLogger(f"{__name__}.harvesters")
HARVESTERS_LOG.addHandler(logging.NullHandler())


def _harvesters() -> ModuleType:
    try:
        import harvesters.core
    except ModuleNotFoundError:
        raise InputError(
            f"genicam cameras need harvesters: {install_hint('genicam')}"
        ) from None
    return harvesters.core


def _library_errors() -> tuple[type[Exception], ...]:
    """The exception roots of GenApi (features) and GenTL (transport); none when not installed,
    so ``except`` clauses built from this never fail themselves."""
    try:
        from genicam import genapi, gentl
    except ImportError:
        return ()

    return (genapi.GenericException, gentl.GenericException)


def find_producers(path_text: str) -> list[Path]:
    """The producer file named, or all producers registered on ``GENICAM_GENTL64_PATH``."""
    if path_text:
        path = Path(path_text).expanduser()
        if not path.is_file():
            raise InputError(f"no GenTL producer file at {path_text!r}")
        return [path]
    folders = [Path(p) for p in os.environ.get(GENTL_PATH_VARIABLE, "").split(os.pathsep) if p]
    found = sorted(cti for folder in folders if folder.is_dir() for cti in folder.glob("*.cti"))
    if not found:
        raise InputError(
            "genicam needs a GenTL producer: use genicam:/path/to/producer.cti "
            f"(none registered on {GENTL_PATH_VARIABLE})"
        )
    return found


def open_harvester(cti_path: str | Path = "") -> Any:
    """A Harvester with the producer(s) loaded (see ``find_producers``) and its device list filled
    in. The library is checked first: without it, no path is worth asking about."""
    core = _harvesters()
    producers = find_producers(str(cti_path))
    harvester = core.Harvester(logger=HARVESTERS_LOG)
    load_errors: tuple[type[Exception], ...] = (OSError, *_library_errors())
    try:
        for cti in producers:
            harvester.add_file(str(cti), check_existence=True, check_validity=True)
        harvester.update()
    except load_errors as exc:
        harvester.reset()
        raise InputError(f"cannot load the GenTL producer {producers[0]}: {exc}") from None
    return harvester


def list_cameras(cti_path: str | Path = "") -> list[str]:
    """One line per camera the producer(s) can reach: index, display name, serial number."""
    harvester = open_harvester(cti_path)
    try:
        return [_describe(i, info) for i, info in enumerate(harvester.device_info_list)]
    finally:
        harvester.reset()


def _identity(info: Any) -> dict[str, Any]:
    # property_dict reads each property defensively; producers need not support them all.
    return dict(info.property_dict)


def _describe(index: int, info: Any) -> str:
    props = _identity(info)
    serial, id_ = props.get("serial_number"), props.get("id_")
    return f"{index}: {props.get('display_name')} (serial {serial}, id {id_})"


def _pick_device(infos: list[Any], wanted: str | None) -> int:
    """The index of the requested camera: by index, serial number, id or user-defined name."""
    if not infos:
        raise CameraError("the GenTL producer found no camera; is it connected and powered?")
    if wanted is None:
        return 0
    if wanted.isdigit() and int(wanted) < len(infos):
        return int(wanted)
    for index, info in enumerate(infos):
        props = _identity(info)
        if wanted in (props.get("serial_number"), props.get("id_"), props.get("user_defined_name")):
            return index
    available = "; ".join(_describe(i, info) for i, info in enumerate(infos))
    raise InputError(f"no GenICam camera {wanted!r}; available: {available}")


def _node(node_map: Any, names: tuple[str, ...]) -> Any | None:
    """The first of ``names`` the camera implements (SFNC names first, then older ones)."""
    for name in names:
        if node_map.has_node(name):
            return node_map.get_node(name)
    return None


def _write(node_map: Any, names: tuple[str, ...], value: object, what: str) -> None:
    node = _node(node_map, names)
    if node is None:
        raise InputError(f"this camera has no {what} feature ({' or '.join(names)})")
    try:
        node.value = value
    except _library_errors() as exc:
        raise InputError(f"cannot set {names[0]} to {value!r}: {exc}") from None


def _turn_off_auto(node_map: Any, name: str) -> None:
    """Automatic exposure/gain would fight the focus search (and override our values)."""
    node = _node(node_map, (name,))
    if node is not None and "Off" in node.symbolics:
        _write(node_map, (name,), "Off", name)


def choose_pixel_format(available: tuple[str, ...], current: str, requested: str | None) -> str:
    """Requested if possible; else keep a mono format; else Mono8, any mono, or a colour format."""
    usable = [f for f in available if f.startswith("Mono") or f in COLOUR_FORMATS]
    if requested is not None:
        if requested not in usable:
            raise InputError(
                f"pixel format {requested!r} is not usable here; choose one of: {', '.join(usable)}"
            )
        return requested
    if current.startswith("Mono"):
        return current
    preference = [f for f in ("Mono8", *available) if f in usable]
    if not preference:
        raise InputError(f"this camera offers no mono or RGB pixel format ({', '.join(available)})")
    return preference[0]


def configure(node_map: Any, settings: CameraSettings) -> None:
    """Pixel format, then exposure and gain with their automatic modes off."""
    pixel_format = node_map.get_node("PixelFormat")
    chosen = choose_pixel_format(tuple(pixel_format.symbolics), pixel_format.value, settings.pixel_format)
    if chosen != pixel_format.value:
        _write(node_map, ("PixelFormat",), chosen, "pixel format")
    if settings.exposure_s is not None:
        _turn_off_auto(node_map, "ExposureAuto")
        _write(node_map, ("ExposureTime", "ExposureTimeAbs"), settings.exposure_s * 1e6, "exposure")
    if settings.gain_db is not None:
        _turn_off_auto(node_map, "GainAuto")
        _write(node_map, ("Gain",), settings.gain_db, "gain (dB)")


def component_to_frame(component: Any) -> Frame:
    """A 2-D mono copy of one image component (the buffer is reused once queued back)."""
    height, width = int(component.height), int(component.width)
    channels = round(component.num_components_per_pixel)
    data = component.data
    if data is None or data.size != height * width * channels:
        got = 0 if data is None else data.size
        raise CameraError(
            f"incomplete frame: {got} values for a {width}x{height}x{channels} {component.data_format} image"
        )
    if channels == 1:
        return np.array(data.reshape(height, width), copy=True)
    order = COLOUR_FORMATS.get(component.data_format)
    if order is None:
        raise CameraError(f"cannot convert pixel format {component.data_format} to grey")
    return colour_to_grey(data.reshape(height, width, channels), order)


class GenICamCamera:
    """One GenICam camera behind the ``Camera`` protocol; ``close()`` releases everything."""

    def __init__(self, harvester: Any, acquirer: Any, settings: CameraSettings, name: str) -> None:
        self._harvester = harvester
        self._acquirer = acquirer
        self._settings = settings
        self.name = name
        self._errors = _library_errors()
        self._closed = False

    @property
    def node_map(self) -> Any:
        """The camera's GenICam features, for anything this class does not set itself."""
        return self._acquirer.remote_device.node_map

    @property
    def exposure_s(self) -> float:
        node = _node(self.node_map, ("ExposureTime", "ExposureTimeAbs"))
        if node is not None:
            return float(node.value) / 1e6
        return self._settings.exposure_s or 0.0

    def grab(self) -> Frame:
        if self._closed:
            raise CameraError(f"{self.name}: the camera has been closed")
        timeout_s = self._settings.grab_timeout_s(self.exposure_s)
        try:
            self._acquirer.start()
            try:
                return self._fetch(timeout_s)
            finally:
                self._acquirer.stop()  # also flushes and releases the stream's buffers
        except self._errors as exc:
            raise CameraError(f"{self.name}: {type(exc).__name__} {exc}".rstrip()) from exc

    def _fetch(self, timeout_s: float) -> Frame:
        deadline = time.monotonic() + timeout_s
        # try_fetch returns None on timeout and also when it discards an incomplete buffer,
        # so keep asking until the deadline.
        while (remaining := deadline - time.monotonic()) > 0:
            buffer = self._acquirer.try_fetch(timeout=remaining)
            if buffer is not None:
                with buffer:  # queues the buffer back to the producer
                    return component_to_frame(buffer.payload.components[0])
        raise CameraError(
            f"{self.name}: no complete frame within {timeout_s:.3g} s (timed out, or frames were incomplete)"
        )

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._acquirer.destroy()
        finally:
            self._harvester.reset()


def open_genicam(cti_path: str | Path = "", settings: CameraSettings | None = None) -> GenICamCamera:
    """Load the producer(s), open the chosen camera and configure it."""
    settings = settings or CameraSettings()
    harvester = open_harvester(cti_path)
    try:
        index = _pick_device(list(harvester.device_info_list), settings.device)
        name = f"GenICam camera {_identity(harvester.device_info_list[index]).get('display_name')}"
        acquirer = harvester.create(index)
    except BaseException:
        harvester.reset()
        raise
    camera = GenICamCamera(harvester, acquirer, settings, name)
    try:
        configure(camera.node_map, settings)
    except BaseException:
        camera.close()
        raise
    return camera


def open_camera(argument: str) -> tuple[Camera, Callable[[], None]]:
    """``CTI_PATH[?options]`` from ``--camera genicam:...``."""
    cti_path, settings = parse_camera_argument(argument, OPTIONS)
    try:
        camera = open_genicam(cti_path, settings)
    except _library_errors() as exc:
        raise CameraError(f"cannot open the GenICam camera: {exc}") from exc
    return camera, camera.close
