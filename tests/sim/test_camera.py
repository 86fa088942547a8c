"""The simulated camera: bit depths, noise statistics, determinism, exposure, faults."""

from __future__ import annotations

import numpy as np
import pytest

from autofocus.clock import VirtualClock
from autofocus.errors import CameraError
from autofocus.sim.camera import CameraSpec, SimCamera
from autofocus.sim.faults import FaultPlan


def flat_camera(electrons: float, bits: int = 16, seed: int = 0,
                faults: FaultPlan | None = None) -> SimCamera:
    spec = CameraSpec(width=256, height=256, bits=bits)

    def render(start_s: float, exposure_s: float) -> np.ndarray:
        return np.full((256, 256), electrons * exposure_s / spec.exposure_s, np.float32)

    return SimCamera(VirtualClock(), render, spec, seed, faults)


@pytest.mark.parametrize(("bits", "dtype", "top"), [(8, np.uint8, 255), (12, np.uint16, 4095),
                                                    (16, np.uint16, 65535)])
def test_bit_depth_dtype_and_saturation(bits: int, dtype: type, top: int) -> None:
    camera = flat_camera(50_000.0, bits)  # five full wells: saturates
    frame = camera.grab()
    assert frame.dtype == dtype
    assert frame.max() == top
    assert (frame == top).all()


@pytest.mark.parametrize("electrons", [30.0, 2_000.0, 8_000.0])
def test_noise_is_shot_plus_read_noise(electrons: float) -> None:
    camera = flat_camera(electrons, 16)
    frame = camera.grab().astype(np.float64)
    gain = 65535 / camera.spec.full_well_e
    assert frame.mean() / gain == pytest.approx(electrons, rel=0.01, abs=0.5)
    expected_var = (electrons + camera.spec.read_noise_e**2) * gain**2
    assert frame.var() == pytest.approx(expected_var, rel=0.05)


def test_frames_are_reproducible_from_the_seed_and_differ_between_frames() -> None:
    a, b, c = flat_camera(1_000.0, seed=3), flat_camera(1_000.0, seed=3), flat_camera(1_000.0, seed=4)
    first = a.grab()
    assert np.array_equal(first, b.grab())
    assert not np.array_equal(first, c.grab())
    assert not np.array_equal(first, a.grab())  # a new noise draw every frame


def test_exposure_scales_the_signal_and_costs_clock_time() -> None:
    camera = flat_camera(1_000.0)
    camera.exposure_s = 0.020
    frame = camera.grab()
    assert frame.mean() == pytest.approx(2_000.0 * 65535 / 10_000, rel=0.01)
    assert camera.clock.now() == pytest.approx(0.020 + camera.spec.readout_s)
    with pytest.raises(ValueError):
        camera.exposure_s = 0.0


def test_black_and_saturated_frames_are_returned_not_raised() -> None:
    black = flat_camera(1_000.0, 12, faults=FaultPlan("black-frame", after=1))
    assert black.grab().max() > 0
    assert black.grab().max() == 0
    saturated = flat_camera(1_000.0, 12, faults=FaultPlan("saturated-frame", after=0))
    assert saturated.grab().min() == 4095


@pytest.mark.parametrize("kind", ["camera-timeout", "dropped-frame", "disconnect"])
def test_failing_grabs_raise_camera_error(kind: str) -> None:
    camera = flat_camera(1_000.0, faults=FaultPlan(kind, after=0))
    with pytest.raises(CameraError):
        camera.grab()
    if kind == "camera-timeout":
        assert camera.clock.now() == pytest.approx(1.0)
    if kind == "disconnect":
        with pytest.raises(CameraError, match="not connected"):
            camera.grab()


def test_invalid_bit_depth_is_refused() -> None:
    with pytest.raises(ValueError):
        SimCamera(VirtualClock(), lambda s, e: np.zeros((2, 2), np.float32), CameraSpec(bits=10))
