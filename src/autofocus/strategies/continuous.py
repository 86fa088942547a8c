"""``continuous``: streamed passes while the stage keeps moving, then a few frames at rest.

The time of a search on a motorised stage goes into set-ups (a move to the pass start, its
acceleration, command latencies) and into frames; a frame streamed during a constant-speed
move costs only its frame period. So:

1. one streamed pass over the whole range (or until the peak is clearly behind it:
   :func:`peak_passed` ends it there, saving the rest of the pass and the move back), sparse
   (``CONTINUOUS_FACTOR`` user steps apart: each frame's motion blur spreads it over a third of
   the gap, so it sees more of the curve than a stepped frame would); the coarse score brackets
   focus. When it is flat, a second pass streams between the first one's frames, aimed from
   where they really fell;
2. one streamed pass over the bracket, ``2 * points + 1`` frames: the coarse score's fit (or the
   fine one's, when the pass resolves it) puts focus within a fraction of that pass's spacing;
3. frames at rest climbing the fine score from there until three lie inside its peak
   (:func:`autofocus.strategies.stepped.climb_fine`), and a Gaussian fit through them. Frames
   at rest carry neither motion blur nor a z derived from timestamps, and three of them cost
   less than another streamed pass with its set-up.

A moving frame's z is the stage position at the middle of its exposure (the runner
interpolates it from readings before and after the grab), so a one-directional pass has no lag
bias; motion blur is symmetric about that z, so it broadens the curve without shifting it.
"""

from __future__ import annotations

import math

import numpy as np

from autofocus.curve import FLAT_RELATIVE, Peak, Sample
from autofocus.numerics import difference_noise, in_window
from autofocus.space import Probe, SearchSpace
from autofocus.strategies.coarse_to_fine import search_in_passes
from autofocus.strategies.passes import (
    MIN_SPACING_FRACTION,
    Bracket,
    coarse_of,
    coarse_spacing,
    fit_fine,
    interleaved_pass,
    next_window,
    pass_noise,
    whole_pass,
)
from autofocus.strategies.stepped import climb_fine, fit_climb
from autofocus.strategies.verdict import bracket_or_candidates

__all__ = ["CONTINUOUS_FACTOR", "continuous", "peak_passed", "stream_phase"]

# The first pass streams frames this many user steps apart.
CONTINUOUS_FACTOR = 9.0
# The bracket pass takes 2 * points + 1 frames.
BRACKET_POINTS = 3
# The stepped climb starts this fraction of the bracket pass's spacing either side of its
# focus: a coarse fit through that pass is good to about a fifth of its spacing.
CLIMB_START = 0.2
# A bracket pass whose best frame is at its end moves the window along, at most this often.
MAX_BRACKET_PASSES = 3
# Frames at the ends of a pass are on the acceleration and deceleration ramps, not in step.
RAMP_FRAMES = 2
# Frame offsets (fractions of the spacing) that scatter more than this are not a steady stream.
PHASE_SPREAD = 0.1
# The first pass ends early once its coarse score has risen this many noise deviations (and
# this many times the flat threshold, relative to the baseline) above its baseline ...
STOP_SNR = 30.0
STOP_RELATIVE = 3 * FLAT_RELATIVE
# ... to a maximum at least this many frames into the pass, and has since fallen below this
# fraction of that rise for this many consecutive frames.
STOP_RISE_FRAMES = 2
STOP_FALL = 0.25
STOP_TAIL = 3
# Frames away from the peak that the pass's noise is measured on, at least.
STOP_NOISE_FRAMES = 4


def continuous(probe: Probe, space: SearchSpace) -> Peak:
    """Streamed passes (whole range, then the bracket) and a short stepped refinement."""
    return search_in_passes(probe, space, coarse_spacing(space, CONTINUOUS_FACTOR), BRACKET_POINTS,
                            peak_route=streamed_then_stepped, first_stop=peak_passed)


def peak_passed(samples: list[Sample]) -> bool:
    """Whether a first pass may end here: its coarse score rose well above the pass's noise to
    a maximum, the fine score peaked there too, and the coarse score has since fallen back
    near its baseline for ``STOP_TAIL`` frames. Anything less (a flat or noisy curve, a peak
    still rising or just past) lets the pass run to its end."""
    if len(samples) < STOP_RISE_FRAMES + 1 + STOP_TAIL:
        return False
    coarse = np.array([coarse_of(s) for s in samples], dtype=float)
    fine = np.array([s.score for s in samples], dtype=float)
    if not (np.all(np.isfinite(coarse)) and np.all(np.isfinite(fine))):
        return False
    best = int(np.argmax(coarse))
    if best < STOP_RISE_FRAMES or len(coarse) - 1 - best < STOP_TAIL:
        return False
    base = float(coarse[:best].min())
    height = float(coarse[best]) - base
    if height <= 0 or np.any(coarse[-STOP_TAIL:] >= base + STOP_FALL * height):
        return False
    # Noise: the robust spread of frame-to-frame changes (in the pass's order) among the frames
    # at most the median, away from the peak; a slow trend there only inflates it.
    far = coarse[coarse <= np.median(coarse)]
    if len(far) < STOP_NOISE_FRAMES:
        return False
    noise = difference_noise(far, 1)
    if height < STOP_SNR * noise or height < STOP_RELATIVE * max(abs(base), 1e-300):
        return False
    return abs(int(np.argmax(fine)) - best) <= 1


def streamed_then_stepped(probe: Probe, space: SearchSpace, spacing: float, points: int) -> Peak:
    """After the first pass: bracket, one streamed pass over the bracket, climb at rest."""
    bracket = bracket_or_candidates(probe, space, spacing, points, between_pass)
    if isinstance(bracket, Peak):
        return bracket
    centre, bracket_spacing, (lo, hi) = bracket_pass(probe, space, bracket, points)
    lead = climb_fine(probe, lo, hi, centre, CLIMB_START * bracket_spacing,
                      MIN_SPACING_FRACTION * space.step_um, lead_in=True)
    # The passes judged the curve (not flat, one peak); the frames at rest only place it. Only
    # the bracket's window counts: on dim fluorescence the fine score far out can exceed its
    # side lobes near focus.
    return fit_climb(probe, lo, hi, skip=lead)


def between_pass(probe: Probe, space: SearchSpace, spacing: float) -> None:
    """A pass back over the range whose frames fall halfway between the first pass's.

    Streamed frames do not fall at the pass start plus whole spacings: the stage accelerates
    first and the exposure middle trails the grab, so they are offset by a phase ``p`` that
    depends on the hardware (frame period, latency, acceleration). A pass starting halfway
    between two frames would put its own frames on top of the first pass's whenever ``p`` is
    near a quarter spacing. The phase is measured on the first pass's steady frames; the return
    pass, streamed at the same speed, has the same phase from its own start."""
    moving = [s for s in probe.curve.samples if s.moving]
    steady = moving[RAMP_FRAMES:-RAMP_FRAMES]
    direction = int(np.sign(moving[-1].z_um - moving[0].z_um)) if moving else 0
    phase = None
    if len(steady) >= 3 and direction != 0:
        origin = space.lo_um if direction > 0 else space.hi_um
        phase = stream_phase([direction * (s.z_um - origin) for s in steady], spacing)
    if phase is None:
        interleaved_pass(probe, space, spacing)  # frames at rest fall where they are sent
        return
    origin, width = (space.lo_um, space.width_um) if direction > 0 else (space.hi_um, space.width_um)
    # Return-pass frames sit at u - phase - k * spacing from the origin (u: its start); halfway
    # between the first pass's, at phase + spacing / 2 + k * spacing, when u = 2 * phase + half.
    u = width - (width - (2 * phase + spacing / 2)) % spacing
    whole_pass(probe, space, origin + direction * u, origin, spacing)


def stream_phase(offsets: list[float], spacing: float) -> float | None:
    """The common offset (mod ``spacing``) of streamed frames from their pass origin, or None
    when they do not share one (a circular mean, as offsets wrap around at the spacing)."""
    angles = 2 * math.pi * (np.asarray(offsets) % spacing) / spacing
    mean = complex(float(np.mean(np.cos(angles))), float(np.mean(np.sin(angles))))
    if abs(mean) < 1 - PHASE_SPREAD:
        return None
    return (math.atan2(mean.imag, mean.real) % (2 * math.pi)) * spacing / (2 * math.pi)


def bracket_pass(probe: Probe, space: SearchSpace, bracket: Bracket,
                 points: int) -> tuple[float, float, tuple[float, float]]:
    """One streamed pass over the bracket, ``2 * points + 1`` frames; returns where it puts
    focus (the fine fit when the pass resolves the fine peak, else the coarse score's), its
    spacing and its window. A best frame at the pass's end moves the window along instead."""
    noise = pass_noise(probe.curve) or short_pass_noise(probe.curve.samples)
    centre, half = bracket.centre_um, bracket.half_um
    spacing, lo, hi = half / points, space.lo_um, space.hi_um
    for _ in range(MAX_BRACKET_PASSES):
        spacing = half / points
        lo, hi = space.clamp(centre - half), space.clamp(centre + half)
        samples = whole_pass(probe, space, lo, hi, spacing)
        window = in_window(samples, lo, hi) or samples
        fine = fit_fine(window, space, spacing, noise, final=False,
                        reference=probe.curve.samples)
        if fine is not None:
            return fine.z_um, spacing, (lo, hi)
        next_centre, next_half, _ = next_window(window, space, spacing, half)
        if next_half < half:
            return next_centre, spacing, (lo, hi)  # the window shrank: focus is inside it
        centre, half = next_centre, next_half
    return centre, spacing, (lo, hi)


def short_pass_noise(samples: list[Sample]) -> float:
    """The fine score's noise along a first pass that ended early (too few frames away from
    the peak for :func:`pass_noise`): the robust spread of frame-to-frame changes, in the pass's
    order, over the frames whose coarse score is at most its median (a trend only inflates it,
    so the noise guard stays armed)."""
    coarse = np.array([coarse_of(s) for s in samples], dtype=float)
    fine = np.array([s.score for s in samples], dtype=float)
    far = fine[coarse <= np.median(coarse)] if len(samples) else fine
    if len(far) < 3:
        return 0.0
    return difference_noise(far, 1)
