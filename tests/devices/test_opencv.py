"""The OpenCV backend through the real cv2.VideoCapture: a simulated focus sweep is written to a
video file, read back through the Camera protocol, and its sharpest frame found."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.conftest import small_sim

from autofocus.devices import opencv
from autofocus.devices.base import Camera
from autofocus.errors import CameraError, InputError
from autofocus.metrics import make_metric

STEP_UM = 10.0


def record_sweep(bits: int) -> tuple[list[float], list[np.ndarray], float]:
    """Positions around the simulator's true focus, the frames there, and the true focus."""
    sim = small_sim(bits=bits)
    positions = [sim.true_focus_um + STEP_UM * i for i in range(-8, 9)]
    frames = []
    for z in positions:
        sim.stage.move_to_um(z)
        frames.append(sim.camera.grab())
    return positions, frames, sim.true_focus_um


@pytest.fixture(scope="module")
def sweep_8bit() -> tuple[list[float], list[np.ndarray], float]:
    return record_sweep(8)


def play_back(camera: Camera, count: int) -> list[np.ndarray]:
    return [np.asarray(camera.grab()) for _ in range(count)]


def sharpest_position(positions: list[float], frames: list[np.ndarray]) -> float:
    score = make_metric("laplacian")
    return positions[int(np.argmax([score(frame) for frame in frames]))]


def test_recorded_sweep_plays_back_exactly_and_its_sharpest_frame_is_at_focus(
    tmp_path: Path, sweep_8bit: tuple[list[float], list[np.ndarray], float]
) -> None:
    positions, frames, true_focus = sweep_8bit
    video = opencv.write_video(tmp_path / "sweep.mkv", frames)
    camera, close = opencv.open_camera(str(video))
    try:
        assert isinstance(camera, Camera)
        played = play_back(camera, len(frames))
    finally:
        close()
    assert all(p.dtype == np.uint8 and np.array_equal(p, f) for p, f in zip(played, frames, strict=True))
    assert abs(sharpest_position(positions, played) - true_focus) <= STEP_UM


def test_more_than_8_bits_of_grey_survive(tmp_path: Path) -> None:
    positions, frames, true_focus = record_sweep(12)
    ramp = (np.arange(256 * 256, dtype=np.uint32).reshape(256, 256) % 65536).astype(np.uint16)
    video = opencv.write_video(tmp_path / "sweep16.mkv", [ramp, *frames])
    camera = opencv.open_opencv(str(video))
    try:
        played = play_back(camera, len(frames) + 1)
    finally:
        camera.close()
    assert played[0].dtype == np.uint16 and played[0].max() == 65535
    assert np.array_equal(played[0], ramp)
    assert all(np.array_equal(p, f) for p, f in zip(played[1:], frames, strict=True))
    assert abs(sharpest_position(positions, played[1:]) - true_focus) <= STEP_UM


def test_colour_video_becomes_grey(
    tmp_path: Path, sweep_8bit: tuple[list[float], list[np.ndarray], float]
) -> None:
    positions, frames, true_focus = sweep_8bit
    path = tmp_path / "colour.avi"
    writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter.fourcc(*"MJPG"), 10, (256, 256))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    writer.release()
    camera, close = opencv.open_camera(str(path))
    try:
        played = play_back(camera, len(frames))
    finally:
        close()
    assert all(p.shape == (256, 256) and p.dtype == np.uint8 for p in played)
    # Lossy JPEG: close to the original, and the sharpest frame still at focus.
    assert np.abs(played[8].astype(float) - frames[8]).mean() < 8
    assert abs(sharpest_position(positions, played) - true_focus) <= STEP_UM


def test_end_of_video_is_a_camera_error(
    tmp_path: Path, sweep_8bit: tuple[list[float], list[np.ndarray], float]
) -> None:
    video = opencv.write_video(tmp_path / "short.mkv", sweep_8bit[1][:2])
    camera = opencv.open_opencv(str(video))
    play_back(camera, 2)
    with pytest.raises(CameraError, match="the video ended after 2 frames"):
        camera.grab()
    camera.close()
    with pytest.raises(CameraError, match="closed"):
        camera.grab()


class HangingCapture:
    """Stands in for a driver whose read never returns (a real device cannot be made to hang)."""

    def __init__(self) -> None:
        self.released = False

    def get(self, prop: int) -> float:
        return 0.0

    def grab(self) -> bool:
        return True

    def read(self) -> tuple[bool, np.ndarray | None]:
        time.sleep(2.0)
        return False, None

    def release(self) -> None:
        self.released = True


def test_a_hung_read_times_out_and_the_camera_stays_failed() -> None:
    capture = HangingCapture()
    camera = opencv.OpenCVCamera(capture, "hanging camera", timeout_s=0.05, discard=1)
    began = time.monotonic()
    with pytest.raises(CameraError, match=r"timed out after 0\.05 s"):
        camera.grab()
    assert time.monotonic() - began < 1.0
    with pytest.raises(CameraError, match="not responding"):
        camera.grab()
    camera.close()
    assert not capture.released  # never release under a read that is still blocked


def test_sources() -> None:
    assert opencv.parse_source("0") == 0
    assert opencv.parse_source("rtsp://scope.local/live") == "rtsp://scope.local/live"
    with pytest.raises(InputError, match="opencv needs a source"):
        opencv.parse_source("")
    with pytest.raises(InputError, match="no video file or device"):
        opencv.parse_source("/nowhere/sweep.mkv")


def test_unreadable_file_and_absent_device(tmp_path: Path) -> None:
    text = tmp_path / "notes.mkv"
    text.write_text("not a video")
    with pytest.raises(InputError, match="cannot read"):
        opencv.open_camera(str(text))
    with pytest.raises(CameraError, match="cannot open"):
        opencv.open_camera("97")


def test_raw_16_bit_buffers_are_reshaped() -> None:
    values = np.array([[1, 300], [65535, 4095]], dtype="<u2")
    raw = values.view(np.uint8).reshape(1, -1)  # how some backends hand over undecoded frames
    grey = opencv.to_grey(raw, raw_shape=(2, 2))
    assert grey.dtype == np.uint16
    assert np.array_equal(grey, values)
    with pytest.raises(CameraError, match="unexpected frame"):
        opencv.to_grey(np.zeros((2, 2, 2), np.uint8))
