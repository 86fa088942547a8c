"""A simulated Zaber controller: the Zaber ASCII protocol engine (served over a real connection by
:mod:`autofocus.sim.zaber_server`).

The real Zaber Motion Library (``zaber-motion``) can talk to it over 127.0.0.1 TCP
(``Connection.open_tcp``) or over a pseudo-terminal (``Connection.open_serial_port``), so the
whole path from our :mod:`autofocus.devices.zaber` backend through the library's protocol engine
is exercised without hardware.

Motion is backed by the simulated microscope's :class:`~autofocus.sim.stage.SimStage`, which
moves along a trapezoidal profile on a virtual clock. A controller answers a move with ``BUSY``
and keeps answering ``BUSY`` to polls until the carriage arrives, in real time. So the device
slaves the stage's virtual clock to the wall clock (scaled by ``time_scale``) before handling each
command, starts moves with the stage's non-blocking ``start_move_to_um`` (the ``ContinuousStage``
protocol) and reports ``BUSY`` while the stage says it is moving, at the position it reports.

Protocol facts this follows (measured against zaber-motion 10.2): commands are
``/DEV AXIS ID command[:CS]`` ending in LF; replies are ``@DD A ID OK|RJ IDLE|BUSY FLAG DATA``
echoing the message id, with a checksum when the command carried one; a command whose checksum
is wrong is dropped silently (the library then times out); moves are ``move abs N`` followed by
empty polling commands until ``IDLE``; a fault flag (``FS``) after a move makes the library raise
``MovementFailedException``; out-of-range moves are rejected ``RJ ... BADDATA``; ``is_homed``
reads ``warnings`` and looks for ``WR`` (no reference position).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from autofocus.clock import VirtualClock
from autofocus.errors import InputError
from autofocus.sim.stage import SimStage, StageSpec

__all__ = [
    "HALT_STEP_S",
    "NATIVE_SPEED_PER_UNIT_S",
    "SIM_DEVICE_ID",
    "SIM_NATIVE_UNIT_UM",
    "ZABER_FAULTS",
    "Request",
    "SimZaberDevice",
    "ZaberDeviceSpec",
    "ZaberFault",
    "lrc",
    "parse_request",
]

ZABER_FAULTS = ("stall", "reject", "silence", "disconnect")
"""Faults on demand: the motor stalls mid-move (flag FS); the next move is rejected; the device
stops answering (its transmit line is dead, it still obeys); the cable is pulled mid-move."""

SIM_DEVICE_ID = 1_000_001
"""Deliberately not a Zaber catalogue id: an online Device Database cannot mistake the simulator
for a real product (whose native unit might differ), so identification falls back to native units."""

HALT_STEP_S = 0.0005
"""Virtual-time resolution with which an injected stall or disconnect finds its point in a move."""

NATIVE_SPEED_PER_UNIT_S = 1.6384
"""Zaber ASCII speeds: the data value is native units per second times 1.6384. Written here
independently of the client backend on purpose: a shared wrong constant would cancel out."""

SIM_NATIVE_UNIT_UM = 0.1
"""Micrometres per native unit (microstep) of the simulated axis."""


@dataclass(frozen=True)
class ZaberDeviceSpec:
    """What the simulated controller reports about itself."""

    address: int = 3  # the tutorial's Z stage is device 3 of the MVR chain
    device_id: int = SIM_DEVICE_ID
    serial: int = 77_000_123
    version: str = "7.38"
    build: int = 17_000
    axis_count: int = 1
    native_unit_um: float = SIM_NATIVE_UNIT_UM
    packet_size_max: int = 80


@dataclass
class ZaberFault:
    """A fault armed to hit the move command after ``after_moves`` more successful ones."""

    kind: str
    after_moves: int = 0
    reason: str = "DRIVERDISABLED"
    """For ``reject``: the rejection reason the device gives."""
    fraction: float = 0.5
    """For ``stall`` and ``disconnect``: how far into the move it happens (0..1)."""

    def __post_init__(self) -> None:
        if self.kind not in ZABER_FAULTS:
            raise InputError(f"unknown Zaber fault {self.kind!r}; choose one of: {', '.join(ZABER_FAULTS)}")
        if not 0.0 < self.fraction < 1.0:
            raise InputError("fault fraction must lie strictly between 0 and 1")


@dataclass
class Request:
    """One parsed command line."""

    device: int
    axis: int
    message_id: str | None
    words: list[str]
    checksummed: bool


def lrc(payload: str) -> str:
    """Zaber's checksum: two's complement of the byte sum, as two hex digits."""
    return f"{(256 - sum(payload.encode('ascii')) % 256) % 256:02X}"


def parse_request(line: str) -> Request | None:
    """Parse ``/[dev] [axis] [id] command[:CS]``; None for noise or a wrong checksum."""
    text = line.strip()
    if not text.startswith("/"):
        return None
    body = text[1:]
    checksummed = False
    if len(body) >= 3 and body[-3] == ":":
        body, given = body[:-3], body[-2:]
        if lrc(body).upper() != given.upper():
            return None  # a real device drops it silently; the sender times out
        checksummed = True
    words = body.split()
    numbers: list[str] = []
    while words and words[0].isdigit() and len(numbers) < 3:
        numbers.append(words.pop(0))
    device = int(numbers[0]) if numbers else 0
    axis = int(numbers[1]) if len(numbers) > 1 else 0
    message_id = numbers[2] if len(numbers) > 2 else None
    return Request(device, axis, message_id, words, checksummed)


class SimZaberDevice:
    """The protocol engine and real-time motion of one single-axis controller."""

    def __init__(
        self,
        stage: SimStage | None = None,
        spec: ZaberDeviceSpec | None = None,
        time_scale: float = 1.0,
        homed: bool = False,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        """``time_scale``: real seconds per simulated second (below 1 runs faster than life).
        ``stage`` must be a SimStage on its own VirtualClock: the device drives that clock."""
        if not time_scale > 0:
            raise InputError(f"time scale must be positive, got {time_scale}")
        self.spec = spec or ZaberDeviceSpec()
        self.stage = stage or SimStage(VirtualClock(), StageSpec(), 9_000.0)
        self.time_scale = time_scale
        self.homed = homed
        self._now = now
        self._synced_at = now()
        self._lock = threading.RLock()
        self._homing = False
        self._move_from_um = 0.0
        self._move_to_um = 0.0
        self._fault_flags: list[str] = []
        self._armed: ZaberFault | None = None
        self._halting: ZaberFault | None = None
        """A stall or disconnect waiting for the carriage to get far enough into the move."""
        self.silent = False
        self.stops_received = 0
        self.moves_accepted = 0
        """Move commands obeyed (homing aside): tests read it to tell which moves reached the device."""
        self.log: deque[str] = deque(maxlen=1000)
        """The latest commands received, for tests and for ``serve-zaber --verbose``."""
        self.commands_received = 0
        self.on_disconnect: Callable[[], None] = lambda: None
        """Set by the transport: how to pull the cable."""

    # ----- faults on demand -----
    def inject(self, fault: ZaberFault) -> None:
        with self._lock:
            self._armed = fault

    def _take_fault(self) -> ZaberFault | None:
        fault = self._armed
        if fault is None:
            return None
        if fault.after_moves > 0:
            fault.after_moves -= 1
            return None
        self._armed = None
        return fault

    # ----- state -----
    def is_busy(self) -> bool:
        with self._lock:
            self._sync()
            return self.stage.is_moving()

    def position_um(self) -> float:
        with self._lock:
            self._sync()
            return self.stage.position_um()

    def _sync(self) -> None:
        """Bring the stage's virtual clock up to the wall clock, then apply what happened."""
        now = self._now()
        elapsed = (now - self._synced_at) / self.time_scale
        self._synced_at = now
        # With a stall or disconnect armed, walk the clock in small steps so the move is cut at
        # the planned point even when nobody polled in between (short moves end between polls).
        while self._halting is not None and elapsed > 0:
            step = min(elapsed, HALT_STEP_S)
            self.stage.clock.sleep(step)
            elapsed -= step
            self._maybe_halt(self._halting)
        self.stage.clock.sleep(elapsed)
        if self._homing and not self.stage.is_moving():
            self._homing = False
            self.homed = True

    def _maybe_halt(self, fault: ZaberFault) -> None:
        """Cut the move short once the carriage has covered ``fault.fraction`` of it."""
        span = abs(self._move_to_um - self._move_from_um)
        covered = abs(self.stage.position_um() - self._move_from_um)
        if self.stage.is_moving() and covered < fault.fraction * span:
            return
        self._halting = None
        self.stage.stop()
        if fault.kind == "stall":
            self._fault_flags.append("FS")  # stalled and stopped
        else:
            self.on_disconnect()

    def _begin(self, target_um: float, homing: bool = False, speed_um_s: float | None = None) -> None:
        self._move_from_um = self.stage.position_um()
        self._move_to_um = target_um
        self._homing = homing
        self.stage.start_move_to_um(target_um, speed_um_s or self.stage.spec.speed_um_s)

    def stop(self) -> None:
        with self._lock:
            self._sync()
            self._halting = None
            self._homing = False
            self.stage.stop()

    def cable_pulled(self) -> None:
        """The daisy-chain cable carries power too: without it the carriage stops where it is."""
        self.stop()

    # ----- units -----
    def to_native(self, z_um: float) -> int:
        return round(z_um / self.spec.native_unit_um)

    def to_um(self, native: float) -> float:
        return native * self.spec.native_unit_um

    def speed_um_s(self, data: int) -> float:
        """A Zaber speed value is native units per second times 1.6384."""
        return data / NATIVE_SPEED_PER_UNIT_S * self.spec.native_unit_um

    def limits_native(self) -> tuple[int, int]:
        lo, hi = self.stage.limits_um
        return self.to_native(lo), self.to_native(hi)

    # ----- protocol -----
    def handle_line(self, line: str) -> str | None:
        """Answer one command line; None when the device must say nothing."""
        request = parse_request(line)
        if request is None:
            return None
        with self._lock:
            if request.device not in (0, self.spec.address):
                return None
            self.log.append(" ".join(request.words))
            self.commands_received += 1
            self._sync()
            flag, data = self._execute(request)
            if self.silent:
                return None
            return self._format(request, flag, data)

    def _format(self, request: Request, flag: str, data: str) -> str:
        status = "BUSY" if self.stage.is_moving() else "IDLE"
        parts = [f"{self.spec.address:02d}", str(request.axis)]
        if request.message_id is not None:
            parts.append(request.message_id)
        parts += [flag, status, self._warning_flag(), data]
        payload = " ".join(parts)
        return f"@{payload}:{lrc(payload)}" if request.checksummed else f"@{payload}"

    def _warnings(self) -> list[str]:
        flags = list(self._fault_flags)
        if not self.homed:
            flags.append("WR")  # no reference position: the axis has not been homed
        return flags

    def _warning_flag(self) -> str:
        flags = self._warnings()
        return flags[0] if flags else "--"

    def _execute(self, request: Request) -> tuple[str, str]:
        if request.axis > self.spec.axis_count:
            return "RJ", "BADAXIS"
        words = request.words
        if not words:
            return "OK", "0"
        command, args = words[0], words[1:]
        if command == "get" and len(args) == 1:
            value = self._setting(args[0], request.axis)
            return ("OK", value) if value is not None else ("RJ", "BADCOMMAND")
        if command == "warnings":
            return self._warnings_command(args)
        if command == "stop":
            self.stops_received += 1
            self.stop()
            return "OK", "0"
        if command == "home" and not args:
            self._begin(self.stage.limits_um[0], homing=True)
            return "OK", "0"
        if command == "move" and 2 <= len(args) <= 4 and args[0] in ("abs", "rel"):
            return self._move(args[0], args[1], args[2] if len(args) > 2 else None)
        return "RJ", "BADCOMMAND"

    def _warnings_command(self, args: list[str]) -> tuple[str, str]:
        flags = self._warnings()
        if args == ["clear"]:
            self._fault_flags.clear()
        elif args:
            return "RJ", "BADCOMMAND"
        return "OK", " ".join([f"{len(flags):02d}", *flags])

    def _move(self, mode: str, amount: str, speed: str | None) -> tuple[str, str]:
        """``move abs|rel N [speed [accel]]``; the acceleration is accepted and not modelled."""
        try:
            value = int(amount)
            speed_um_s = self.stage.spec.speed_um_s if speed is None else self.speed_um_s(int(speed))
        except ValueError:
            return "RJ", "BADDATA"
        if not speed_um_s > 0:
            return "RJ", "BADDATA"
        if mode == "rel":
            value += self.to_native(self.stage.position_um())
        lo, hi = self.limits_native()
        if not lo <= value <= hi:
            return "RJ", "BADDATA"
        fault = self._take_fault()
        if fault is not None and fault.kind == "reject":
            return "RJ", fault.reason
        if fault is not None and fault.kind == "silence":
            self.silent = True  # from now on the device obeys but never answers
        self._fault_flags.clear()  # a new movement command clears latched fault flags
        self._begin(self.to_um(value), speed_um_s=min(speed_um_s, self.stage.spec.speed_um_s))
        if fault is not None and fault.kind in ("stall", "disconnect"):
            self._halting = fault
        self.moves_accepted += 1
        return "OK", "0"

    def _setting(self, name: str, axis: int) -> str | None:
        spec = self.spec
        device_settings = {
            "deviceid": str(spec.device_id),
            "system.serial": str(spec.serial),
            "version": spec.version,
            "version.build": str(spec.build),
            "system.axiscount": str(spec.axis_count),
            "comm.packet.size.max": str(spec.packet_size_max),
        }
        if name in device_settings:
            return device_settings[name]
        lo, hi = self.limits_native()
        position = self.to_native(self.position_um())
        axis_settings = {
            "pos": str(position),
            "encoder.pos": str(position),
            "limit.min": str(lo),
            "limit.max": str(hi),
            "limit.home.triggered": "1" if self.homed and position == lo else "0",
            "resolution": "64",
            "peripheralid": "0",
            "maxspeed": str(round(self.to_native(self.stage.spec.speed_um_s) * NATIVE_SPEED_PER_UNIT_S)),
        }
        value = axis_settings.get(name)
        if value is None:
            return None
        # Asked at device scope, a controller lists the value of every axis.
        return value if axis else " ".join([value] * spec.axis_count)
