"""A simulated Zaber controller that speaks the Zaber ASCII protocol over a real connection.

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

import contextlib
import os
import select
import socket
import threading
import time
import tty
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from autofocus.clock import VirtualClock
from autofocus.sim.stage import SimStage, StageSpec

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
            raise ValueError(f"unknown Zaber fault {self.kind!r}; choose one of: {', '.join(ZABER_FAULTS)}")
        if not 0.0 < self.fraction < 1.0:
            raise ValueError("fault fraction must lie strictly between 0 and 1")


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
            raise ValueError("time_scale must be positive")
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
        self.moves_accepted = 0
        self.stops_received = 0
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


@dataclass
class _Link:
    """One open connection: how to read, write and close it."""

    read: Callable[[], bytes]
    write: Callable[[bytes], None]
    wait_readable: Callable[[float], bool]
    close: Callable[[], None]
    hang_up: Callable[[], None] = lambda: None
    """Safe from any thread: make the peer see the line drop now."""
    closed: threading.Event = field(default_factory=threading.Event)
    buffer: bytearray = field(default_factory=bytearray)


def socket_link(conn: socket.socket) -> _Link:
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # replies are tiny and urgent

    def readable(timeout: float) -> bool:
        return bool(select.select([conn], [], [], timeout)[0])

    def recv() -> bytes:
        return conn.recv(4096)

    return _Link(recv, conn.sendall, readable, conn.close, lambda: conn.shutdown(socket.SHUT_RDWR))


class ZaberDeviceServer:
    """Serves a :class:`SimZaberDevice` over 127.0.0.1 TCP or a pseudo-terminal, on a thread.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. ``url`` is what to give the
    command line as PORT: ``tcp://127.0.0.1:N`` or the pty's ``/dev/pts/N``.
    """

    def __init__(self, device: SimZaberDevice | None = None, transport: str = "tcp",
                 host: str = "127.0.0.1", port: int = 0) -> None:
        if transport not in ("tcp", "pty"):
            raise ValueError("transport must be 'tcp' or 'pty'")
        self.device = device or SimZaberDevice()
        self.transport = transport
        self._host, self._port = host, port
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self._pty: tuple[int, int] | None = None
        self._links: list[_Link] = []
        self._links_lock = threading.Lock()
        self.url = ""
        self.device.on_disconnect = self.disconnect

    def __enter__(self) -> ZaberDeviceServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> ZaberDeviceServer:
        if self.transport == "tcp":
            self._start_tcp()
        else:
            self._start_pty()
        return self

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name="sim-zaber", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _start_tcp(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self._host, self._port))
        listener.listen(4)
        listener.settimeout(0.1)  # so the accept loop notices stop()
        self._listener = listener
        host, port = listener.getsockname()[:2]
        self.url = f"tcp://{host}:{port}"
        self._spawn(self._accept_loop)

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            self._spawn(self._serve, socket_link(conn))

    def _start_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no newline translation: a serial line carries bytes as they are
        self._pty = (master, slave)
        # The slave stays open here so the client can close and reopen the port, as with real serial.
        self.url = os.ttyname(slave)
        link = _Link(lambda: os.read(master, 4096), lambda data: self._write_all(master, data),
                     lambda timeout: bool(select.select([master], [], [], timeout)[0]),
                     lambda: self._close_pty())
        self._spawn(self._serve, link)

    @staticmethod
    def _write_all(fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]

    def _close_pty(self) -> None:
        if self._pty is not None:
            for fd in self._pty:
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._pty = None

    def _serve(self, link: _Link) -> None:
        with self._links_lock:
            self._links.append(link)
        try:
            while not (self._stopping.is_set() or link.closed.is_set()):
                if not link.wait_readable(0.05):
                    continue
                data = link.read()
                if not data:
                    break
                link.buffer += data
                self._answer_lines(link)
        except (OSError, ValueError):
            pass  # the peer went away, or we pulled the cable
        finally:
            self._drop(link)

    def _answer_lines(self, link: _Link) -> None:
        while b"\n" in link.buffer:
            raw, _, rest = bytes(link.buffer).partition(b"\n")
            link.buffer = bytearray(rest)
            reply = self.device.handle_line(raw.decode("ascii", errors="replace"))
            if reply is not None and not link.closed.is_set():
                link.write((reply + "\r\n").encode("ascii"))

    def _drop(self, link: _Link) -> None:
        # Only the thread serving a link closes it, so no descriptor is closed while in use.
        with self._links_lock:
            if link in self._links:
                self._links.remove(link)
        with contextlib.suppress(OSError):
            link.close()

    def disconnect(self) -> None:
        """Pull the cable: the carriage stops and every open connection drops."""
        self.device.cable_pulled()
        with self._links_lock:
            links = list(self._links)
        for link in links:
            link.closed.set()
            with contextlib.suppress(OSError):
                link.hang_up()

    def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        self._stopping.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
        self.disconnect()
        for thread in self._threads:
            thread.join(timeout=2.0)
        self._close_pty()


def serve_forever(
    transport: str = "tcp",
    port: int = 0,
    address: int = 3,
    start_um: float = 9_000.0,
    time_scale: float = 1.0,
    homed: bool = False,
    fault: ZaberFault | None = None,
    duration_s: float | None = None,
    verbose: bool = False,
    out: Callable[[str], None] = print,
) -> None:
    """Run a simulated controller until Ctrl-C (or ``duration_s``), for trying things by hand."""
    stage = SimStage(VirtualClock(), StageSpec(), start_um)
    device = SimZaberDevice(stage, ZaberDeviceSpec(address=address), time_scale, homed)
    if fault is not None:
        device.inject(fault)
    with ZaberDeviceServer(device, transport, port=port) as server:
        out(f"simulated Zaber device {address} (axis 1, 0..{stage.limits_um[1] / 1000:g} mm, "
            f"{device.spec.native_unit_um:g} um per native unit) on {server.url}")
        out(f"try: autofocus 9.9 10.1 0.01 {server.url} --device {address} --camera sim --verbose")
        out("Ctrl-C stops it.")
        deadline = None if duration_s is None else time.monotonic() + duration_s
        seen = 0
        with contextlib.suppress(KeyboardInterrupt):
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.05)
                if verbose:
                    fresh = min(device.commands_received - seen, len(device.log))
                    for command in list(device.log)[len(device.log) - fresh:]:
                        out(f"<< {command}")
                    seen = device.commands_received
