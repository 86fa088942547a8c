"""Webcams, USB microscopes, video files and network streams through ``cv2.VideoCapture``:
``--camera opencv:0`` (a device index), ``opencv:/dev/video2``, ``opencv:sweep.mkv`` or
``opencv:rtsp://host/stream``.

Frames become grey without losing bit depth: a source that delivers more than 8 bits of grey
(16-bit FFV1/PNG video, V4L2 ``Y16``) is read raw, because OpenCV's default conversion to BGR
would cut it to 8 bits. A video file plays back one frame per grab, so a recorded focus sweep can
stand in for a camera; running out of frames is a camera fault like a disconnect.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from autofocus.devices.base import Camera
from autofocus.devices.camera_settings import colour_to_grey
from autofocus.errors import CameraError, InputError
from autofocus.frames import Frame

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "HIGH_BIT_GREY",
    "OpenCVCamera",
    "delivers_high_bit_grey",
    "open_camera",
    "open_opencv",
    "parse_source",
    "to_grey",
    "write_video",
]

DEFAULT_TIMEOUT_S = 5.0
"""Per grab. Generous: USB cameras may renegotiate and network streams may buffer."""


def _fourcc(code: bytes) -> int:
    return int.from_bytes(code, "little")


# FFmpeg's codes for 10/12/16-bit little-endian grey ('Y1', 0, bits) and V4L2's 16-bit-container
# grey formats. Anything else is colour or 8-bit, which OpenCV's conversion keeps intact.
HIGH_BIT_GREY = frozenset(
    _fourcc(code) for code in (b"Y1\x00\x10", b"Y1\x00\x0c", b"Y1\x00\x0a", b"Y16 ", b"Y12 ", b"Y10 ")
)


def parse_source(argument: str) -> int | str:
    """A device index, or a file path / URL that must at least look reachable."""
    if not argument:
        raise InputError("opencv needs a source: opencv:INDEX (0 is the first camera), a video file or a URL")
    if argument.isdigit():
        return int(argument)
    if "://" not in argument and not Path(argument).exists():
        raise InputError(f"no video file or device at {argument!r}")
    return argument


def delivers_high_bit_grey(capture: Any) -> bool:
    """Whether the source's pixel format is grey with more than 8 bits."""
    for prop in (cv2.CAP_PROP_CODEC_PIXEL_FORMAT, cv2.CAP_PROP_FOURCC):
        if int(capture.get(prop)) in HIGH_BIT_GREY:
            return True
    return False


def to_grey(frame: npt.NDArray[Any], raw_shape: tuple[int, int] | None = None) -> Frame:
    """A 2-D grey frame of the same bit depth.

    ``raw_shape`` (height, width) is given in raw mode: some backends then hand over the undecoded
    buffer, which for the formats read raw is 16-bit little-endian grey.
    """
    if raw_shape is not None and frame.ndim <= 2 and frame.dtype == np.uint8:
        height, width = raw_shape
        if frame.size == height * width * 2:
            return frame.reshape(-1).view("<u2").reshape(height, width).astype(np.uint16)
    if frame.ndim == 2:
        return frame
    if frame.ndim == 3 and frame.shape[2] == 1:
        return frame[:, :, 0]
    if frame.ndim == 3 and frame.shape[2] in (3, 4):
        return colour_to_grey(frame, "BGR")
    raise CameraError(f"unexpected frame of shape {frame.shape} and type {frame.dtype} from OpenCV")


class OpenCVCamera:
    """A ``cv2.VideoCapture`` behind the ``Camera`` protocol.

    Each read runs in a helper thread so a hung device cannot hang the search: after
    ``timeout_s`` the grab fails with CameraError and the camera is marked unusable.
    """

    def __init__(
        self,
        capture: Any,
        name: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        discard: int = 0,
        is_file: bool = False,
        raw_shape: tuple[int, int] | None = None,
    ) -> None:
        self._capture = capture
        self.name = name
        self.timeout_s = timeout_s
        self.discard = discard
        """Frames dropped before each grab: a live source may hold frames exposed mid-move."""
        self._is_file = is_file
        self._raw_shape = raw_shape
        self.frames = 0
        self._stuck = False
        self._closed = False

    @property
    def exposure_s(self) -> float:
        """The frame period, an upper bound on the exposure: OpenCV's own exposure property has
        backend-specific units (log2 seconds, 100 us steps, ...) and cannot be trusted here."""
        fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)
        return 1.0 / fps if fps > 0 else 0.0

    def grab(self) -> Frame:
        if self._closed or self._stuck:
            state = "closed" if self._closed else "not responding since an earlier read timed out"
            raise CameraError(f"{self.name}: the camera is {state}")
        for _ in range(self.discard):
            if not self._call(self._capture.grab):
                raise self._no_frame()
        ok, frame = self._call(self._capture.read)
        if not ok or frame is None:
            raise self._no_frame()
        self.frames += 1
        return to_grey(frame, self._raw_shape)

    def _call(self, method: Callable[[], Any]) -> Any:
        """Run one capture call with the grab's deadline."""
        outcome: list[Any] = []

        def work() -> None:
            try:
                outcome.append(method())
            except cv2.error as exc:
                outcome.append(exc)

        # A daemon thread: if the driver never returns, it must not keep the program alive.
        worker = threading.Thread(target=work, name=f"opencv read {self.name}", daemon=True)
        worker.start()
        worker.join(self.timeout_s)
        if worker.is_alive():
            self._stuck = True
            raise CameraError(f"{self.name}: timed out after {self.timeout_s:g} s waiting for a frame")
        if isinstance(outcome[0], cv2.error):
            raise CameraError(f"{self.name}: OpenCV failed to read a frame: {outcome[0]}")
        return outcome[0]

    def _no_frame(self) -> CameraError:
        if self._is_file:
            return CameraError(f"{self.name}: the video ended after {self.frames} frames")
        return CameraError(f"{self.name}: no frame (disconnected, or the stream stopped)")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Releasing while a read is still blocked in the helper thread can crash the driver;
        # leaving it to the process exit is the safer leak.
        if not self._stuck:
            self._capture.release()


@contextlib.contextmanager
def native_stderr_quiet() -> Iterator[None]:
    """OpenCV's and FFmpeg's own log lines (``[ WARN:0@...]``, ``[matroska @ ...]``) go from
    native code straight to file descriptor 2; while a source opens they are sent to /dev/null,
    so what the user reads is our one line saying what failed."""
    try:
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        yield
        return
    try:
        sys.stderr.flush()
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def open_opencv(source: int | str, timeout_s: float = DEFAULT_TIMEOUT_S) -> OpenCVCamera:
    """Open a device index, video file or stream URL and choose how its frames become grey."""
    with native_stderr_quiet():
        capture = cv2.VideoCapture(source)
    name = f"OpenCV camera {source}" if isinstance(source, int) else f"OpenCV source {source}"
    is_file = isinstance(source, str) and Path(source).is_file()
    if not capture.isOpened():
        capture.release()
        if is_file:
            raise InputError(f"OpenCV cannot read {source!r} as a video")
        raise CameraError(f"{name}: cannot open it (not connected, or in use by another program)")
    raw_shape = None
    if delivers_high_bit_grey(capture):
        capture.set(cv2.CAP_PROP_CONVERT_RGB, 0)
        raw_shape = (int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)))
    if not is_file:
        # Keep the driver's queue short so that one discarded frame is enough to be fresh.
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
    return OpenCVCamera(capture, name, timeout_s=timeout_s, discard=0 if is_file else 1,
                        is_file=is_file, raw_shape=raw_shape)


def write_video(path: str | Path, frames: Sequence[npt.NDArray[Any]], fps: float = 10.0) -> Path:
    """Record grey frames (uint8 or uint16, one size) as lossless FFV1 video that ``opencv:`` plays
    back exactly, e.g. a focus sweep to rehearse with. Use a ``.mkv`` or ``.avi`` name."""
    if not frames:
        raise InputError("write_video needs at least one frame")
    height, width = frames[0].shape[:2]
    depth = cv2.CV_16U if frames[0].dtype == np.uint16 else cv2.CV_8U
    params = [cv2.VIDEOWRITER_PROP_IS_COLOR, 0, cv2.VIDEOWRITER_PROP_DEPTH, depth]
    writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter.fourcc(*"FFV1"), fps,
                             (width, height), params)
    if not writer.isOpened():
        raise InputError(f"OpenCV cannot write FFV1 video to {str(path)!r}")
    try:
        for frame in frames:
            if frame.shape != (height, width) or frame.dtype != frames[0].dtype:
                raise InputError("write_video needs 2-D frames of one size and one type")
            writer.write(frame)
    finally:
        writer.release()
    return Path(path)


def open_camera(argument: str) -> tuple[Camera, Callable[[], None]]:
    """``INDEX_OR_FILE`` from ``--camera opencv:...``."""
    camera = open_opencv(parse_source(argument))
    return camera, camera.close
