"""Focus measures: exactness of the tutorial's metric, sharp > blurred, roi/downsample, bad input."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy import ndimage

from autofocus import metrics
from autofocus.errors import InputError
from autofocus.metrics import METRICS, make_metric, median_blur, variance_of_laplacian

REAL_STACK = Path("/work/shared/data/real/brightfield_cells_set1/set1_stack.tif")


def texture(shape: tuple[int, int] = (120, 160), seed: int = 0) -> np.ndarray:
    """Smooth random texture in [0, 1] with detail down to a few pixels (a focused specimen)."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(shape).astype(np.float32)
    t = cv2.GaussianBlur(noise, (0, 0), 1.5)
    return (t - t.min()) / (t.max() - t.min())


def as_dtype(t: np.ndarray, dtype: type) -> np.ndarray:
    if dtype is np.uint8:
        return np.round(t * 255).astype(np.uint8)
    if dtype is np.uint16:
        return np.round(t * 65535).astype(np.uint16)
    return t.astype(dtype)


def tutorial_score(image: np.ndarray, blur: int) -> float:
    """The seed's calculate_focus_score, verbatim."""
    image_filtered = cv2.medianBlur(image, blur)
    laplacian = cv2.Laplacian(image_filtered, cv2.CV_64F)
    return float(laplacian.var())


@pytest.mark.parametrize("name", sorted(METRICS))
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
def test_sharp_beats_blurred(name: str, dtype: type) -> None:
    sharp = texture()
    blurred = cv2.GaussianBlur(sharp, (0, 0), 2.5)
    score = make_metric(name)
    s, b = score(as_dtype(sharp, dtype)), score(as_dtype(blurred, dtype))
    assert np.isfinite(s) and np.isfinite(b)
    assert s > b * 1.05, (name, s, b)


@pytest.mark.parametrize("shape", [(120, 160), (600, 800)])  # 600x800 takes the threaded path
@pytest.mark.parametrize("blur", [1, 3, 5, 9, 15])
def test_tutorial_metric_bit_identical_on_8bit(shape: tuple[int, int], blur: int) -> None:
    frame = as_dtype(texture(shape, seed=blur), np.uint8)
    assert variance_of_laplacian(frame, blur=blur) == tutorial_score(frame, blur)


@pytest.mark.parametrize("blur", [3, 5, 7, 9, 11, 13])
def test_16bit_tutorial_metric_is_8bit_times_257_squared(blur: int) -> None:
    frame8 = as_dtype(texture((90, 130), seed=blur), np.uint8)
    frame16 = frame8.astype(np.uint16) * 257
    s8 = variance_of_laplacian(frame8, blur=blur)
    s16 = variance_of_laplacian(frame16, blur=blur)
    assert s16 == pytest.approx(s8 * 257**2, rel=1e-12)
    # and the filtered frame itself is exact, pixel for pixel
    assert np.array_equal(median_blur(frame16, blur), cv2.medianBlur(frame8, blur).astype(np.uint16) * 257)


@pytest.mark.parametrize("size", [3, 5, 7, 9, 11, 13])
@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
@pytest.mark.parametrize("shape", [(1, 1), (2, 9), (37, 53), (70, 33)])
def test_median_exact_against_scipy(size: int, dtype: type, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(size)
    frame = (rng.random(shape) * 65535).astype(dtype)
    expected = ndimage.median_filter(frame, size=size, mode="nearest")  # nearest = replicate
    got = median_blur(frame, size)
    assert got.dtype == frame.dtype
    assert np.array_equal(got, expected)


def test_median_exact_on_full_uint16_frame_with_threads() -> None:
    rng = np.random.default_rng(5)
    frame = (rng.random((150, 400)) * 65535).astype(np.uint16)
    assert np.array_equal(median_blur(frame, 9), ndimage.median_filter(frame, 9, mode="nearest"))


@pytest.mark.parametrize("name", sorted(METRICS))
def test_roi_equals_cropping_and_views_work(name: str) -> None:
    frame = as_dtype(texture((100, 140)), np.uint16)
    roi = (10, 20, 60, 50)
    crop = frame[20:70, 10:70].copy()
    assert METRICS[name].function(frame, roi=roi) == METRICS[name].function(crop)
    view = frame[::2, ::-1]  # non-contiguous, negative stride
    assert METRICS[name].function(view) == pytest.approx(
        METRICS[name].function(np.ascontiguousarray(view)), rel=1e-12
    )


@pytest.mark.parametrize("name", sorted(METRICS))
def test_downsample_is_a_block_mean(name: str) -> None:
    frame = as_dtype(texture((101, 143)), np.uint8)  # odd sizes: the last row/column is dropped
    expected_frame = frame[:100, :142].astype(np.float64).reshape(50, 2, 71, 2).mean(axis=(1, 3))
    score = METRICS[name].function
    assert score(frame, downsample=2) == pytest.approx(score(expected_frame.astype(np.float32)), rel=1e-5)
    assert metrics.prepare(frame, downsample=2).shape == (50, 71)


@pytest.mark.parametrize("name", sorted(METRICS))
@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (2, 2), (3, 5)])
def test_tiny_frames_give_finite_scores(name: str, shape: tuple[int, int]) -> None:
    frame = np.arange(np.prod(shape), dtype=np.uint16).reshape(shape)
    assert np.isfinite(METRICS[name].function(frame))


@pytest.mark.parametrize(
    ("kwargs", "frame"),
    [
        ({}, np.zeros((4, 5, 6))),  # 3-D garbage
        ({}, np.zeros((0, 5))),  # empty
        ({}, np.array([["a", "b"]])),  # not numbers
        ({"roi": (50, 0, 60, 10)}, np.zeros((40, 100))),  # past the right edge
        ({"roi": (0, 0, 0, 10)}, np.zeros((40, 100))),  # empty roi
        ({"roi": (-1, 0, 5, 5)}, np.zeros((40, 100))),
        ({"downsample": 0}, np.zeros((40, 100))),
        ({"downsample": 200}, np.zeros((40, 100))),  # larger than the frame
        ({"blur": 4}, np.zeros((40, 100))),  # even blur
        ({"blur": 0}, np.zeros((40, 100))),
        ({"blur": 257}, np.zeros((40, 100))),
        ({}, np.full((40, 100), np.nan, dtype=np.float32)),
    ],
)
def test_bad_input_raises_input_error(kwargs: dict[str, object], frame: np.ndarray) -> None:
    with pytest.raises(InputError):
        variance_of_laplacian(frame, **kwargs)  # type: ignore[arg-type]


def test_make_metric_checks_arguments_before_any_frame() -> None:
    with pytest.raises(InputError, match="unknown metric"):
        make_metric("sharpness9000")
    with pytest.raises(InputError):
        make_metric("laplacian", blur=8)
    with pytest.raises(InputError):
        make_metric("brenner", roi=(0, 0, -3, 4))
    with pytest.raises(InputError):
        make_metric("tenengrad", downsample=0)


def test_registry() -> None:
    required = {"laplacian", "normalized_variance", "brenner", "tenengrad", "vollath_f4", "sml"}
    assert required <= set(METRICS)
    frame = as_dtype(texture(), np.uint8)
    for name, info in METRICS.items():
        assert info.summary
        assert make_metric(name)(frame) == info.function(frame)
    assert METRICS["laplacian"].takes_blur
    assert make_metric("laplacian", blur=3)(frame) == tutorial_score(frame, 3)
    # blur is ignored, not an error, for measures that do not take it
    assert make_metric("brenner", blur=3)(frame) == metrics.brenner(frame)


def test_mean_frequency_is_independent_of_exposure_and_depth() -> None:
    t = texture()
    a = metrics.mean_frequency(as_dtype(t * 0.5, np.uint16))
    b = metrics.mean_frequency(as_dtype(t, np.float32) * 3.0)
    assert a == pytest.approx(b, rel=1e-3)


@pytest.mark.skipif(not REAL_STACK.exists(), reason="real brightfield stack not available")
def test_phase_specimen_real_stack() -> None:
    """Unstained cells in brightfield: planes 2 and 3 are in focus, contrast is lowest there."""
    import tifffile

    stack = tifffile.imread(REAL_STACK)
    in_focus = {2, 3}
    for name in ("mean_frequency", "bandpass", "tenengrad", "laplacian"):
        scores = [METRICS[name].function(plane) for plane in stack]
        assert int(np.argmax(scores)) in in_focus, (name, scores)
    # the documented failure of plain contrast on phase objects
    scores = [metrics.normalized_variance(plane) for plane in stack]
    assert int(np.argmax(scores)) not in in_focus
