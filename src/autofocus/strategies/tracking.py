"""``track``: one time point of a time-lapse, in two frames when focus has barely moved.

Between time points focus drifts by a small part of a depth of field, and the caller (the
time-lapse, :mod:`autofocus.track`) knows two things a plain refocus does not: where focus
should be now (``space.start_um``, its drift model's prediction) and how high the fine score
stands at focus (``space.expected_top``, learned from the earlier time points). Near focus the
fine score is a Gaussian in z of known width (``SIGMA_PER_DOF`` of the depth of field, see
:mod:`autofocus.strategies.refocus`), so two frames at ``PROBE_DOF`` either side of the
prediction place its top: the log ratio of their scores is ``2 h (z0 - prior) / sigma^2``.

That answer is taken only when the two frames say plainly that they sit on this focus peak:

- the top lies within ``CHECK_DOF`` of the prediction, where both frames are high on the peak
  and the Gaussian holds (farther out the real curve's heavier tails make it underestimate);
- the height the two frames imply for the top agrees with the expected one (within
  ``LEVEL_RANGE``): two frames on the far flanks of a peak that jumped away, or two frames of
  an empty field, read as a top at the prediction too, but a far lower one.

Otherwise the time point is a refocus (:func:`autofocus.strategies.refocus.refocus`), which
starts with frames at the very same two positions and reads these instead of taking them again,
and which in turn widens or hands over to the default search (``space.on_miss``). Without an
expected height, or for a transparent specimen (its focus is a dip), ``track`` is ``refocus``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from autofocus.curve import Peak, Sample
from autofocus.space import Probe, SearchSpace
from autofocus.strategies.refocus import PROBE_DOF, SIGMA_PER_DOF, FreshView, refocus

__all__ = ["CHECK_DOF", "LEVEL_RANGE", "TWO_FRAME", "TwoFrameReading", "track", "two_frame_reading"]

# The two-frame top is trusted this close to the prediction (measured on the simulator's
# specimens: within it the two-frame estimate is off by under a fifth of the offset).
TWO_FRAME = "track-two-frame"
"""The method name of an answer read from two frames (beside refocus's own, see refocus.METHODS)."""
CHECK_DOF = 0.35
# The implied top over the expected one: inside this range the frames show the same peak (the
# two-frame estimate reads a bright specimen's top 0.85..1.05 times its true height, and a
# specimen bleaches or brightens slowly); a peak that jumped away reads below a tenth.
LEVEL_RANGE = (0.6, 1.6)
# A frame this close (fraction of the depth of field) to where refocus asks for one is reused.
REUSE_DOF = 0.02


@dataclass(frozen=True)
class TwoFrameReading:
    """What two frames ``2h`` apart say under a Gaussian of known width: the top's z and its
    height (with no baseline: a bright specimen's is a few percent of its top)."""

    z_um: float
    top: float


def two_frame_reading(low: Sample, high: Sample, sigma_um: float) -> TwoFrameReading | None:
    """The Gaussian's top through ``low`` and ``high`` (None when a score is not positive)."""
    if not (low.score > 0 and high.score > 0) or high.z_um <= low.z_um:
        return None
    half = (high.z_um - low.z_um) / 2
    middle = (high.z_um + low.z_um) / 2
    offset = sigma_um**2 * math.log(high.score / low.score) / (2 * half)
    z0 = middle + offset
    top = math.sqrt(low.score * high.score) * math.exp((half**2 + offset**2) / (2 * sigma_um**2))
    return TwoFrameReading(z0, top)


def track(probe: Probe, space: SearchSpace) -> Peak:
    """Two frames around ``space.start_um``; their answer when it passes the checks above,
    else a refocus that reuses them."""
    dof = space.dof_um if space.dof_um is not None else space.step_um
    prior, h = space.start_um, PROBE_DOF * dof
    expected = space.expected_top
    if expected is None or space.expect == "dip" or not (
            space.lo_um <= prior - h and prior + h <= space.hi_um):
        return refocus(probe, space)  # nothing to check two frames against, or no room for them
    frames = []
    for z in (prior - h, prior + h):
        probe.sample(z)
        frames.append(probe.curve.samples[-1])
    reading = two_frame_reading(frames[0], frames[1], SIGMA_PER_DOF * dof)
    if reading is not None and abs(reading.z_um - prior) <= CHECK_DOF * dof:
        level = reading.top / expected
        if LEVEL_RANGE[0] <= level <= LEVEL_RANGE[1]:
            # Confidence: how well the height agrees (1 at the expected one, 0 at the range's ends).
            agreement = 1.0 - abs(math.log(level)) / math.log(LEVEL_RANGE[1])
            return Peak(reading.z_um, reading.top, max(0.0, min(1.0, agreement)), TWO_FRAME)
    return refocus(Reused(probe, frames, REUSE_DOF * dof), space)


class Reused(FreshView):
    """The probe, offering frames already taken: a frame asked for within ``tolerance_um`` of
    one of them is that frame (once), not a new exposure. Its curve holds the frames served
    from here on, as a fresh search expects."""

    def __init__(self, probe: Probe, frames: list[Sample], tolerance_um: float) -> None:
        super().__init__(probe)
        self._spare = list(frames)
        self._tolerance = tolerance_um

    def sample(self, z_um: float) -> float:
        for frame in self._spare:
            if abs(frame.z_um - z_um) <= self._tolerance:
                self._spare.remove(frame)
                self._curve.samples.append(frame)
                return frame.score
        return super().sample(z_um)
