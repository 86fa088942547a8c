"""``refocus``: focus again near a focus already known, in as few frames as the optics allow.

Most autofocus calls of an experiment refocus: the next position, tile or time point, close to a
focus found before. What is known is the prior (``space.start_um``: where the stage is, or the
caller's ``near_um``) and how wide the focus curve is (``space.dof_um``, the objective's depth
of field, DOF; without it the user's step stands in). Near focus the fine score of a specimen
is a Gaussian in z above a baseline, at half height about half a DOF either side of focus on
the simulator (``SIGMA_PER_DOF``). So:

1. two frames at rest ``PROBE_DOF`` either side of the prior;
2. a Gaussian (a weighted parabola on log scores) through the frames inside the peak gives a
   vertex; the loop ends when frames at least ``BRACKET_DOF`` either side of it show the curve
   falling and a frame at the vertex is as good as the best (a confirmation: a Gaussian's top
   scores higher than any point of its flanks) or the nearest frames either side lie within
   ``CLOSE_DOF`` of it (the top read between two frames high on the peak);
3. the third frame goes where it most likely ends the loop over the least travel
   (:func:`plan_next`), later ones to the vertex or beside it; the answer is the vertex.

Three frames is the least that shows a peak (two bracket it, a third reads its width); the
README's refocus benchmark shows what they cost, and why a streamed pass is no faster.

Transparent specimens (``expect`` dip, or auto when the frames show one) are darkest at focus,
between two humps about 1.5 DOF out: the same loop runs on the negated log score with an
equal-slope (V) fit (the dip is a cusp, not a parabola), and confirms with a frame at it.

Honest exits. A fit whose width is far from the expected one (a transparent specimen's hump, a
side lobe), a curve with no contrast (an empty field, or focus far away), a vertex beyond
``LOCAL_WINDOW_DOF`` of the prior, or no convergence within ``MAX_LOCAL_FRAMES`` frames mean
focus is not within the window. Then ``space.on_miss`` decides (``widen``: the default search
over the prior +- ``WIDEN_DOF`` DOF; ``search``: over the whole range; ``fail``: "not found").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import optimize

from autofocus.confidence import UNEXAMINED_CAP
from autofocus.curve import FocusCurve, Peak, Sample
from autofocus.errors import FocusNotFound, beyond
from autofocus.space import Probe, SearchSpace, StopWhen
from autofocus.strategies.coarse_to_fine import coarse_to_fine
from autofocus.strategies.passes import coarse_of

__all__ = ["GAUSSIAN_FIT", "HANDED_OVER_TO", "MAX_RMS_LN", "METHODS", "MIN_CONTRAST", "PROBE_DOF",
           "SIGMA_PER_DOF", "V_FIT", "WIDTH_RANGE", "FreshView", "gaussian_fit", "refocus"]

# Method names of the answers refocus placed itself; a miss hands over to the default search.
METHODS = (GAUSSIAN_FIT, V_FIT) = ("refocus-gaussian-fit", "refocus-v-fit")
HANDED_OVER_TO = "coarse-to-fine"

# The fine (band-pass) score's Gaussian sigma per depth of field (half height at about +-0.55
# DOF on every simulated specimen and objective: fluorescent cells, beads, stained tissue).
SIGMA_PER_DOF = 0.47
# The first two frames: this many depths of field either side of the prior (about one sigma:
# high enough on the peak to stand above a dim specimen's baseline, far enough apart to fit).
PROBE_DOF = 0.5
# A next frame goes at most this far beyond the frames taken (a model holds only near its data).
MAX_JUMP_DOF = 1.0
# Confirmed: a frame this close to the vertex. Closely bracketed: the nearest frames either side
# of it this close (the fine score's half height is at +-0.55 DOF: both high on the peak).
CONVERGED_DOF, CLOSE_DOF = 0.3, 0.55
# Planning the third frame: the error of the top two frames read, a floor (DOF) and per DOF of
# its distance from their middle inwards and outwards (a dim specimen's floor and the curve's
# heavier tails flatten their ratio: on the simulator's specimens a top 0.6-1 DOF out is read
# 0.26 DOF short on average, up to 0.65); candidates on a grid (DOF) within a reach of it.
PLAN_ERROR_DOF, PLAN_ERROR = 0.05, (0.2, 0.5)
PLAN_GRID_DOF, PLAN_REACH_DOF = 0.05, 1.5
# A fitted sigma outside these multiples of the expected one is not this specimen's focus peak.
WIDTH_RANGE = (0.5, 1.8)
# The Gaussian fit: log scores with this noise, a log-normal prior on the width (in natural
# log units), a baseline pulled towards 0 with this strength (fraction of the lowest frame).
SCORE_NOISE_LN, WIDTH_PRIOR_LN, BASELINE_PRIOR = 0.05, 0.35, 1.0
# Frames that miss the fitted Gaussian by more than this (rms, natural log) are not its peak.
MAX_RMS_LN = 0.12
# A top is bracketed by frames at least this far either side of it that score clearly lower.
BRACKET_DOF = 0.3
# A frame within this fraction of the best score is as good as the best (noise at the top).
TOP_TOLERANCE = 0.04
# The best frame must rise this many times above the lowest one: else the curve shows no focus.
MIN_CONTRAST = 1.25
# Focus further than this from the prior is not "near": the window for the local loop.
LOCAL_WINDOW_DOF, MAX_LOCAL_FRAMES = 3.0, 8
# on_miss="widen": the default search over the prior +- this many depths of field.
WIDEN_DOF = 15.0
# ... with the user's step, or this fraction of the DOF when finer (the default search's coarse
# pass spans several steps; a transparent specimen's humps lie only about 1.5 DOF from focus).
WIDEN_STEP_DOF = 0.5
# The coarse score may exceed its value at the fine peak by this fraction elsewhere (noise).
COARSE_MARGIN = 0.03
# A transparent specimen's dip: the flanks rise this many times above the lowest frame.
DIP_CONTRAST = 1.3


class OutsideWindow(FocusNotFound):
    """The frames near the prior do not show a focus within the local window."""


def refocus(probe: Probe, space: SearchSpace) -> Peak:
    """Refocus near ``space.start_um``; on a miss, widen, search or fail (``space.on_miss``)."""
    dof = space.dof_um if space.dof_um is not None else space.step_um
    try:
        return local_focus(probe, space, dof)
    except OutsideWindow as miss:
        if space.on_miss == "fail":
            raise
        if space.on_miss == "search":
            return coarse_to_fine(FreshView(probe), space)
        return widened(FreshView(probe), space, dof, miss.reason)


class FreshView:
    """The probe, with a curve of the frames taken from now on: the search refocus hands over
    to reads its own frames, not the local ones (crowded near the prior, they misled it)."""

    def __init__(self, probe: Probe) -> None:
        self._probe = probe
        self._curve = FocusCurve()

    @property
    def curve(self) -> FocusCurve:
        return self._curve

    @property
    def coarse_measured(self) -> bool:
        return self._probe.coarse_measured

    def discard(self, samples: list[Sample]) -> None:
        self._probe.discard(samples)
        self._curve.set_apart(samples)

    def sample(self, z_um: float) -> float:
        value = self._probe.sample(z_um)
        self._curve.samples.append(self._probe.curve.samples[-1])
        return value

    def sweep(self, start_um: float, end_um: float, spacing_um: float, *,
              stop_when: StopWhen | None = None) -> list[Sample]:
        samples = self._probe.sweep(start_um, end_um, spacing_um, stop_when=stop_when)
        self._curve.samples.extend(samples)
        return samples


def widened(probe: Probe, space: SearchSpace, dof: float, why: str) -> Peak:
    """The default search over the prior +- ``WIDEN_DOF`` depths of field (inside the range)."""
    lo, hi = (space.clamp(space.start_um + side * WIDEN_DOF * dof) for side in (-1, 1))
    window = replace(space, lo_um=lo, hi_um=hi, step_um=min(space.step_um, WIDEN_STEP_DOF * dof))
    try:
        peak = coarse_to_fine(probe, window)
    except FocusNotFound as exc:
        raise FocusNotFound(f"{why}; widened to {lo:.2f}..{hi:.2f} um: {exc.reason}",
                            exc.kind) from None
    ends: tuple[tuple[Literal["lower", "upper"], float, bool], ...] = (
        ("lower", lo, lo > space.lo_um), ("upper", hi, hi < space.hi_um))
    for end, edge, inner in ends:
        if inner and abs(peak.z_um - edge) <= window.step_um:
            # A top at an end of the widened window may be the rise towards a focus beyond it.
            raise FocusNotFound(f"{why}; widened to {lo:.2f}..{hi:.2f} um, the score is highest "
                                f"at its {end} end: focus may lie beyond it (on_miss='search' "
                                "searches the whole range)", beyond(end))
    if lo > space.lo_um or hi < space.hi_um:
        # The best focus within the window; a stronger one beyond it (another layer, a prior
        # far off) was not looked for, so the answer cannot claim to be the focus.
        return replace(peak, confidence=min(peak.confidence, UNEXAMINED_CAP))
    return peak


def local_focus(probe: Probe, space: SearchSpace, dof: float) -> Peak:
    """Steps 1-3 of the module's description; raises OutsideWindow on a miss."""
    prior, h, first = space.start_um, PROBE_DOF * dof, len(probe.curve)
    lo, hi = (space.clamp(prior + side * LOCAL_WINDOW_DOF * dof) for side in (-1, 1))

    def own() -> list[Sample]:
        return sorted((s for s in probe.curve.samples[first:] if not s.moving),
                      key=lambda s: s.z_um)

    def take(z: float) -> Sample:
        z = min(max(z, lo), hi)
        for s in probe.curve.samples[first:]:
            if abs(s.z_um - z) <= 0.02 * dof:
                return s  # a frame is there already: do not pay for it twice
        probe.sample(z)
        return probe.curve.samples[-1]

    low, high = take(prior - h), take(prior + h)
    # Two frames and the expected width already place a Gaussian's top: the log ratio of two
    # points 2h apart on it is 2h (z0 - prior) / sigma^2. The third frame is planned from it.
    guess = gaussian_fit(np.array([low.z_um, high.z_um]), np.array([low.score, high.score]),
                         dof).z_um if low.score > 0 and high.score > 0 else prior
    dip, may_be_dip = space.expect == "dip", space.expect == "auto"
    planned = None if dip else plan_next(low, high, guess, dof, probe.curve.samples[-1].z_um, lo, hi)
    reach = h + MAX_JUMP_DOF * dof
    take(min(max(guess, prior - reach), prior + reach) if planned is None else planned)
    while True:
        frames = own()
        if may_be_dip and not dip and looks_like_dip(frames):
            dip = True
        check_contrast(frames)
        try:
            vertex = fit_vertex(frames, dof, dip)
            best = extreme(frames, dip)
            if vertex is not None and all(fallen(frames, vertex, best, dof, dip, side)
                                          for side in (-1.0, 1.0)):
                near = min(frames, key=lambda f: abs(f.z_um - vertex))
                # ``near`` confirms: a frame at the fitted top, as good as any. Without one, two
                # frames close either side place a peak's top (a dip's cusp needs its frame).
                confirmed = (abs(vertex - near.z_um) <= CONVERGED_DOF * dof
                             and as_good(near, best, dip))
                close = either_side([f.z_um for f in frames], vertex) <= CLOSE_DOF * dof
                if confirmed or (close and not dip):
                    check_shape(frames, near if confirmed else best, dip)
                    return Peak(vertex, best.score, confidence(frames), V_FIT if dip else GAUSSIAN_FIT)
        except OutsideWindow:
            if not may_be_dip or dip:
                raise
            # In auto mode a hump that is not a focus peak may be a transparent specimen's:
            # its focus is the dip beside it, so the same frames are read as a dip from here.
            dip = True
            continue
        if len(probe.curve) - first >= MAX_LOCAL_FRAMES:
            raise OutsideWindow(f"no focus converged within {MAX_LOCAL_FRAMES} frames of the "
                                f"prior {prior:.2f} um")
        nxt = next_position(frames, best, vertex, dof, dip)
        if not lo - 1e-9 <= nxt <= hi + 1e-9:
            end = "upper" if nxt > hi else "lower"
            raise OutsideWindow(f"focus lies beyond the {end} end of the refocus window "
                                f"{lo:.2f}..{hi:.2f} um (prior {prior:.2f} um)")
        before = len(probe.curve)
        take(nxt)
        if len(probe.curve) == before:
            raise OutsideWindow("the focus model does not settle near the prior")


def plan_next(low: Sample, high: Sample, vertex: float, dof: float, here: float, lo: float,
              hi: float) -> float | None:
    """Where a third frame ends the loop with ``low`` and ``high`` for most of the tops their
    reading allows, within ``MAX_JUMP_DOF`` of them, over the least travel from ``here`` to it
    and on to the answer; None when no third frame would for most."""
    off = vertex - (low.z_um + high.z_um) / 2
    inward, outward = (PLAN_ERROR_DOF * dof + k * abs(off) for k in PLAN_ERROR)
    below, above = (inward, outward) if off >= 0 else (outward, inward)
    tops = np.linspace(vertex - below, vertex + above, 7)
    zs = [low.z_um, high.z_um]
    reach = (max(lo, zs[0] - MAX_JUMP_DOF * dof), min(hi, zs[1] + MAX_JUMP_DOF * dof))
    best: tuple[int, float, float] | None = None
    for z in vertex + dof * np.arange(-PLAN_REACH_DOF, PLAN_REACH_DOF + 1e-9, PLAN_GRID_DOF):
        if reach[0] <= z <= reach[1] and min(abs(z - q) for q in zs) > PLAN_GRID_DOF * dof:
            ends = sum(would_end([*zs, float(z)], float(top), dof) for top in tops)
            key = (-ends, abs(z - here) + abs(z - vertex), float(z))  # travel: there, then on
            if 2 * ends > len(tops) and (best is None or key < best):
                best = key
    return None if best is None else best[2]


def would_end(zs: list[float], vertex: float, dof: float) -> bool:
    """Whether frames at ``zs`` end the loop for a Gaussian top at ``vertex`` (a frame at least
    ``BRACKET_DOF`` from it scores clearly lower: 18 % below at 0.3 DOF)."""
    return (min(zs) <= vertex - BRACKET_DOF * dof and max(zs) >= vertex + BRACKET_DOF * dof
            and (min(abs(z - vertex) for z in zs) <= CONVERGED_DOF * dof
                 or either_side(zs, vertex) <= CLOSE_DOF * dof))


def either_side(zs: list[float], vertex: float) -> float:
    """The farther of the nearest frames either side of ``vertex`` (inf: a side has none)."""
    below = [vertex - z for z in zs if z <= vertex]
    above = [z - vertex for z in zs if z >= vertex]
    return max(min(below), min(above)) if below and above else math.inf


def next_position(frames: list[Sample], best: Sample, vertex: float | None, dof: float,
                  dip: bool) -> float:
    """After the third frame: to the model's vertex (at most ``MAX_JUMP_DOF`` beyond the frames)
    when no frame is there yet; else beside it, on a side where no frame shows the curve
    falling (a top seen from one side is not yet a peak). Without a vertex (a dip's lowest frame
    at an end) a step past that end, the side picked by the coarse score when the fine is no
    help (it falls towards a transparent specimen's focus)."""
    if vertex is not None:
        if min(abs(f.z_um - vertex) for f in frames) > CONVERGED_DOF * dof:
            return min(max(vertex, frames[0].z_um - MAX_JUMP_DOF * dof),
                       frames[-1].z_um + MAX_JUMP_DOF * dof)
        if not fallen(frames, vertex, best, dof, dip, -1.0):
            return vertex - PROBE_DOF * dof
        return vertex + PROBE_DOF * dof
    at_end = best is frames[0] or best is frames[-1]
    side = -1.0 if best is frames[0] else 1.0
    if dip and not at_end:
        side = -1.0 if coarse_of(frames[0]) < coarse_of(frames[-1]) else 1.0
        best = frames[0] if side < 0 else frames[-1]
    return best.z_um + side * 2 * PROBE_DOF * dof


def fallen(frames: list[Sample], vertex: float, best: Sample, dof: float, dip: bool,
           side: float) -> bool:
    """Whether a frame on ``side`` of the vertex, at least ``BRACKET_DOF`` from it, scores
    clearly below the top (for a dip: clearly above the bottom)."""
    return any((f.z_um - vertex) * side >= BRACKET_DOF * dof and not as_good(f, best, dip)
               for f in frames)


def as_good(frame: Sample, best: Sample, dip: bool) -> bool:
    """Whether ``frame`` scores as well as ``best`` within the noise at the top."""
    if dip:
        return frame.score <= best.score * (1 + TOP_TOLERANCE)
    return frame.score >= best.score * (1 - TOP_TOLERANCE)


def check_shape(frames: list[Sample], top: Sample, dip: bool) -> None:
    """A dip must be one (far below both neighbours on both scores). A peak must be one on the
    broad coarse score too: a frame clearly higher on it elsewhere means the fine peak is not
    focus (a transparent specimen's hump: its coarse contrast keeps rising away from focus)."""
    if dip:
        if not looks_like_dip(frames):
            raise OutsideWindow("the frames near the prior show no transparent specimen's dip")
        return
    others = [coarse_of(s) for s in frames if abs(s.z_um - top.z_um) > 0]
    if others and max(others) > coarse_of(top) * (1 + COARSE_MARGIN):
        raise OutsideWindow("the coarse score rises away from the fine peak near the prior: "
                            "not a focus (a transparent specimen's hump?)")


def extreme(frames: list[Sample], dip: bool) -> Sample:
    """The best frame: the highest score, or for a dip the lowest."""
    return min(frames, key=lambda s: s.score) if dip else max(frames, key=lambda s: s.score)


def looks_like_dip(frames: list[Sample]) -> bool:
    """A frame far below both its neighbours, on both scores (a transparent specimen near
    focus; a peak specimen's frames are never lower between two higher ones)."""
    i = min(range(len(frames)), key=lambda k: frames[k].score)
    if not 0 < i < len(frames) - 1:  # the lowest at an end (always, with fewer than 3 frames)
        return False
    low, mid, high = frames[i - 1: i + 2]
    fine = min(low.score, high.score) > DIP_CONTRAST * mid.score
    coarse = min(coarse_of(low), coarse_of(high)) > coarse_of(mid)
    return fine and coarse


def check_contrast(frames: list[Sample]) -> None:
    scores = [s.score for s in frames]
    top, bottom = max(scores), min(scores)
    if not bottom > 0 or top / bottom < MIN_CONTRAST:
        raise OutsideWindow("the frames near the prior show no focus (too little contrast): "
                            "focus is farther than expected, or the field is empty")


def fit_vertex(frames: list[Sample], dof: float, dip: bool) -> float | None:
    """Where the model puts focus; None when a dip's frames show no minimum yet (the best
    frame at an end). Raises OutsideWindow when the shape is not this objective's focus."""
    z = np.array([s.z_um for s in frames])
    y = np.array([s.score for s in frames])
    if dip:
        best = int(np.argmin(y))
        if best in (0, len(frames) - 1):
            return None
        return v_vertex(z[best - 1: best + 2], -np.log(y[best - 1: best + 2]))
    fit = gaussian_fit(z, y, dof)
    low, high = WIDTH_RANGE
    if len(frames) >= 3 and (not low <= fit.sigma_dof / SIGMA_PER_DOF <= high
                             or fit.rms_ln > MAX_RMS_LN):
        raise OutsideWindow(
            f"the frames near the prior do not show this objective's focus peak (a Gaussian "
            f"{fit.sigma_dof / SIGMA_PER_DOF:.1f} times as wide as expected, log residual "
            f"{fit.rms_ln:.2f}): a side lobe, a transparent specimen's hump, or focus farther away")
    return fit.z_um


@dataclass(frozen=True)
class GaussianFit:
    z_um: float
    sigma_dof: float
    rms_ln: float


def gaussian_fit(z: npt.NDArray[np.float64], y: npt.NDArray[np.float64], dof: float) -> GaussianFit:
    """A Gaussian above a baseline, fitted to the log scores with the expected width as a prior.

    Four unknowns (top, height, width, baseline) from as few as two frames: the width is pulled
    towards ``SIGMA_PER_DOF`` (log-normal prior, ``WIDTH_PRIOR_LN``) and the baseline towards 0,
    so two frames give the two-point estimate a known width implies, more let the data decide.
    The baseline (a dim specimen's floor: up to a third of the peak) would otherwise widen the
    fitted peak and pull its top towards the frames below it."""
    usable = np.isfinite(y) & (y > 0) & np.isfinite(z)
    z, y = z[usable], y[usable]
    if len(z) == 0:
        raise OutsideWindow("no frame near the prior has a usable score")
    best = int(np.argmax(y))
    centre = float(z[best])
    u = (z - centre) / dof
    if len(z) < 2 or float(np.ptp(u)) <= 0:
        return GaussianFit(centre, SIGMA_PER_DOF, 0.0)
    ln_y = np.log(y) - math.log(float(y.max()))  # heights relative to the best frame
    ln_floor = float(ln_y.min())

    def residuals(theta: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        u0, ln_a, ln_s, b_frac = theta
        with np.errstate(divide="ignore"):
            ln_b = math.log(b_frac) + ln_floor if b_frac > 0 else -math.inf
        ln_model = np.logaddexp(ln_b, ln_a - (u - u0) ** 2 / (2 * math.exp(2 * ln_s)))
        fit = (ln_y - ln_model) / SCORE_NOISE_LN
        prior = [(ln_s - math.log(SIGMA_PER_DOF)) / WIDTH_PRIOR_LN, b_frac / BASELINE_PRIOR]
        return np.concatenate([fit, prior])

    span = float(np.ptp(u)) + 2 * MAX_JUMP_DOF
    lower = [float(u.min()) - span, -3.0, math.log(0.2), 0.0]
    upper = [float(u.max()) + span, 8.0, math.log(3.0), 0.95]
    best_fit = None
    for b0 in (0.0, 0.6):
        start = np.array([0.0, math.log(max(1.0 - b0 * math.exp(ln_floor), 1e-6)),
                          math.log(SIGMA_PER_DOF), b0])
        try:
            # Tolerances far finer than the fit needs (1e-4 DOF) cost 10x the time.
            result = optimize.least_squares(residuals, np.clip(start, lower, upper),
                                            bounds=(lower, upper), xtol=1e-4, ftol=1e-4,
                                            max_nfev=200)
        except (ValueError, np.linalg.LinAlgError):
            continue
        if best_fit is None or result.cost < best_fit.cost:
            best_fit = result
    if best_fit is None:
        raise OutsideWindow("the frames near the prior cannot be fitted")
    u0, _, ln_s, _ = best_fit.x
    rms = float(np.sqrt(np.mean((best_fit.fun[: len(u)] * SCORE_NOISE_LN) ** 2)))
    return GaussianFit(centre + dof * float(u0), math.exp(ln_s), rms)


def v_vertex(z: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> float:
    """The apex of two lines of equal and opposite slope through three points, the middle one
    highest (a cusp's top: the log contrast of a transparent specimen near its dip). The apex
    lies towards the higher neighbour, within half the spacing on that side."""
    left, mid, right = (float(v) for v in y)
    h_left, h_right = float(z[1] - z[0]), float(z[2] - z[1])
    if right >= left:  # apex at z1 + d, d >= 0; the left line gives the slope
        slope = (mid - left) / h_left
        d = (h_right + (right - mid) / slope) / 2 if slope > 0 else 0.0
        return float(z[1]) + min(max(d, 0.0), h_right / 2)
    slope = (mid - right) / h_right
    d = (h_left + (left - mid) / slope) / 2 if slope > 0 else 0.0
    return float(z[1]) - min(max(d, 0.0), h_left / 2)


def confidence(frames: list[Sample]) -> float:
    """How clearly the frames show the peak: its contrast over the lowest frame (a bright
    specimen's peak stands 10-100 times above its flanks at 2 DOF, a dim one's 2-3 times)."""
    scores = [s.score for s in frames]
    return float(min(1.0, max(0.0, max(scores) / min(scores) - 1.0)))
