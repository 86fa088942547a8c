"""Focus measures: pure functions ``frame -> float``, larger is sharper.

Every measure accepts uint8, uint16 or floating-point 2-D frames of any size (also 1x1 frames and
non-contiguous views), an optional region of interest ``roi=(x, y, width, height)`` in pixels, and
``downsample``, an integer block-average factor applied after cropping. RGB(A) frames are reduced
to grey by :func:`autofocus.frames.to_grey` (Rec. 601, as every camera backend does).

Scores are comparable between frames of one series (same dtype, roi and downsampling); they are
*not* comparable across dtypes or across measures, except where a docstring says so. Measures
that are averages over pixels (all but the tutorial's) do not depend on the frame size.

How the measures behave (documented so that the search strategies can pick by measurement):

==================== ============================================================================
``laplacian``        The tutorial's. Sharp peak, narrow capture range; noise-suppressed by the
                     median blur. Peaks at focus on the brightfield cell stack (set1).
``normalized_variance`` Intensity variance / mean. Broad, robust to noise, but on transparent
                     (phase) specimens contrast is *lowest* at focus: on set1 it peaks ~25 µm away.
``brenner``          Squared 2-pixel differences. Sharp peak, noise-sensitive; peaks at focus on set1.
``tenengrad``        Sobel gradient energy. Like Brenner, slightly smoother; peaks at focus on set1.
``vollath_f4``       Autocorrelation difference; robust to uniform noise (its expectation does not
                     grow with white noise); peaks at focus on set1.
``sml``              Sum-modified Laplacian (mean absolute second differences); sharp peak.
``bandpass``         Variance of a difference of Gaussians (sigma 1 and 3 px): ignores pixel noise
                     and illumination gradients; wide capture range, so suited to coarse search on
                     downsampled frames. Peaks at focus on set1 with an 18x peak-to-background ratio.
``mean_frequency``   Gradient energy / intensity variance of a lightly smoothed frame, i.e. the
                     mean squared spatial frequency of the power spectrum. Independent of contrast
                     and exposure, so it still peaks at focus on phase specimens whose contrast is
                     lowest there (set1: 8.1 at focus, 1.5 to 3.0 elsewhere). On empty or noise-only
                     frames it reports the noise's frequency, so guard it with a contrast check.
==================== ============================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from scipy import ndimage

from autofocus._median_network import (
    NETWORK_MAX_SIZE,
    WORKERS,
    cv2_median_stripe,
    median_program,
    run_program,
    striped,
)
from autofocus.errors import InputError
from autofocus.frames import Frame, Roi, crop, is_colour, to_grey, validate_roi

__all__ = [
    "METRICS",
    "MetricInfo",
    "Roi",
    "bandpass",
    "brenner",
    "make_metric",
    "mean_frequency",
    "median_blur",
    "normalized_variance",
    "prepare",
    "sml",
    "tenengrad",
    "validate_blur",
    "validate_downsample",
    "validate_roi",
    "variance_of_laplacian",
    "vollath_f4",
]

Array = npt.NDArray[Any]


# --------------------------------------------------------------------------------------------
# Input handling


def validate_downsample(downsample: int) -> None:
    """Check that ``downsample`` is a positive integer."""
    if not isinstance(downsample, (int, np.integer)) or isinstance(downsample, bool):
        raise InputError(f"downsample must be an integer, got {downsample!r}")
    if downsample < 1:
        raise InputError(f"downsample must be at least 1, got {downsample}")


def validate_blur(blur: int) -> None:
    """Check the tutorial's ``--blur``: an odd number of pixels from 1 to 255."""
    if not isinstance(blur, (int, np.integer)) or isinstance(blur, bool):
        raise InputError(f"blur must be an integer, got {blur!r}")
    if blur < 1 or blur % 2 == 0 or blur > 255:
        raise InputError(f"blur must be an odd number of pixels from 1 to 255, got {blur}")


def prepare(image: Frame, roi: Roi | None = None, downsample: int = 1) -> Array:
    """Crop and block-average a frame into a C-contiguous 2-D array.

    uint8 and uint16 frames keep their dtype (no loss of bit depth) unless ``downsample > 1``,
    which block-averages into float32. Other integer and floating-point frames become float32:
    plenty for focus scores and half the memory traffic of float64. RGB(A) becomes grey by
    :func:`autofocus.frames.to_grey`.
    """
    frame = np.asarray(image)
    if frame.dtype == np.bool_ or frame.dtype.kind not in "uif":
        raise InputError(f"a frame must hold integers or floats, got dtype {frame.dtype}")
    if is_colour(frame):
        frame = to_grey(frame)
    if frame.ndim != 2 or frame.size == 0:
        raise InputError(f"a frame must be a non-empty 2-D array, got shape {frame.shape}")
    validate_roi(roi)
    validate_downsample(downsample)
    frame = crop(frame, roi)
    if frame.dtype not in (np.uint8, np.uint16, np.float32):
        frame = frame.astype(np.float32)
    if downsample > 1:
        h = frame.shape[0] // downsample * downsample
        w = frame.shape[1] // downsample * downsample
        if h == 0 or w == 0:
            raise InputError(f"downsample {downsample} is larger than the frame {frame.shape}")
        # INTER_AREA with an integer factor is an exact block mean; float32 keeps the fractions.
        frame = cv2.resize(
            np.ascontiguousarray(frame[:h, :w], dtype=np.float32),
            (w // downsample, h // downsample),
            interpolation=cv2.INTER_AREA,
        )
    return np.ascontiguousarray(frame)


# --------------------------------------------------------------------------------------------
# Exact median filter for every depth (the min/max network lives in autofocus._median_network)


def median_blur(frame: Array, size: int) -> Array:
    """Exact median filter of odd ``size`` with replicated borders, for any depth.

    uint8: ``cv2.medianBlur`` (the tutorial's function; run on stripes in parallel for large
    frames, bit-identical to one call). Other depths, ``size`` 3 or 5: ``cv2.medianBlur``, which
    supports uint16 and float32 there. ``size`` 7 to 11: the separable min/max network above
    (exact, about 30 times faster than ``scipy.ndimage.median_filter`` on 1920x1200 uint16).
    Larger sizes: ``scipy.ndimage.median_filter(mode="nearest")``. float64 is computed in float32.
    """
    validate_blur(size)
    if size == 1:
        return frame
    if frame.dtype not in (np.uint8, np.uint16, np.float32):
        frame = frame.astype(np.float32)
    frame = np.ascontiguousarray(frame)
    if frame.dtype == np.uint8 or size <= 5:
        if frame.dtype == np.uint8 and frame.size >= 1 << 18 and size > 5:
            # OpenCV's 8-bit histogram median for size > 5 is single-threaded: split it.
            # One stripe per worker: each call has a fixed setup cost.
            stripe = -(-frame.shape[0] // WORKERS)
            return striped(frame, size // 2, partial(cv2_median_stripe, size=size), stripe)
        return np.asarray(cv2.medianBlur(frame, size))
    if size <= NETWORK_MAX_SIZE:
        return striped(frame, size // 2, partial(run_program, median_program(size)))
    return np.asarray(ndimage.median_filter(frame, size=size, mode="nearest"))


# --------------------------------------------------------------------------------------------
# The measures


def _checked(score: float) -> float:
    if not np.isfinite(score):
        raise InputError("the frame contains NaN or infinite values")
    return score


def variance_of_laplacian(
    image: Frame, *, blur: int = 9, roi: Roi | None = None, downsample: int = 1
) -> float:
    """The tutorial's measure: median blur of ``blur`` pixels, then the variance of the Laplacian.

    On 8-bit frames this is exactly ``cv2.Laplacian(cv2.medianBlur(img, blur), cv2.CV_64F).var()``
    (bit-identical). 16-bit and float frames keep their depth: the median is exact at every
    depth (see :func:`median_blur`), so a 16-bit frame equal to an 8-bit one times 257 scores
    exactly 257**2 times as much. Known behaviour: sharp peak, narrow capture range; the score
    grows with the frame's area (it is a variance, not a sum) only through content.
    """
    validate_blur(blur)
    frame = median_blur(prepare(image, roi, downsample), blur)
    if frame.dtype == np.float32:
        # OpenCV has no float32 -> float64 Laplacian; float32 is exact enough and meanStdDev
        # accumulates in double.
        _, std = cv2.meanStdDev(cv2.Laplacian(frame, cv2.CV_32F))
        return _checked(float(std[0, 0]) ** 2)
    # Integer frames: the tutorial's exact expression (numpy's pairwise-summed variance).
    return _checked(float(cv2.Laplacian(frame, cv2.CV_64F).var()))


def normalized_variance(image: Frame, *, roi: Roi | None = None, downsample: int = 1) -> float:
    """Intensity variance divided by the mean intensity (Groen et al. 1985).

    Dividing by the mean makes it insensitive to illumination level. Broad and noise-robust on
    absorbing or fluorescent specimens; on transparent (phase) specimens it peaks away from
    focus, where defocus has turned phase into intensity contrast. 0 for a black frame.
    """
    frame = prepare(image, roi, downsample)
    mean, std = cv2.meanStdDev(frame)
    mu = float(mean[0, 0])
    return _checked(float(std[0, 0]) ** 2 / mu if mu > 0 else 0.0)


def brenner(image: Frame, *, roi: Roi | None = None, downsample: int = 1) -> float:
    """Brenner gradient: mean squared difference of pixels two apart, along x and along y.

    Both axes so that line structures of any orientation count. Sharp peak; sensitive to pixel
    noise (downsample, or prefer ``bandpass``, on noisy frames).
    """
    frame = prepare(image, roi, downsample)
    total, count = 0.0, 0
    # cv2.norm of a difference needs no temporary and is exact on integer frames.
    if frame.shape[1] > 2:
        total += cv2.norm(frame[:, 2:], frame[:, :-2], cv2.NORM_L2SQR)
        count += frame.shape[0] * (frame.shape[1] - 2)
    if frame.shape[0] > 2:
        total += cv2.norm(frame[2:], frame[:-2], cv2.NORM_L2SQR)
        count += (frame.shape[0] - 2) * frame.shape[1]
    return _checked(total / count if count else 0.0)


def tenengrad(image: Frame, *, roi: Roi | None = None, downsample: int = 1) -> float:
    """Tenengrad: mean squared 3x3 Sobel gradient magnitude (no threshold).

    Sharp peak with a little more smoothing than Brenner; sensitive to pixel noise.
    """
    frame = prepare(image, roi, downsample)
    return _checked(_derivative_norm_both_axes(frame, 1, 3, cv2.NORM_L2SQR) / frame.size)


def _derivative_norm_both_axes(frame: np.ndarray, order: int, ksize: int, norm_type: int) -> float:
    """The norm of the ``order``-th Sobel derivative along x plus the same along y, in float32
    with one buffer reused for both axes."""
    derivative = cv2.Sobel(frame, cv2.CV_32F, order, 0, ksize=ksize)
    total = float(cv2.norm(derivative, norm_type))
    cv2.Sobel(frame, cv2.CV_32F, 0, order, dst=derivative, ksize=ksize)
    return total + float(cv2.norm(derivative, norm_type))


def vollath_f4(image: Frame, *, roi: Roi | None = None, downsample: int = 1) -> float:
    """Vollath's F4: mean of I(x)·I(x+1) - I(x)·I(x+2), along x and along y.

    An autocorrelation difference; its expectation does not grow with white noise, which makes
    it one of the more noise-robust sharp measures. Computed as I(x)·(I(x+1) - I(x+2)) so that
    two huge, nearly equal sums are never subtracted (uint16 frames would lose all precision).
    """
    frame = prepare(image, roi, downsample)
    total, count = 0.0, 0
    for axis in (0, 1):
        f = frame if axis == 1 else frame.T
        if f.shape[1] < 3:
            continue
        diff = cv2.subtract(f[:, 1:-1], f[:, 2:], dtype=cv2.CV_32F)
        total += float(cv2.sumElems(cv2.multiply(f[:, :-2], diff, dtype=cv2.CV_32F))[0])
        count += diff.size
    return _checked(total / count if count else 0.0)


def sml(image: Frame, *, roi: Roi | None = None, downsample: int = 1) -> float:
    """Sum-modified Laplacian (Nayar 1994): mean of |d²I/dx²| + |d²I/dy²|, step 1, no threshold.

    Absolute values keep the x and y second derivatives from cancelling (as they can in the
    plain Laplacian). Sharp peak; sensitive to pixel noise.
    """
    frame = prepare(image, roi, downsample)
    return _checked(_derivative_norm_both_axes(frame, 2, 1, cv2.NORM_L1) / frame.size)


def bandpass(image: Frame, *, roi: Roi | None = None, downsample: int = 1) -> float:
    """Variance of a difference of Gaussians (sigma 1 px minus sigma 3 px).

    A band-pass energy: blind to pixel noise (removed by the 1 px Gaussian) and to illumination
    gradients (removed by the 3 px one), so it has a wide capture range and suits coarse search
    on downsampled frames. The pass band is in pixels of the (downsampled) frame.
    """
    frame = prepare(image, roi, downsample).astype(np.float32, copy=False)
    fine = cv2.GaussianBlur(frame, (0, 0), 1.0)
    coarse = cv2.GaussianBlur(frame, (0, 0), 3.0)
    _, std = cv2.meanStdDev(cv2.subtract(fine, coarse, dst=fine))
    return _checked(float(std[0, 0]) ** 2)


def mean_frequency(image: Frame, *, roi: Roi | None = None, downsample: int = 1) -> float:
    """Mean squared spatial frequency: Sobel gradient energy / intensity variance.

    By Parseval this is the power-weighted mean of |k|² of the frame's spectrum, so it measures
    how fine the contrast is, not how much there is: independent of exposure, gain and bit depth
    (comparable across dtypes). That makes it peak at focus on transparent phase specimens,
    whose contrast is lowest there while its finest detail is finest there. A 1 px Gaussian
    first keeps pixel noise from dominating. Caveat: an empty or noise-only frame reports the
    noise's frequency, which can exceed a defocused specimen's: check contrast separately.
    0 for a uniform frame.
    """
    frame = prepare(image, roi, downsample).astype(np.float32, copy=False)
    smooth = cv2.GaussianBlur(frame, (0, 0), 1.0)
    _, std = cv2.meanStdDev(smooth)
    variance = float(std[0, 0]) ** 2
    if variance <= 0:
        return 0.0
    energy = _derivative_norm_both_axes(smooth, 1, 3, cv2.NORM_L2SQR)
    return _checked(energy / smooth.size / variance)


# --------------------------------------------------------------------------------------------
# Registry


@dataclass(frozen=True)
class MetricInfo:
    """A registered measure: the function, a one-line summary, whether it takes ``blur``."""

    function: Callable[..., float]
    summary: str
    takes_blur: bool = False


METRICS: dict[str, MetricInfo] = {
    "laplacian": MetricInfo(
        variance_of_laplacian, "the tutorial's: median blur then variance of the Laplacian", True
    ),
    "normalized_variance": MetricInfo(
        normalized_variance, "intensity variance / mean; broad, fails on phase specimens"
    ),
    "brenner": MetricInfo(brenner, "squared differences of pixels two apart; sharp peak"),
    "tenengrad": MetricInfo(tenengrad, "Sobel gradient energy; sharp peak"),
    "vollath_f4": MetricInfo(vollath_f4, "autocorrelation difference; noise-robust, sharp"),
    "sml": MetricInfo(sml, "sum-modified Laplacian; sharp peak"),
    "bandpass": MetricInfo(bandpass, "difference-of-Gaussians energy; noise-robust, coarse search"),
    "mean_frequency": MetricInfo(
        mean_frequency, "gradient energy / variance; contrast-free, peaks on phase specimens"
    ),
}


def make_metric(
    name: str, *, blur: int = 9, roi: Roi | None = None, downsample: int = 1
) -> Callable[[Frame], float]:
    """A ready-to-call ``frame -> score`` for a registered metric name.

    Arguments are checked here, before anything moves; only the fit of ``roi`` inside a frame
    waits for the first frame.
    """
    try:
        info = METRICS[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(METRICS))
        raise InputError(f"unknown metric {name!r}; choose one of: {known}") from None
    validate_blur(blur)
    validate_roi(roi)
    validate_downsample(downsample)
    kwargs: dict[str, Any] = {"roi": roi, "downsample": downsample}
    if info.takes_blur:
        kwargs["blur"] = blur
    return partial(info.function, **kwargs)
