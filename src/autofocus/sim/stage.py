"""The simulated focus drive: trapezoidal moves on the virtual clock, residual vibration,
backlash, continuous (constant-speed) moves and faults on demand.

Two positions are kept apart, as on real hardware without a linear encoder:

* ``position_um()`` is what the controller reports: the commanded trajectory;
* ``optical_z_um(t)`` is where the focal plane really is: the trajectory plus the backlash
  offset (which side of the gear play the last move ended on) plus the decaying vibration that
  every move leaves behind. The camera renders at this one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from autofocus.clock import VirtualClock
from autofocus.devices.motion import move_duration_s
from autofocus.errors import InputError, LimitError, StageError
from autofocus.sim.faults import FaultPlan

__all__ = [
    "SimStage",
    "StageSpec",
]


@dataclass(frozen=True)
class StageSpec:
    """Defaults of an X-LDA025-like linear stage (25 mm travel) on a microscope stand."""

    min_um: float = 0.0
    max_um: float = 25_000.0
    speed_um_s: float = 5_000.0
    accel_um_s2: float = 50_000.0
    command_latency_s: float = 0.005
    vibration_per_um: float = 0.02
    """Residual vibration amplitude per micrometre moved (short moves excite little)."""
    vibration_q: float = 3.0
    """Cap on the amplitude, as a multiple of the quasi-static deflection accel / (2 pi f)^2
    of the stand's resonance under the stage's acceleration (long moves)."""
    vibration_hz: float = 60.0
    settle_tau_s: float = 0.030
    """Exponential decay time of the vibration: frames need a settle time of a few tau."""

    def vibration_cap_um(self) -> float:
        return self.vibration_q * self.accel_um_s2 / (2 * math.pi * self.vibration_hz) ** 2


@dataclass(frozen=True)
class _Move:
    """One point-to-point move with a trapezoidal velocity profile, starting at ``t0``."""

    t0: float
    z0: float
    z1: float
    speed: float
    accel: float

    @property
    def duration(self) -> float:
        return move_duration_s(self.z1 - self.z0, self.speed, self.accel)

    @property
    def t_end(self) -> float:
        return self.t0 + self.duration

    def position(self, t: float) -> float:
        d = abs(self.z1 - self.z0)
        if t <= self.t0 or d == 0:
            return self.z0
        if t >= self.t_end:
            return self.z1
        sign = 1.0 if self.z1 > self.z0 else -1.0
        a = self.accel
        v = min(self.speed, math.sqrt(d * a))  # peak speed (triangular when short)
        t_ramp = v / a
        dt = t - self.t0
        total = self.duration
        if dt < t_ramp:
            s = 0.5 * a * dt * dt
        elif dt <= total - t_ramp:
            s = 0.5 * a * t_ramp * t_ramp + v * (dt - t_ramp)
        else:
            rest = total - dt
            s = d - 0.5 * a * rest * rest
        return self.z0 + sign * s

    @property
    def peak_speed(self) -> float:
        return min(self.speed, math.sqrt(abs(self.z1 - self.z0) * self.accel))

    @property
    def ramp_end(self) -> float:
        """When the acceleration phase ends (and the jerk it gave the stand starts ringing)."""
        return self.t0 + self.peak_speed / self.accel

    @property
    def ramp_um(self) -> float:
        """Distance covered while accelerating."""
        return self.peak_speed**2 / (2 * self.accel)

    def speed_at(self, t: float) -> float:
        if t <= self.t0 or t >= self.t_end:
            return 0.0
        a = self.accel
        v = min(self.speed, math.sqrt(abs(self.z1 - self.z0) * a))
        dt = t - self.t0
        return min(v, a * dt, a * (self.duration - dt))


class SimStage:
    """A simulated focus stage; implements the ``Stage`` and ``ContinuousStage`` protocols.

    ``commanded`` lists every position ever requested (also refused ones), ``moves`` counts the
    accepted ones. ``backlash_um`` is the total gear play: the focal plane ends half of it behind
    the commanded position, on the side the move came from.
    """

    def __init__(
        self,
        clock: VirtualClock,
        spec: StageSpec | None = None,
        position_um: float = 0.0,
        faults: FaultPlan | None = None,
        backlash_um: float = 0.0,
    ) -> None:
        if not math.isfinite(position_um):
            raise InputError(f"simulated stage: the start position must be finite, got {position_um}")
        self.clock = clock
        self.spec = spec or StageSpec()
        self._position = position_um
        self.faults = faults or FaultPlan()
        self.backlash_um = backlash_um
        self.moves = 0
        self.commanded: list[float] = []
        self.connected = True
        self._move: _Move | None = None
        self._backlash_offset = 0.0
        self._vib_t0 = 0.0
        self._vib_amp = 0.0

    @property
    def limits_um(self) -> tuple[float, float]:
        return (self.spec.min_um, self.spec.max_um)

    # -- the controller's view -----------------------------------------------------------
    def position_um(self) -> float:
        self._check_connected()
        self._finish_if_done()
        if self._move is not None:
            return self._move.position(self.clock.now())
        return self._position

    def is_moving(self) -> bool:
        self._check_connected()
        self._finish_if_done()
        return self._move is not None

    def move_to_um(self, z_um: float) -> None:
        """Blocking move; the clock advances by the command latency plus the move time."""
        self._check_connected()
        self.commanded.append(z_um)
        self._check_limits(z_um)
        self._halt()
        self._count_and_fail(z_um)
        self.clock.sleep(self.spec.command_latency_s)
        move = _Move(self.clock.now(), self._position, z_um, self.spec.speed_um_s,
                     self.spec.accel_um_s2)
        self.clock.sleep(move.duration)
        self._arrive(move, self.clock.now())

    def start_move_to_um(self, z_um: float, speed_um_s: float) -> None:
        """Begin a move at (at most) ``speed_um_s`` and return at once (``ContinuousStage``).

        The position then follows the trapezoidal profile on the clock; frames grabbed
        meanwhile are rendered along it, with motion blur.
        """
        self._check_connected()
        if not speed_um_s > 0 or not math.isfinite(speed_um_s):
            raise ValueError(f"speed must be positive and finite, got {speed_um_s}")
        self.commanded.append(z_um)
        self._check_limits(z_um)
        self._halt()
        self._count_and_fail(z_um)
        speed = min(speed_um_s, self.spec.speed_um_s)
        self._move = _Move(self.clock.now() + self.spec.command_latency_s, self._position, z_um,
                           speed, self.spec.accel_um_s2)

    def stop(self) -> None:
        """Stop now (harmless when idle, as on real hardware)."""
        if self.connected:
            self._halt()

    # -- what the optics sees --------------------------------------------------------------
    def optical_z_um(self, t: float) -> float:
        """Focal-plane position at time ``t`` (>= the last state change): trajectory +
        backlash offset + residual vibration."""
        move = self._move
        if move is not None and t < move.t_end:
            return move.position(t) + self._offset_for(move) + self._ringing_during(move, t)
        if move is not None:  # the move will have ended by t
            amp = self._amplitude_after(move)
            return move.z1 + self._offset_for(move) + self._vibration(t, move.t_end, amp)
        return self._position + self._backlash_offset + self._vibration(
            t, self._vib_t0, self._vib_amp)

    def vibration_amplitude_um(self, t: float) -> float:
        """Envelope of the residual vibration at ``t``."""
        move = self._move
        if move is not None:
            if t < move.t_end:
                return abs(self._envelope(t, self._vib_t0, self._vib_amp)) + abs(
                    self._envelope(t, move.ramp_end, self._excited_by_ramp(move)))
            return self._amplitude_after(move) * math.exp(-(t - move.t_end)
                                                          / self.spec.settle_tau_s)
        if t < self._vib_t0:
            return 0.0
        return self._vib_amp * math.exp(-(t - self._vib_t0) / self.spec.settle_tau_s)

    def speed_at(self, t: float) -> float:
        """Commanded speed at ``t`` (um/s), 0 when idle."""
        return 0.0 if self._move is None else self._move.speed_at(t)

    # -- internals ---------------------------------------------------------------------------
    def _envelope(self, t: float, t0: float, amp: float) -> float:
        if amp <= 0 or t < t0:
            return 0.0
        return amp * math.exp(-(t - t0) / self.spec.settle_tau_s)

    def _vibration(self, t: float, t0: float, amp: float) -> float:
        return self._envelope(t, t0, amp) * math.sin(2 * math.pi * self.spec.vibration_hz * (t - t0))

    def _excited_by_ramp(self, move: _Move) -> float:
        """Ringing that a move's own acceleration excites, like a short move of the ramp's length."""
        return min(self.spec.vibration_per_um * move.ramp_um, self.spec.vibration_cap_um())

    def _ringing_during(self, move: _Move, t: float) -> float:
        """While moving, the stand still rings from the last arrival (decaying as before) and
        starts ringing from this move's acceleration: frames streamed right after a long move or
        at the start of a pass are not clean."""
        return self._vibration(t, self._vib_t0, self._vib_amp) + self._vibration(
            t, move.ramp_end, self._excited_by_ramp(move))

    def _amplitude_after(self, move: _Move) -> float:
        """Vibration left by a move: grows with its length, capped by what the acceleration
        can drive the stand's resonance to; adds to what was still ringing.

        What excites the stand is the braking, so the length that counts is at most what the
        speed profile covers while accelerating and braking (``2 * ramp_um``): all of a short
        point-to-point move (unchanged), but next to nothing of a slow streamed pass, however
        long it was (braking from tens of um/s takes a millisecond)."""
        excited = min(abs(move.z1 - move.z0), 2 * move.ramp_um)
        fresh = min(self.spec.vibration_per_um * excited, self.spec.vibration_cap_um())
        residual = 0.0
        if self._vib_amp > 0:
            residual = self._vib_amp * math.exp(-(move.t_end - self._vib_t0)
                                                / self.spec.settle_tau_s)
        return max(fresh, residual)

    def _offset_for(self, move: _Move) -> float:
        if move.z1 == move.z0 or self.backlash_um == 0:
            return self._backlash_offset
        # The load trails the motor by half the play, against the direction of travel.
        return -math.copysign(self.backlash_um / 2, move.z1 - move.z0)

    def _arrive(self, move: _Move, now: float) -> None:
        amp = self._amplitude_after(move)
        self._backlash_offset = self._offset_for(move)
        self._position = move.z1
        self._vib_t0 = move.t_end
        self._vib_amp = amp
        self._move = None

    def _finish_if_done(self) -> None:
        move = self._move
        if move is not None and self.clock.now() >= move.t_end:
            self._arrive(move, self.clock.now())

    def _halt(self) -> None:
        """End a continuous move where it is now (the controller's stop)."""
        move = self._move
        if move is None:
            return
        now = self.clock.now()
        if now >= move.t_end:
            self._arrive(move, now)
            return
        here = move.position(now)
        self._arrive(_Move(move.t0, move.z0, here, move.speed, move.accel), now)
        self._vib_t0 = now

    def _check_limits(self, z_um: float) -> None:
        lo, hi = self.limits_um
        if not (math.isfinite(z_um) and lo <= z_um <= hi):
            raise LimitError(f"simulated stage: {z_um:.3f} um is outside its travel {lo}..{hi} um")

    def _count_and_fail(self, z_um: float) -> None:
        """Count the move and inject the planned fault, if it is due."""
        self.moves += 1
        fault = self.faults.due(self.moves)
        if fault == "stage-limit":
            raise LimitError("simulated stage: limit switch triggered during the move")
        if fault == "stage-stall":
            move = _Move(self.clock.now(), self._position, z_um, self.spec.speed_um_s,
                         self.spec.accel_um_s2)
            self.clock.sleep(self.spec.command_latency_s + move.duration / 2)
            half = _Move(move.t0, move.z0, move.z0 + (z_um - move.z0) / 2, move.speed,
                         move.accel)
            self._arrive(half, self.clock.now())
            raise StageError("simulated stage: the motor stalled (fault flag FS)")
        if fault == "disconnect":
            self.connected = False
            raise StageError("simulated stage: connection lost")

    def _check_connected(self) -> None:
        if not self.connected:
            raise StageError("simulated stage: not connected")
