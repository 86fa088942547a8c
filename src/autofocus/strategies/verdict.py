"""What every pass-based answer goes through before it is reported: several coarse peaks (or a
coarse peak whose width the first pass has not seen beside a smaller clear one) are each refined
before one is chosen, a peak with no lower frame beyond it towards a near end of
the range is focus beyond that end, and the confidence is the curve's evidence
(:func:`autofocus.confidence.evidence_confidence`) on all the frames taken.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy import signal

from autofocus.confidence import evidence_confidence
from autofocus.curve import (
    ABOVE_NOISE_SNR,
    COMPARABLE,
    FocusCurve,
    Peak,
    curve_stats,
    is_flat,
    profile,
    significant_peaks,
)
from autofocus.errors import FocusNotFound
from autofocus.layers import choose_layer
from autofocus.numerics import difference_noise
from autofocus.space import Probe, SearchSpace
from autofocus.strategies.passes import NEAREST_HALF, Bracket, pass_noise, zoom

# A peak within this many user steps of an end of the range must show a frame beyond it (on
# that side) at least this fraction of its height lower, or focus may lie beyond that end.
EDGE_STEPS = 2.0
FLANK_DROP = 0.05
EDGE_GAP_STEPS = 0.25


def judged(probe: Probe, space: SearchSpace, peak: Peak) -> Peak:
    """``peak`` checked against the range's ends, with the evidence confidence of the curve."""
    z, scores = profile(FocusCurve(list(probe.curve.samples)))
    stats = curve_stats(z, scores)
    drop = peak.score - FLANK_DROP * (peak.score - stats.baseline)
    for side, near in (("lower", peak.z_um - space.lo_um), ("upper", space.hi_um - peak.z_um)):
        if near > EDGE_STEPS * space.step_um:
            continue
        # Frames a quarter step or more beyond: nearer ones differ from the top by noise and
        # motion blur only, so a peak closer than that to the end is never shown to fall.
        gap = EDGE_GAP_STEPS * space.step_um
        beyond = scores[z < peak.z_um - gap] if side == "lower" else scores[z > peak.z_um + gap]
        if not np.any(beyond <= drop):
            raise FocusNotFound(
                f"the score is highest at the {side} edge of the range ({peak.z_um:.2f} um) "
                f"and does not fall beyond it: focus lies beyond the {side} end of the range "
                "(widen the range that way)", "beyond_lower" if side == "lower" else "beyond_upper")
    best = int(np.argmax(scores))
    peaks = significant_peaks(scores, stats)
    top = max(float(scores[best]) - stats.baseline, 1e-300)
    rival = max((p.height for p in peaks if abs(float(z[p.index]) - float(z[best])) >
                 EDGE_STEPS * space.step_um), default=0.0) / top
    return replace(peak, confidence=evidence_confidence(z, scores, best, stats.baseline,
                                                        stats.noise, rival))


# A coarse peak seen by one frame only (its neighbours below half its height) has not shown
# its width: a smaller coarse peak this high (relative) may hide a higher top between frames.
UNSEEN_RIVAL = 0.1


def coarse_tops(probe: Probe) -> tuple[list[tuple[float, float]], float]:
    """The first pass's coarse peaks that stand out of its noise, as (z, prominence), highest
    first, and the coarse score's baseline. The noise is that of the frames away from the
    peaks (at most the median): a sparse pass over narrow peaks inflates the curve's own
    five-point estimate."""
    z, coarse = profile(probe.curve.coarse_curve())
    stats = curve_stats(z, coarse)
    far = coarse[coarse <= np.median(coarse)]
    noise = max(difference_noise(far, 1), 1e-12) if len(far) >= 3 else stats.noise
    padded = np.concatenate(([coarse.min()], coarse, [coarse.min()]))
    indices, props = signal.find_peaks(padded, prominence=ABOVE_NOISE_SNR * noise)
    tops = sorted(((float(z[i - 1]), float(p)) for i, p in zip(indices, props["prominences"],
                                                                 strict=True)),
                  key=lambda t: t[1], reverse=True)
    return tops, stats.baseline


def hidden_rivals(probe: Probe) -> bool:
    """Whether the first pass shows a coarse peak whose width it has not seen (its neighbours
    below half its height) beside another clear coarse peak: both must be refined before one
    is chosen."""
    z, coarse = profile(probe.curve.coarse_curve())
    if len(z) < 5 or is_flat(z, coarse):
        return False  # an empty field: its noise bumps are no rivals (the flat check decides)
    tops, baseline = coarse_tops(probe)
    if len(tops) < 2 or tops[1][1] < UNSEEN_RIVAL * tops[0][1]:
        return False
    best = int(np.argmin(np.abs(z - tops[0][0])))
    half = baseline + 0.5 * (float(coarse[best]) - baseline)
    neighbours = [coarse[i] for i in (best - 1, best + 1) if 0 <= i < len(coarse)]
    return all(v < half for v in neighbours)


def refine_rivals(probe: Probe, space: SearchSpace, spacing: float, points: int,
                  rivals: FocusNotFound, fraction: float = COMPARABLE) -> Peak:
    """Several comparable coarse peaks: each one zoomed in on before one is chosen (a narrow
    fine top can exceed what the coarse frames show); the fine tops are then layers
    (:func:`autofocus.layers.choose_layer`). Raises ``rivals`` when none resolves."""
    tops, _ = coarse_tops(probe)
    tops = [t for t in tops if t[1] >= fraction * tops[0][1]] if tops else []
    noise = pass_noise(probe.curve)
    found: list[Peak] = []
    for centre, _height in tops:
        try:
            found.append(zoom(probe, space, Bracket(centre, NEAREST_HALF * spacing), points, noise))
        except FocusNotFound:
            continue
    if not found:
        raise rivals
    fine_z, fine = profile(FocusCurve(list(probe.curve.samples)))
    baseline = curve_stats(fine_z, fine).baseline
    found.sort(key=lambda peak: peak.score, reverse=True)
    positions = np.array([peak.z_um for peak in found])
    index, _ = choose_layer(positions, [(i, peak.score - baseline) for i, peak in enumerate(found)],
                                space.layer, space.start_um)
    return found[index]
