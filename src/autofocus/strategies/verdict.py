"""What every pass-based answer goes through before it is reported: several coarse peaks (or a
coarse peak whose width the first pass has not seen beside a smaller clear one) are each refined
before one is chosen, a peak with no lower frame beyond it towards a near end of
the range is focus beyond that end, and the confidence is the curve's evidence
(:func:`autofocus.confidence.evidence_confidence`) on all the frames taken, below 0.5 when the
gaps between them leave room for a hidden layer (:mod:`autofocus.strategies.gaps`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
from scipy import signal

from autofocus.confidence import FLAT_SNR, UNEXAMINED_CAP, evidence_confidence
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
from autofocus.space import Probe, SearchSpace
from autofocus.strategies.gaps import coarse_noise, room_for_a_hidden_layer
from autofocus.strategies.passes import (
    NEAREST_HALF,
    Bracket,
    bracket_or_look_between,
    pass_noise,
    zoom,
)

__all__ = ["bracket_or_candidates", "judged"]

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
    confidence = evidence_confidence(z, scores, best, stats.baseline, stats.noise, rival)
    if probe.curve.coarse_curve().samples and room_for_a_hidden_layer(
            probe, peak.z_um, space.lo_um, space.hi_um):
        confidence = min(confidence, UNEXAMINED_CAP)
    return replace(peak, confidence=confidence)


# A coarse peak seen by one frame only (its neighbours below half its height) has not shown
# the coarse score's width: another coarse peak that would on its own make a curve not flat
# (FLAT_SNR noise deviations) may hide a higher top between frames, however small its frame
# shows it, down to this fraction of the strongest frame (a layer 150 um away at 40x showed
# 1 % to 4 %; the slow tails of one broad peak 0.1 %). At most MAX_CANDIDATES are refined.
UNSEEN_RIVAL = 0.01
MAX_CANDIDATES = 3


def coarse_tops(probe: Probe, snr: float = ABOVE_NOISE_SNR) -> tuple[list[tuple[float, float]], float]:
    """The coarse peaks that stand ``snr`` noise deviations (:func:`coarse_noise`) out of the
    curve, as (z, prominence), highest first, and the coarse score's baseline."""
    z, coarse = profile(probe.curve.coarse_curve())
    padded = np.concatenate(([coarse.min()], coarse, [coarse.min()]))
    indices, props = signal.find_peaks(padded, prominence=snr * coarse_noise(probe))
    tops = sorted(((float(z[i - 1]), float(p)) for i, p in zip(indices, props["prominences"],
                                                                 strict=True)),
                  key=lambda t: t[1], reverse=True)
    return tops, curve_stats(z, coarse).baseline


def unseen_candidates(probe: Probe) -> list[tuple[float, float]]:
    """When the first pass shows a coarse peak whose width it has not seen (its neighbours
    below half its height) beside other clear coarse peaks, all of them (as :func:`coarse_tops`
    gives them): the pass cannot tell which one is higher. Else an empty list."""
    z, coarse = profile(probe.curve.coarse_curve())
    if len(z) < 5 or is_flat(z, coarse):
        return []  # an empty field: its noise bumps are no rivals (the flat check decides)
    tops, baseline = coarse_tops(probe, FLAT_SNR)
    if len(tops) < 2:
        return []
    best = int(np.argmin(np.abs(z - tops[0][0])))
    half = baseline + 0.5 * (float(coarse[best]) - baseline)
    neighbours = [coarse[i] for i in (best - 1, best + 1) if 0 <= i < len(coarse)]
    if any(v >= half for v in neighbours):
        return []
    candidates = [t for t in tops if t[1] >= UNSEEN_RIVAL * tops[0][1]]
    return candidates[:MAX_CANDIDATES] if len(candidates) >= 2 else []


LookBetween = Callable[[Probe, SearchSpace, float], None]


def bracket_or_candidates(probe: Probe, space: SearchSpace, spacing: float, points: int,
                          look_between: LookBetween) -> Bracket | Peak:
    """After the first pass: the coarse peak's bracket; or, when the pass cannot tell which of
    several coarse peaks is highest, the peak chosen among them after refining each."""
    unresolved = FocusNotFound("no coarse peak resolved", "unresolved")
    candidates = unseen_candidates(probe)
    if candidates:
        return refine_rivals(probe, space, spacing, points, unresolved, candidates)
    try:
        return bracket_or_look_between(probe, space, spacing, look_between)
    except FocusNotFound as exc:
        if exc.kind != "rivals":
            raise
        tops, _ = coarse_tops(probe)
        comparable = [t for t in tops if t[1] >= COMPARABLE * tops[0][1]] if tops else []
        return refine_rivals(probe, space, spacing, points, exc, comparable[:MAX_CANDIDATES])


def refine_rivals(probe: Probe, space: SearchSpace, spacing: float, points: int,
                  rivals: FocusNotFound, tops: list[tuple[float, float]]) -> Peak:
    """Several coarse peaks ``tops`` ((z, prominence)): each one zoomed in on before one is
    chosen (a narrow fine top can exceed what the coarse frames show); the fine tops are then
    layers (:func:`autofocus.layers.choose_layer`). Raises ``rivals`` when none resolves."""
    noise = pass_noise(probe.curve)
    found: list[Peak] = []
    for centre, _height in tops:
        try:
            peak = zoom(probe, space, Bracket(centre, NEAREST_HALF * spacing), points, noise)
        except FocusNotFound:
            continue
        # Two coarse tops either side of one fine peak zoom into the same peak: one layer.
        same = [p for p in found if abs(p.z_um - peak.z_um) <= space.step_um]
        found = [p for p in found if p not in same] + [max([peak, *same], key=lambda p: p.score)]
    if not found:
        raise rivals
    fine_z, fine = profile(FocusCurve(list(probe.curve.samples)))
    baseline = curve_stats(fine_z, fine).baseline
    found.sort(key=lambda peak: peak.score, reverse=True)
    positions = np.array([peak.z_um for peak in found])
    index, _ = choose_layer(positions, [(i, peak.score - baseline) for i, peak in enumerate(found)],
                            space.layer, space.start_um)
    return found[index]
