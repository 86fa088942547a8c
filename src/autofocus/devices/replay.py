"""A recorded z-stack played back as a microscope.

The stage moves over the stack's z range; the camera returns the plane at the stage's position,
blending the two neighbouring planes linearly when the stage sits between them. Time runs on a
virtual clock (moves and exposures advance it), so every live strategy and the runner can be
tried on real recorded data, quickly and repeatably, with the hardware time they would have cost.

Between planes the frame is a blend, not a recording: blending averages the two planes' noise,
so on noisy recordings focus scores dip a little between planes (2-3 % with the band-pass measure
on the light-sheet series in ../shared/data/real). Steps of whole planes see only recorded frames.

Positions are the stack's own z (micrometres when the spacing is known, else plane numbers),
shifted by ``offset_um`` when the replay should sit at a realistic stage coordinate.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autofocus.clock import VirtualClock
from autofocus.devices.base import Microscope
from autofocus.devices.motion import move_duration_s
from autofocus.errors import CameraError, InputError, LimitError
from autofocus.frames import Frame
from autofocus.readers import ZStack, open_stack

__all__ = [
    "ReplayCamera",
    "ReplayStage",
    "ReplayTiming",
    "blend",
    "open_replay",
    "replay_microscope",
]

# Blend weights this close to 0 or 1 serve the recorded plane itself, untouched: a stage parked
# on a plane should see exactly what was recorded there, not a rounding-altered copy.
_ON_PLANE = 1e-6


@dataclass(frozen=True)
class ReplayTiming:
    """How long the played-back hardware takes (defaults: a small motorised focus drive and a
    10 ms exposure)."""

    speed_um_s: float = 1_000.0
    accel_um_s2: float = 10_000.0
    command_latency_s: float = 0.005
    exposure_s: float = 0.010
    readout_s: float = 0.005


class ReplayStage:
    """A focus drive over the stack's z range; refuses to leave it, as a real limit would."""

    def __init__(self, lo_um: float, hi_um: float, clock: VirtualClock, timing: ReplayTiming,
                 position_um: float) -> None:
        self._limits = (lo_um, hi_um)
        self._clock = clock
        self._timing = timing
        self._position = position_um
        self.moves = 0

    @property
    def limits_um(self) -> tuple[float, float]:
        return self._limits

    def position_um(self) -> float:
        return self._position

    def move_to_um(self, z_um: float) -> None:
        lo, hi = self._limits
        if not lo <= z_um <= hi:
            raise LimitError(f"replay stage: {z_um:.4f} um is outside the recorded stack {lo:g}..{hi:g} um")
        t = self._timing
        self._clock.sleep(t.command_latency_s + move_duration_s(z_um - self._position, t.speed_um_s,
                                                                 t.accel_um_s2))
        self._position = z_um
        self.moves += 1

    def stop(self) -> None:
        """Moves complete before move_to_um returns: there is never motion to stop."""


class ReplayCamera:
    """Returns the recorded plane at the stage's z, interpolated between neighbouring planes."""

    def __init__(self, stack: ZStack, z_um: np.ndarray, position: Callable[[], float],
                 clock: VirtualClock, timing: ReplayTiming, cache_planes: int = 4) -> None:
        order = np.argsort(z_um)
        self._z = z_um[order]
        self._index = order  # plane number of each sorted position
        self._stack = stack
        self._position = position
        self._clock = clock
        self._timing = timing
        self._cache: OrderedDict[int, Frame] = OrderedDict()
        self._cache_planes = max(2, cache_planes)
        self.grabs = 0

    @property
    def exposure_s(self) -> float:
        return self._timing.exposure_s

    def grab(self) -> Frame:
        self._clock.sleep(self._timing.exposure_s + self._timing.readout_s)
        self.grabs += 1
        lower, upper, weight = self.bracket(self._position())
        if weight <= _ON_PLANE:
            return self._plane(lower)
        if weight >= 1 - _ON_PLANE:
            return self._plane(upper)
        return blend(self._plane(lower), self._plane(upper), weight)

    def bracket(self, z: float) -> tuple[int, int, float]:
        """The planes either side of ``z`` and the weight of the upper one (0..1)."""
        if len(self._z) == 1:
            return int(self._index[0]), int(self._index[0]), 0.0
        right = int(np.clip(np.searchsorted(self._z, z, side="right"), 1, len(self._z) - 1))
        z0, z1 = float(self._z[right - 1]), float(self._z[right])
        weight = float(np.clip((z - z0) / (z1 - z0), 0.0, 1.0)) if z1 > z0 else 0.0
        return int(self._index[right - 1]), int(self._index[right]), weight

    def _plane(self, index: int) -> Frame:
        # Strategies revisit the same few planes (fine steps around a peak); a small cache saves
        # re-reading them from disk without holding the whole stack in memory.
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        try:
            frame = self._stack.plane(index)
        except OSError as exc:
            raise CameraError(
                f"replay camera: cannot read plane {index} of {self._stack.path}: {exc}"
            ) from exc
        self._cache[index] = frame
        if len(self._cache) > self._cache_planes:
            self._cache.popitem(last=False)
        return frame


def blend(a: Frame, b: Frame, weight: float) -> Frame:
    """``(1 - weight) * a + weight * b`` at the frames' own dtype (integers rounded, clipped)."""
    mixed = a.astype(np.float32) * np.float32(1.0 - weight) + b.astype(np.float32) * np.float32(weight)
    if np.issubdtype(a.dtype, np.integer):
        info = np.iinfo(a.dtype.type)  # type: ignore[type-var]
        return np.clip(np.rint(mixed), info.min, info.max).astype(a.dtype)
    return mixed.astype(a.dtype)


def replay_microscope(
    stack: ZStack,
    *,
    offset_um: float = 0.0,
    start_um: float | None = None,
    timing: ReplayTiming | None = None,
    close_stack: bool = False,
) -> Microscope:
    """Serve an open stack as a stage + camera on a virtual clock.

    The stage starts at ``start_um`` (default: the lowest recorded position). ``close_stack``
    hands the stack's file to the microscope, closed with it.
    """
    if len(stack) == 0:
        raise InputError(f"{stack.path}: the stack has no planes")
    timing = timing or ReplayTiming()
    z = np.asarray(stack.z_um, dtype=float) + offset_um
    lo, hi = float(z.min()), float(z.max())
    start = lo if start_um is None else start_um
    if not lo <= start <= hi:
        raise InputError(f"replay start {start:g} um is outside the recorded stack {lo:g}..{hi:g} um")
    clock = VirtualClock()
    stage = ReplayStage(lo, hi, clock, timing, start)
    camera = ReplayCamera(stack, z, stage.position_um, clock, timing)
    closers = [stack.close] if close_stack else []
    return Microscope(stage, camera, clock, closers=closers,
                      description=f"replay of {stack.path} ({len(stack)} planes, {lo:g}..{hi:g} um)")


def open_replay(path: str | Path, *, z_step_um: float | None = None, offset_um: float = 0.0,
                start_um: float | None = None, timing: ReplayTiming | None = None) -> Microscope:
    """Open a recorded stack (TIFF, folder or glob of images) as a microscope; close it after use."""
    stack = open_stack(path, z_step_um)
    try:
        return replay_microscope(stack, offset_um=offset_um, start_um=start_um, timing=timing,
                                 close_stack=True)
    except BaseException:
        stack.close()
        raise
