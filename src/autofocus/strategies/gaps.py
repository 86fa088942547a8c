"""Room for a hidden layer in the gaps between frames.

A pass-based search samples more sparsely than the user's step. That is safe only where the
frames show that nothing could hide between them: a coarse peak like the answer's, half as high
(a layer worth choosing, :data:`autofocus.layers.LAYER_FRACTION`), midway between two frames,
must still rise ``FLAT_SNR`` noise deviations above the baseline at one of them, as far out as
the frames show the answer's own peak doing so at twice that height. At high NA
(or on sparse beads) the coarse peak is narrow, and making sure would cost about the sweep's
frames; the search does not pay that, it says so: its answer's confidence stays below 0.5
(:data:`autofocus.confidence.UNEXAMINED_CAP`).
"""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np

from autofocus.confidence import FLAT_SNR
from autofocus.curve import baseline_of, curve_stats, profile
from autofocus.layers import LAYER_FRACTION
from autofocus.numerics import difference_noise
from autofocus.space import Probe

__all__ = ["coarse_noise", "hiding_spacing", "room_for_a_hidden_layer"]

# The coarse noise: from this quantile of the frame-to-frame changes (see coarse_noise).
NOISE_QUANTILE = 0.25


def coarse_noise(probe: Probe) -> float:
    """The coarse score's frame-to-frame noise: the robust spread of its changes along z, from
    their lower quartile. On a sparse pass over two peaks nearly half the changes go onto or off
    a peak, which would move even their median (second differences spread each peak over three
    changes; the curve's own five-point estimate is inflated by narrow peaks; and the frames
    below the median alone, being the lower half of the values, would understate it)."""
    z, coarse = profile(probe.curve.coarse_curve())
    if len(coarse) < 5:
        return curve_stats(z, coarse).noise
    return max(difference_noise(coarse, 1, NOISE_QUANTILE), 1e-12)


def hiding_spacing(probe: Probe, peak_um: float) -> float:
    """The widest gap between frames in which a layer like the peak at ``peak_um`` (as wide,
    half as high) could not hide: twice the distance out to which the frames still show that
    peak's own coarse tail at twice the threshold, on its shorter side. Measured, not modelled:
    coarse tails are heavier than a Gaussian's, and a frame that shows one is the evidence.
    Infinite when a layer half as high would be flat anyway."""
    z, coarse = profile(probe.curve.coarse_curve())
    best = int(np.argmin(np.abs(z - peak_um)))
    best = max(range(max(best - 2, 0), min(best + 3, len(z))), key=lambda i: coarse[i])
    baseline = baseline_of(coarse)
    threshold = FLAT_SNR * coarse_noise(probe)
    if LAYER_FRACTION * (float(coarse[best]) - baseline) <= threshold:
        return math.inf
    seen = coarse - baseline >= threshold / LAYER_FRACTION
    top = float(z[best])
    reach = [max((abs(float(d) - top) for d in z[seen & side]), default=0.0)
             for side in (z < top, z > top)]
    return 2 * min(reach)


def room_for_a_hidden_layer(probe: Probe, peak_um: float, lo_um: float, hi_um: float) -> bool:
    """Whether a gap between the frames (other than the one the answer lies in), or between
    the range's ends ``lo_um``..``hi_um`` and the outermost frames (counted twice: a layer
    there needs only one side), is wider than :func:`hiding_spacing`: a layer could lie there
    unseen."""
    z, _ = profile(probe.curve.coarse_curve())
    gaps = [b - a for a, b in pairwise(z) if not a <= peak_um <= b]
    gaps += [2 * (float(z[0]) - lo_um), 2 * (hi_um - float(z[-1]))]
    return max(gaps) > hiding_spacing(probe, peak_um)
