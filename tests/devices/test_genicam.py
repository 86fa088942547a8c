"""The GenICam backend through the real harvesters library and a real GenTL producer: the sample
producer ``viky.cti`` that the ``genicam`` wheel ships (three simulated cameras)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from autofocus.devices.base import Camera
from autofocus.devices.camera_settings import CameraSettings
from autofocus.errors import CameraError, InputError

pytest.importorskip("harvesters.core", reason="the genicam extra (harvesters) is not installed")
genicam_wheel = pytest.importorskip("genicam", reason="the genicam wheel is not installed")

from autofocus.devices import genicam  # noqa: E402  (only importable tests once the skip passed)

VIKY = Path(genicam_wheel.__file__).parent / "viky.cti"


@pytest.fixture(scope="module")
def viky() -> Path:
    if not VIKY.is_file():
        pytest.skip(f"the genicam wheel has no sample producer at {VIKY}")
    return VIKY


@pytest.fixture
def camera(viky: Path) -> Iterator[genicam.GenICamCamera]:
    cam = genicam.open_genicam(viky)
    yield cam
    cam.close()


def test_enumerates_the_sample_producers_cameras(viky: Path) -> None:
    names = genicam.list_cameras(viky)
    assert len(names) == 3
    assert all("Viky" in name for name in names)


def test_grabs_mono_frames_through_the_camera_protocol(camera: genicam.GenICamCamera) -> None:
    assert isinstance(camera, Camera)
    # viky starts in RGBa8 and also offers Mono8: the backend must have switched to mono.
    assert camera.node_map.PixelFormat.value == "Mono8"
    frames = [camera.grab() for _ in range(3)]
    for frame in frames:
        assert frame.dtype == np.uint8
        assert frame.shape == (camera.node_map.Height.value, camera.node_map.Width.value)
    assert camera.exposure_s == 0.0  # viky has no ExposureTime feature


def test_colour_format_is_converted_to_grey(viky: Path) -> None:
    cam, close = genicam.open_camera(f"{viky}?format=RGBa8&device=2")
    try:
        assert "VikyTL_DEV_blue" in getattr(cam, "name", "")
        frame = cam.grab()
        assert frame.ndim == 2 and frame.dtype == np.uint8
    finally:
        close()


def test_a_grab_that_gets_no_frame_in_time_is_a_camera_error(viky: Path) -> None:
    cam = genicam.open_genicam(viky, CameraSettings(grab_margin_s=0.05))
    try:
        # At 2 frames per second the first frame comes long after the 50 ms deadline.
        cam.node_map.AcquisitionFrameRate.value = 2.0
        with pytest.raises(CameraError, match="no complete frame within"):
            cam.grab()
    finally:
        cam.close()
    with pytest.raises(CameraError, match="closed"):
        cam.grab()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("?exposure_ms=5", "no exposure feature"),
        ("?gain_db=3", "no gain"),
        ("?format=Mono16", "not usable here"),
        ("?device=9", "no GenICam camera '9'; available: 0: "),
        ("?speed=3", "bad camera option"),
        ("?exposure_ms=-1", "must be positive"),
    ],
)
def test_impossible_settings_are_input_errors(viky: Path, options: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        genicam.open_camera(f"{viky}{options}")


def test_missing_or_invalid_producer_is_an_input_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(InputError, match="no GenTL producer file"):
        genicam.open_camera(str(tmp_path / "missing.cti"))
    not_a_library = tmp_path / "fake.cti"
    not_a_library.write_text("not a shared library")
    with pytest.raises(InputError, match="cannot load the GenTL producer"):
        genicam.open_camera(str(not_a_library))
    monkeypatch.setenv(genicam.GENTL_PATH_VARIABLE, str(tmp_path / "nowhere"))
    with pytest.raises(InputError, match=r"genicam:/path/to/producer\.cti"):
        genicam.open_camera("")


def test_producers_registered_on_the_gentl_path_are_found(
    viky: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(genicam.GENTL_PATH_VARIABLE, str(viky.parent))
    assert genicam.find_producers("") == [viky]


def test_a_short_buffer_is_an_incomplete_frame() -> None:
    component = SimpleNamespace(
        width=4, height=3, num_components_per_pixel=1.0, data_format="Mono8", data=np.zeros(7, np.uint8)
    )
    with pytest.raises(CameraError, match="incomplete frame: 7 values for a 4x3x1 Mono8"):
        genicam.component_to_frame(component)


def test_mono16_component_keeps_its_bit_depth() -> None:
    data = np.arange(12, dtype=np.uint16) * 4000
    component = SimpleNamespace(
        width=4, height=3, num_components_per_pixel=1.0, data_format="Mono16", data=data
    )
    frame = genicam.component_to_frame(component)
    assert frame.dtype == np.uint16 and frame.shape == (3, 4)
    assert frame.max() == 44000
    data[:] = 0  # the producer reuses its buffer once it is queued back
    assert frame.max() == 44000


def test_pixel_format_choice() -> None:
    choose = genicam.choose_pixel_format
    assert choose(("RGBa8", "Mono8"), "RGBa8", None) == "Mono8"
    assert choose(("Mono8", "Mono12"), "Mono12", None) == "Mono12"  # a mono format is kept
    assert choose(("BGR8",), "BGR8", None) == "BGR8"
    with pytest.raises(InputError, match="no mono or RGB"):
        choose(("BayerRG8",), "BayerRG8", None)
