"""Focus measures: pure functions ``frame -> float``, larger is sharper.

Every measure accepts uint8, uint16 or floating-point 2-D frames of any size (also 1x1 frames and
non-contiguous views), an optional region of interest ``roi=(x, y, width, height)`` in pixels, and
``downsample``, an integer block-average factor applied after cropping. RGB(A) frames are reduced
to the mean of their colour channels.

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

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from scipy import ndimage

from autofocus.devices.base import Frame
from autofocus.errors import InputError

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

Roi = tuple[int, int, int, int]
"""x, y, width, height in pixels."""

Array = npt.NDArray[Any]


# --------------------------------------------------------------------------------------------
# Input handling


def validate_roi(roi: Roi | None) -> None:
    """Check the shape-independent parts of a region of interest."""
    if roi is None:
        return
    if len(roi) != 4 or not all(isinstance(v, (int, np.integer)) for v in roi):
        raise InputError(f"roi must be four integers (x, y, width, height), got {roi!r}")
    x, y, w, h = roi
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise InputError(f"roi {roi} needs x, y >= 0 and a positive width and height")


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
    plenty for focus scores and half the memory traffic of float64. RGB(A) is averaged over
    the colour channels.
    """
    frame: Array = np.asarray(image)  # any dtype until checked below
    if frame.dtype == np.bool_ or frame.dtype.kind not in "uif":
        raise InputError(f"a frame must hold integers or floats, got dtype {frame.dtype}")
    if frame.ndim == 3 and frame.shape[2] in (3, 4):
        frame = frame[..., :3].mean(axis=2, dtype=np.float32)
    if frame.ndim != 2 or frame.size == 0:
        raise InputError(f"a frame must be a non-empty 2-D array, got shape {frame.shape}")
    validate_roi(roi)
    validate_downsample(downsample)
    if roi is not None:
        x, y, w, h = (int(v) for v in roi)
        if x + w > frame.shape[1] or y + h > frame.shape[0]:
            raise InputError(f"roi {roi} does not fit a {frame.shape[1]}x{frame.shape[0]} frame")
        frame = frame[y : y + h, x : x + w]
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
# Exact median filter for every depth
#
# A median is a rank selection, so it can be computed with nothing but min and max: a sorting
# network. The 2-D network is *separable* and *shared* between neighbouring windows:
#   1. every k-tall column is sorted once (pairs, then merged runs of 4, 8, ...: each run is a
#      whole image, computed once and reused, shifted, by every window containing it);
#   2. runs of sorted columns are merged the same way (Batcher's odd-even merge) along x;
#   3. the median is *selected* from the last two sorted runs A and B with
#      rank_j(A u B) = min_i max(A[i-1], B[j-i]), which costs O(len) instead of a full merge;
#   4. only the min/max operations that the median depends on are kept (dead-code elimination).
# For 9x9 this is 394 whole-image min/max operations (a naive 81-sorter needs thousands). Each
# runs in numpy's SIMD loops on horizontal stripes that fit in cache, two stripes at a time in
# threads (numpy releases the GIL). Being pure min/max it is exact for any dtype; borders are
# replicated, as in cv2.medianBlur. 8-bit frames use cv2.medianBlur itself (bit-identical to
# the tutorial), split into threaded stripes since OpenCV runs that kernel on one core.

_Wire = tuple[int, tuple[int, int]]  # (node id, (dy, dx) shift)


class _Network:
    """A shift-invariant min/max network built symbolically, then pruned and compiled."""

    def __init__(self) -> None:
        # node: (op, a, shift_a, b, shift_b, span); op "in" is the padded input
        self.nodes: list[tuple[str, int, tuple[int, int], int, tuple[int, int], tuple[int, int]]]
        self.nodes = [("in", -1, (0, 0), -1, (0, 0), (1, 1))]
        self._memo: dict[tuple[str, int, tuple[int, int], int, tuple[int, int]], int] = {}

    def _op(self, op: str, u: _Wire, v: _Wire) -> _Wire:
        if u > v:  # min and max commute: one canonical order makes duplicates share a node
            u, v = v, u
        (a, sa), (b, sb) = u, v
        origin = (min(sa[0], sb[0]), min(sa[1], sb[1]))
        sa = (sa[0] - origin[0], sa[1] - origin[1])
        sb = (sb[0] - origin[0], sb[1] - origin[1])
        key = (op, a, sa, b, sb)
        node = self._memo.get(key)
        if node is None:
            spa, spb = self.nodes[a][5], self.nodes[b][5]
            span = (max(sa[0] + spa[0], sb[0] + spb[0]), max(sa[1] + spa[1], sb[1] + spb[1]))
            self.nodes.append((op, a, sa, b, sb, span))
            node = self._memo[key] = len(self.nodes) - 1
        return node, origin

    def exchange(self, u: _Wire, v: _Wire) -> tuple[_Wire, _Wire]:
        return self._op("min", u, v), self._op("max", u, v)

    def merge(self, a: Sequence[_Wire], b: Sequence[_Wire]) -> list[_Wire]:
        """Batcher's odd-even merge of two sorted runs of any lengths."""
        if not a or not b:
            return [*a, *b]
        if len(a) == 1 and len(b) == 1:
            return list(self.exchange(a[0], b[0]))
        even = self.merge(a[0::2], b[0::2])
        odd = self.merge(a[1::2], b[1::2])
        out = [even[0]]
        i = 0
        while i + 1 < len(even) and i < len(odd):
            out.extend(self.exchange(odd[i], even[i + 1]))
            i += 1
        return out + even[i + 1 :] + odd[i:]

    def select(self, a: Sequence[_Wire], b: Sequence[_Wire], rank: int) -> _Wire:
        """The element of 0-based ``rank`` in the union of two sorted runs."""
        terms: list[_Wire] = []
        for i in range(rank + 2):  # i elements taken from a, rank + 1 - i from b
            ia, ib = i - 1, rank - i
            if ia >= len(a) or ib >= len(b):
                continue
            if ia < 0:
                terms.append(b[ib])
            elif ib < 0:
                terms.append(a[ia])
            else:
                terms.append(self._op("max", a[ia], b[ib]))
        while len(terms) > 1:  # balanced reduction: same count, shallower dependency chains
            paired = [self._op("min", terms[i], terms[i + 1]) for i in range(0, len(terms) - 1, 2)]
            terms = paired + terms[len(terms) - len(terms) % 2 :]
        return terms[0]


def _shifted(run: Sequence[_Wire], dy: int, dx: int) -> list[_Wire]:
    return [(n, (s[0] + dy, s[1] + dx)) for n, s in run]


def _split(n: int) -> int:
    """Largest power of two below n: such runs are shared by the most windows."""
    p = 1
    while p * 2 < n:
        p *= 2
    return p


_Step = tuple[int, Callable[..., Array], int, tuple[int, int], int, tuple[int, int], tuple[int, int]]


@dataclass(frozen=True)
class _Program:
    steps: tuple[_Step, ...]
    frees: tuple[tuple[int, ...], ...]  # nodes whose last use is the step at the same index
    output: _Wire


@lru_cache(maxsize=8)
def _median_program(size: int) -> _Program:
    net = _Network()
    pixel: _Wire = (0, (0, 0))
    columns: dict[int, list[_Wire]] = {1: [pixel]}
    rows: dict[int, list[_Wire]] = {}

    def column(n: int) -> list[_Wire]:  # sorted run of n vertically adjacent pixels
        if n not in columns:
            p = _split(n)
            columns[n] = net.merge(column(p), _shifted(column(n - p), p, 0))
        return columns[n]

    def block(n: int) -> list[_Wire]:  # sorted run of n horizontally adjacent sorted columns
        if n == 1:
            return column(size)
        if n not in rows:
            p = _split(n)
            rows[n] = net.merge(block(p), _shifted(block(n - p), 0, p))
        return rows[n]

    # The last split 1 + (size - 1) columns measured cheapest for sizes 5 to 11.
    median = net.select(block(1), _shifted(block(size - 1), 0, 1), (size * size - 1) // 2)
    live: set[int] = set()
    stack = [median[0]]
    while stack:
        node = stack.pop()
        if node not in live:
            live.add(node)
            if node:
                stack += [net.nodes[node][1], net.nodes[node][3]]
    order = sorted(live - {0})  # nodes are created after their inputs: already topological
    last_use: dict[int, int] = {}
    for node in order:
        _, a, _, b, _, _ = net.nodes[node]
        last_use[a] = last_use[b] = node
    steps: list[_Step] = []
    frees: list[tuple[int, ...]] = []
    for node in order:
        op, a, sa, b, sb, span = net.nodes[node]
        steps.append((node, np.minimum if op == "min" else np.maximum, a, sa, b, sb, span))
        frees.append(tuple(x for x in {a, b} if last_use[x] == node and x != median[0]))
    return _Program(tuple(steps), tuple(frees), median)


_NETWORK_MAX_SIZE = 11  # beyond this the op count (~k^2 log k) loses to scipy's histogram
_STRIPE_ROWS = 32  # ~80 kB uint16 planes for 1920-px rows: they stay in L2 cache (measured)
_WORKERS = min(8, os.cpu_count() or 1)
_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _threads() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(_WORKERS, thread_name_prefix="metrics")
        return _pool


def _run_program(program: _Program, padded: Array, out: Array) -> None:
    """Evaluate the network on one padded stripe, writing the median into ``out``."""
    rows, cols = padded.shape
    planes: dict[int, Array] = {0: padded}
    for (node, func, a, sa, b, sb, span), frees in zip(program.steps, program.frees, strict=True):
        h, w = rows - span[0] + 1, cols - span[1] + 1
        pa, pb = planes[a], planes[b]
        planes[node] = func(
            pa[sa[0] : sa[0] + h, sa[1] : sa[1] + w], pb[sb[0] : sb[0] + h, sb[1] : sb[1] + w]
        )
        for gone in frees:
            del planes[gone]
    node, (dy, dx) = program.output
    out[...] = planes[node][dy : dy + out.shape[0], dx : dx + out.shape[1]]


def _striped(
    frame: Array, pad: int, work: Callable[[Array, Array], None], stripe: int = _STRIPE_ROWS
) -> Array:
    """Apply ``work(padded_stripe, out_stripe)`` to replicate-padded horizontal stripes."""
    padded = cv2.copyMakeBorder(frame, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    out = np.empty_like(frame)
    starts = range(0, frame.shape[0], stripe)
    jobs = [(padded[y : y + stripe + 2 * pad], out[y : y + stripe]) for y in starts]
    if len(jobs) == 1:
        work(*jobs[0])
    else:
        for future in [_threads().submit(work, *job) for job in jobs]:
            future.result()
    return out


def _cv2_median_stripe(padded: Array, out: Array, size: int) -> None:
    pad = size // 2
    out[...] = cv2.medianBlur(padded, size)[pad : pad + out.shape[0], pad : pad + out.shape[1]]


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
            stripe = -(-frame.shape[0] // _WORKERS)
            return _striped(frame, size // 2, partial(_cv2_median_stripe, size=size), stripe)
        return np.asarray(cv2.medianBlur(frame, size))
    if size <= _NETWORK_MAX_SIZE:
        return _striped(frame, size // 2, partial(_run_program, _median_program(size)))
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


def _derivative_norm_both_axes(frame: Array, order: int, ksize: int, norm_type: int) -> float:
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
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)
    energy = cv2.norm(gx, cv2.NORM_L2SQR)
    cv2.Sobel(smooth, cv2.CV_32F, 0, 1, dst=gx, ksize=3)
    energy += cv2.norm(gx, cv2.NORM_L2SQR)
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
