"""What every pass-based answer goes through before it is reported: several coarse peaks are
each refined before one is chosen, a peak with no lower frame beyond it towards a near end of
the range is focus beyond that end, and the confidence is the curve's evidence
(:func:`autofocus.confidence.evidence_confidence`) on all the frames taken.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from autofocus.confidence import evidence_confidence
from autofocus.curve import COMPARABLE, FocusCurve, Peak, curve_stats, profile, significant_peaks
from autofocus.errors import FocusNotFound
from autofocus.layers import choose_layer
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


def refine_rivals(probe: Probe, space: SearchSpace, spacing: float, points: int,
                  rivals: FocusNotFound) -> Peak:
    """Several comparable coarse peaks: each one zoomed in on before one is chosen (a narrow
    fine top can exceed what the coarse frames show); the fine tops are then layers
    (:func:`autofocus.layers.choose_layer`). Raises ``rivals`` when none resolves."""
    z, coarse = profile(probe.curve.coarse_curve())
    stats = curve_stats(z, coarse)
    tops = [p for p in significant_peaks(coarse, stats) if p.height >= COMPARABLE * stats.prominence]
    noise = pass_noise(probe.curve)
    found: list[Peak] = []
    for p in tops:
        try:
            found.append(zoom(probe, space, Bracket(float(z[p.index]), NEAREST_HALF * spacing),
                              points, noise))
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
