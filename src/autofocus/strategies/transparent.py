"""Transparent specimens (``expect`` dip or auto) in the pass-based strategies.

Weak phase objects in transmitted light are invisible at focus: the coarse score has humps on
both sides of focus and a valley there, so here the fine score leads the zoom passes of
:mod:`autofocus.strategies.passes` (``lead="fine"``) and a second look tells the dip between
two humps from a single peak.
"""

from __future__ import annotations

import numpy as np

from autofocus.confidence import FIT_LEVEL
from autofocus.curve import (
    CurveStats,
    FocusCurve,
    Peak,
    Sample,
    locate_dip,
    profile,
    significant_peaks,
    transparent_humps,
)
from autofocus.errors import FocusNotFound
from autofocus.numerics import log_parabola_vertex
from autofocus.space import Probe, SearchSpace
from autofocus.strategies.passes import (
    COARSE_AGREES,
    NEAREST_HALF,
    Bracket,
    interior_peak_index,
    interleaved_pass,
    pass_noise,
    whole_pass,
    zoom,
)

__all__ = ["focus_transparent", "overlooked_fine_peak", "transparent_in_passes", "transparent_lead"]

# Transparent specimens (expect "auto" or "dip"). Low-frequency contrast grows with defocus on
# both sides of focus (the coarse score has humps tens of um out and a valley at focus), while
# the fine score's envelope peaks at focus with a notch one depth of field wide in its middle.
# So the coarse score must not lead there: it would bracket a hump.
#
# In auto mode the fine score's peak must lie in a valley of the coarse score: the coarse score
# rises by at least this fraction of its range on both sides of it. A peak specimen's fine and
# coarse scores peak together, so its coarse score is at its top there, never in a valley.
VALLEY_RISE = 0.25
# The second look around a transparent specimen's first resolved fine peak spans this many
# depths of field on either side when the optics are known (the humps lie about 1.5 depths of
# field either side of focus, so the twin is about 3 away) ...
LOOK_DOFS = 3.0
# ... else this many of the peak's half-widths as its frames show them (the humps are about one
# half-width apart; a fast pass's motion blur can fill the notch and overstate it), in this
# many frames per side.
LOOK_REACH = 2.0
LOOK_POINTS = 4


def transparent_lead(curve: FocusCurve, space: SearchSpace) -> float | None:
    """Where the first pass puts the focus of a transparent specimen (the fine score's best
    frame), or None when the curve is not a transparent specimen's (or ``expect`` is peak)."""
    if space.expect == "peak":
        return None
    z, fine = profile(curve)
    best = interior_peak_index(z, fine)
    if best is None:
        return None
    if space.expect == "dip":
        return float(z[best])
    _, coarse = profile(curve.coarse_curve())
    rise = min(float(coarse[:best].max()), float(coarse[best + 1 :].max())) - float(coarse[best])
    return float(z[best]) if rise >= VALLEY_RISE * float(np.ptp(coarse)) else None


def transparent_in_passes(probe: Probe, space: SearchSpace, spacing: float, points: int) -> Peak:
    """A declared transparent specimen: follow the fine score's first-pass peak; at high NA its
    envelope (a few depths of field) can fall between the first pass's frames, so look between
    them once before giving up. The coarse score never leads: it would find a hump."""
    lead = transparent_lead(probe.curve, space)
    if lead is None and spacing > space.step_um:
        interleaved_pass(probe, space, spacing)
        lead = transparent_lead(probe.curve, space)
    if lead is None:
        raise FocusNotFound("the fine score shows no clear peak inside the range (transparent "
                            "specimen: no cells in view, or focus outside the range?)", "flat")
    return focus_transparent(probe, space, lead, spacing, points)


def overlooked_fine_peak(first_pass: FocusCurve, peak: Peak | None) -> float | None:
    """Auto mode, after the coarse route: the first pass's clear fine peak, when the coarse
    route found nothing or a fine peak lower than it, and the coarse score was not at its top
    there (the coarse score led elsewhere). On a peak specimen the fine and coarse scores peak
    together, so this is a transparent specimen whose coarse humps misled the route."""
    z, fine = profile(first_pass)
    best = interior_peak_index(z, fine)
    if best is None or (peak is not None and peak.score >= fine[best]):
        return None
    _, coarse = profile(first_pass.coarse_curve())
    top = float(coarse.min()) + COARSE_AGREES * float(np.ptp(coarse))
    return float(z[best]) if coarse[best] < top else None


def focus_transparent(probe: Probe, space: SearchSpace, lead_um: float, spacing: float,
                      points: int) -> Peak:
    """Zoom passes led by the fine score alone, then the dip between its humps if they show."""
    noise = pass_noise(probe.curve, "fine")
    hump = zoom(probe, space, Bracket(lead_um, NEAREST_HALF * spacing), points, noise, lead="fine")
    # The zoom stops at the first resolved peak, which may be one hump of two. A second look,
    # symmetric about it and wide enough to reach its twin, tells a dip from a single peak.
    reach = (LOOK_DOFS * space.dof_um if space.dof_um
             else LOOK_REACH * peak_half_width(probe.curve, hump))
    lo, hi = space.clamp(hump.z_um - reach), space.clamp(hump.z_um + reach)
    # Its own frames only: evenly spaced and taken in one go, unlike the zoom's, which mix
    # spacings and motion blur and can make a third hump of noise between the two.
    look = whole_pass(probe, space, lo, hi, reach / LOOK_POINTS)
    return dip_between_humps(look, noise) or envelope_centre(look) or hump


def dip_between_humps(look: list[Sample], noise: float) -> Peak | None:
    """The dip between two balanced humps of the fine score in one evenly spaced pass, or None.

    Judged against the frame-to-frame noise of the first pass: a pass of a few frames around a
    sharp structure cannot estimate its own noise (the curve's statistics would call it flat)."""
    z, scores = profile(FocusCurve(list(look)))
    stats = CurveStats(float(scores.min()), max(noise, 1e-12), float(scores.max()))
    peaks = significant_peaks(scores, stats)
    humps = transparent_humps(z, scores, peaks, stats) if len(peaks) >= 2 else None
    return None if humps is None else locate_dip(z, scores, humps, stats)


def envelope_centre(look: list[Sample]) -> Peak | None:
    """The centre of the fine score's envelope over one pass, when the pass does not resolve
    two humps: the envelope of a transparent specimen is symmetric about focus, so a Gaussian
    through every frame above ``FIT_LEVEL`` of its height (a notch frame below it is left out,
    not a break) centres on focus whether or not a frame fell into the notch."""
    z, scores = profile(FocusCurve(list(look)))
    base = float(scores.min())
    inside = scores > base + FIT_LEVEL * (float(scores.max()) - base)
    if np.count_nonzero(inside) < 3:
        return None
    vertex = log_parabola_vertex(z[inside], scores[inside] - base)
    if vertex is None:
        return None
    return Peak(vertex, float(scores.max()), confidence=min(1.0, np.count_nonzero(inside) / 5.0),
                method="envelope-fit")


def peak_half_width(curve: FocusCurve, peak: Peak) -> float:
    """Distance from ``peak`` to the farther of the nearest frames on either side where the
    fine score has fallen to half its height (above the curve's lowest score)."""
    z, scores = profile(curve)
    z_um, base = peak.z_um, float(scores.min())
    half = base + 0.5 * (peak.score - base)
    low = z[scores <= half]
    below, above = low[low < z_um], low[low > z_um]
    sides = [z_um - float(below.max())] if len(below) else []
    sides += [float(above.min()) - z_um] if len(above) else []
    return max(sides) if sides else float(np.ptp(z)) / 2
