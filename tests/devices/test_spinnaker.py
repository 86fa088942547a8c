"""The Spinnaker backend. PySpin comes only with FLIR's SDK (not from PyPI), so:

- the missing-SDK path is tested everywhere;
- the adapter's logic (configuration, timeouts, incomplete frames, buffer release) runs against a
  small stand-in for PySpin/simple_pyspin that records what the backend asks of it;
- the same grab test runs on a real camera wherever PySpin is installed and a camera is connected.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
import pytest

from autofocus.connect import open_camera
from autofocus.devices import spinnaker
from autofocus.devices.base import Camera
from autofocus.devices.camera_settings import CameraSettings
from autofocus.errors import CameraError, InputError


class FakeSpinnakerException(Exception):
    def __init__(self, message: str, errorcode: int) -> None:
        super().__init__(message)
        self.errorcode = errorcode


class FakeImage:
    def __init__(self, pixels: np.ndarray, incomplete: bool = False) -> None:
        self.pixels = pixels
        self.incomplete = incomplete
        self.released = False

    def IsIncomplete(self) -> bool:
        return self.incomplete

    def GetImageStatus(self) -> int:
        return 3 if self.incomplete else 0

    def GetNDArray(self) -> np.ndarray:
        return self.pixels

    def Release(self) -> None:
        self.released = True
        self.pixels[...] = 0  # the SDK reuses the buffer


class FakeCameraPtr:
    """PySpin's CameraPtr: hands out queued images, or raises queued errors."""

    def __init__(self) -> None:
        self.queue: list[FakeImage | Exception] = []
        self.timeouts_ms: list[int] = []
        self.deinit = False

    def GetNextImage(self, timeout_ms: int) -> FakeImage:
        self.timeouts_ms.append(timeout_ms)
        item = self.queue.pop(0) if self.queue else FakeSpinnakerException("timeout", -1011)
        if isinstance(item, Exception):
            raise item
        return item

    def DeInit(self) -> None:
        self.deinit = True


class FakeSimpleCamera:
    """simple_pyspin.Camera: camera features are attributes; every write is recorded."""

    instances: ClassVar[list[FakeSimpleCamera]] = []

    def __init__(self, index: int | str) -> None:
        object.__setattr__(self, "writes", [])
        self.index = index
        self.cam = FakeCameraPtr()
        self.PixelFormat = "BayerRG8"
        self.ExposureTime = 20_000.0
        self.running = False
        self.closed = False
        self.triggers = 0
        self.writes.clear()
        FakeSimpleCamera.instances.append(self)

    def __setattr__(self, name: str, value: Any) -> None:
        if name[0].isupper():
            self.writes.append((name, value))
        object.__setattr__(self, name, value)

    def init(self) -> None: ...

    def start(self) -> None:
        self.running = True

    def stop(self) -> None:
        self.running = False

    def close(self) -> None:
        self.closed = True

    def TriggerSoftware(self) -> None:
        self.triggers += 1


@pytest.fixture
def fake_sdk(monkeypatch: pytest.MonkeyPatch) -> type[FakeSimpleCamera]:
    pyspin = ModuleType("PySpin")
    pyspin.SpinnakerException = FakeSpinnakerException  # type: ignore[attr-defined]
    pyspin.SPINNAKER_ERR_TIMEOUT = -1011  # type: ignore[attr-defined]
    simple = ModuleType("simple_pyspin")
    simple.Camera = FakeSimpleCamera  # type: ignore[attr-defined]
    simple.CameraError = type("CameraError", (Exception,), {})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "PySpin", pyspin)
    monkeypatch.setitem(sys.modules, "simple_pyspin", simple)
    FakeSimpleCamera.instances.clear()
    return FakeSimpleCamera


def test_missing_sdk_is_one_line_saying_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "PySpin", None)  # import PySpin now fails, installed or not
    with pytest.raises(InputError) as caught:
        open_camera("spinnaker")
    message = str(caught.value)
    assert caught.value.exit_code == 2
    assert "\n" not in message
    assert "Spinnaker SDK" in message and spinnaker.SDK_URL in message and "spinnaker_python" in message


def grab_three(camera: Camera) -> None:
    """The grab test, for the stand-in and for a real camera alike."""
    assert isinstance(camera, Camera)
    assert camera.exposure_s > 0
    for _ in range(3):
        frame = camera.grab()
        assert frame.ndim == 2
        assert frame.dtype in (np.uint8, np.uint16)
        assert frame.size > 0 and np.any(frame)


@pytest.fixture
def real_camera() -> Iterator[Camera]:
    pytest.importorskip("PySpin", reason="PySpin comes only with FLIR's Spinnaker SDK, not installed here")
    try:
        camera, close = open_camera("spinnaker")
    except CameraError as exc:
        pytest.skip(f"PySpin is installed but no FLIR camera answers: {exc}")
    yield camera
    close()


def test_grabs_frames_from_a_real_flir_camera(real_camera: Camera) -> None:
    grab_three(real_camera)


def test_grabs_released_frames_through_the_sdk(fake_sdk: type[FakeSimpleCamera]) -> None:
    camera, close = open_camera("spinnaker")
    fake = fake_sdk.instances[0]
    images = [FakeImage(np.full((4, 6), 7 + i, np.uint8)) for i in range(3)]
    fake.cam.queue.extend(images)
    grab_three(camera)
    assert fake.index == 0 and fake.running
    assert fake.triggers == 3
    assert all(image.released for image in images)
    # The exposure (20 ms) plus the default margin, on every wait.
    assert fake.cam.timeouts_ms == [2020] * 3
    close()
    assert fake.closed and fake.cam.deinit and not fake.running


def test_configures_mono_software_trigger_exposure_and_gain(fake_sdk: type[FakeSimpleCamera]) -> None:
    camera, close = open_camera("spinnaker:19061234?exposure_ms=5&gain_db=2.5&format=Mono16")
    fake = fake_sdk.instances[0]
    assert fake.index == "19061234"
    assert fake.writes == [
        ("PixelFormat", "Mono16"),
        ("AcquisitionMode", "Continuous"),
        ("TriggerMode", "Off"),
        ("TriggerSelector", "FrameStart"),
        ("TriggerSource", "Software"),
        ("TriggerMode", "On"),
        ("ExposureAuto", "Off"),
        ("ExposureTime", 5000.0),
        ("GainAuto", "Off"),
        ("Gain", 2.5),
    ]
    assert camera.exposure_s == pytest.approx(0.005)
    close()


@pytest.mark.parametrize(
    ("queued", "message"),
    [
        (None, r"no frame within 2\.02 s"),
        (FakeSpinnakerException("device removed", -1010), "device removed"),
        (FakeImage(np.ones((2, 2), np.uint8), incomplete=True), r"incomplete frame \(image status 3\)"),
    ],
)
def test_camera_faults_are_camera_errors(
    fake_sdk: type[FakeSimpleCamera], queued: FakeImage | Exception | None, message: str
) -> None:
    camera = spinnaker.open_spinnaker()
    fake = fake_sdk.instances[0]
    if queued is not None:
        fake.cam.queue.append(queued)
    with pytest.raises(CameraError, match=message):
        camera.grab()
    if isinstance(queued, FakeImage):
        assert queued.released
    camera.close()
    with pytest.raises(CameraError, match="closed"):
        camera.grab()


def test_bad_settings_are_input_errors(fake_sdk: type[FakeSimpleCamera]) -> None:
    with pytest.raises(InputError, match="choose Mono8 or Mono16"):
        spinnaker.open_spinnaker(settings=CameraSettings(pixel_format="RGB8"))
    assert fake_sdk.instances[-1].closed
    with pytest.raises(InputError, match="bad camera option 'device=1'"):
        open_camera("spinnaker?device=1")
    camera, close = open_camera("spinnaker?exposure_ms=7")  # options without a serial number
    assert camera.exposure_s == pytest.approx(0.007)
    close()


def test_no_camera_is_a_camera_error(
    fake_sdk: type[FakeSimpleCamera], monkeypatch: pytest.MonkeyPatch
) -> None:
    simple = sys.modules["simple_pyspin"]

    def no_cameras(index: int | str) -> None:
        raise simple.CameraError("No cameras detected.")

    monkeypatch.setattr(simple, "Camera", no_cameras)
    with pytest.raises(CameraError, match="cannot open the FLIR camera: No cameras detected"):
        open_camera("spinnaker")
