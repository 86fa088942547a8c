"""Stepped (stop-and-grab) refinement of the fine peak, shared by ``continuous`` and ``brent``.

A frame taken at rest has neither motion blur nor a timestamp-derived z, so a few of them
place the fine peak more exactly than any streamed pass; they also cost more each (a move, its
command latency), so they come last and are as few as possible: three frames inside the peak
determine a Gaussian (a parabola on log scores).
"""

from __future__ import annotations

import numpy as np

from autofocus.curve import Expect, Peak, Sample
from autofocus.errors import FocusNotFound
from autofocus.numerics import POSITION_TOLERANCE_UM, TOP_LEVEL, fit_vertex, in_window, within
from autofocus.space import Probe

__all__ = ["climb_fine", "fit_climb", "locate_at_rest"]

# A climb that has not resolved the peak after this many frames is lost (noise, an edge).
MAX_STEPPED_FRAMES = 12


def frame_at(probe: Probe, z_um: float, tolerance_um: float, skip: Sample | None = None) -> Sample:
    """The frame at rest within ``tolerance_um`` of ``z_um`` (other than ``skip``), taking one
    when there is none."""
    for sample in probe.curve.samples:
        if not sample.moving and sample is not skip and abs(sample.z_um - z_um) <= tolerance_um:
            return sample
    probe.sample(z_um)
    return probe.curve.samples[-1]


def climb_fine(probe: Probe, lo_um: float, hi_um: float, centre_um: float, h_um: float,
               min_h_um: float, *, lead_in: bool = False) -> Sample | None:
    """Frames at rest around ``centre_um`` until the fine peak is resolved.

    A hill climb on the fine score with step ``h``: it moves to a neighbour that scores higher,
    and halves ``h`` while a neighbour falls out of the peak's top (below ``TOP_LEVEL`` of the
    centre's height above the curve's lowest score), so it ends with the best frame and one
    frame inside the top on each side (the fit then rests on the top alone). Frames stay
    within ``lo``..``hi``: a peak beyond an end leaves the best frame on that end, which the
    final fit reports as an edge.

    Every move makes the stand ring (in proportion to its length, decaying over tens of ms),
    and the runner grabs at once unless told to settle: the first frame after a long move is
    blurred. ``lead_in`` spends that frame two steps out on the stage's side and approaches
    in single steps; it is returned so the fit can leave it out (None without a lead-in)."""
    samples = probe.curve.samples
    baseline = min(s.score for s in samples) if samples else None
    first = len(probe.curve)
    lead: Sample | None = None

    def at(z: float, h: float) -> Sample:
        return frame_at(probe, min(max(z, lo_um), hi_um), h / 4, skip=lead)

    if lead_in and samples:
        side = -1.0 if samples[-1].z_um < centre_um else 1.0
        lead = at(centre_um + 2 * side * h_um, h_um)
        at(centre_um + side * h_um, h_um)
    centre = at(centre_um, h_um)
    base = centre.score if baseline is None else baseline
    h = h_um
    while len(probe.curve) - first < MAX_STEPPED_FRAMES:
        below, above = at(centre.z_um - h, h), at(centre.z_um + h, h)
        best = max((below, centre, above), key=lambda s: s.score)
        if best is not centre:
            centre = best
            continue
        base = min(base, below.score, above.score)
        level = base + TOP_LEVEL * (centre.score - base)
        inside = below.z_um < centre.z_um < above.z_um and min(below.score, above.score) > level
        if inside or h <= min_h_um:
            break
        h /= 2
    return lead


def locate_at_rest(probe: Probe, lo_um: float, hi_um: float, expect: Expect,
                   skip: Sample | None = None) -> Peak:
    """The fitted peak of the frames taken at rest in ``lo``..``hi``, but ``skip`` (moving
    frames carry motion blur, which lowers their fine scores: mixing them in would skew it)."""
    inside = probe.curve.select(lambda s: not s.moving and s is not skip
                                and within(s.z_um, lo_um, hi_um))
    if not inside.samples:
        raise FocusNotFound("no frame at rest to place the peak", "no_data")
    return inside.locate_peak(lo_um, hi_um, expect=expect)


def fit_climb(probe: Probe, lo_um: float, hi_um: float, skip: Sample | None = None) -> Peak:
    """A Gaussian through the best frame at rest in ``lo``..``hi`` and its nearest neighbours
    at rest, above the lowest fine score of the window (any frames: far-out moving frames show
    the baseline that the few frames at rest, all inside the peak, do not).

    For a climb whose curve was already judged (not flat, one peak) by the passes before it;
    a best frame at an end of the window is an edge peak."""
    window = in_window(probe.curve.samples, lo_um, hi_um)
    rest = sorted((s for s in window if not s.moving and s is not skip), key=lambda s: s.z_um)
    if not rest:
        raise FocusNotFound("no frame at rest to place the peak", "no_data")
    best = max(range(len(rest)), key=lambda i: rest[i].score)
    # By position, not index: a frame may have been taken twice at the end.
    at_end = [rest[best].z_um <= rest[0].z_um + POSITION_TOLERANCE_UM,
              rest[best].z_um >= rest[-1].z_um - POSITION_TOLERANCE_UM]
    if any(at_end):
        end = "lower" if at_end[0] else "upper"
        raise FocusNotFound(f"the score is highest at the {end} edge of the frames at rest "
                            f"({rest[best].z_um:.2f} um): focus may lie beyond them",
                            "beyond_lower" if at_end[0] else "beyond_upper")
    three = rest[best - 1 : best + 2]
    z = np.array([s.z_um for s in three])
    scores = np.array([s.score for s in three])
    base = min(s.score for s in window)
    vertex, method = fit_vertex(z, scores, 1, base, [0, 1, 2])
    confidence = {"gaussian-fit": 1.0, "parabola-fit": 0.8}.get(method, 0.5)
    return Peak(vertex, float(scores[1]), confidence=confidence, method=method)
