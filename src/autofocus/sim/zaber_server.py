"""The transport of the simulated Zaber controller: serves a
:class:`~autofocus.sim.zaber_protocol.SimZaberDevice` over 127.0.0.1 TCP or a pseudo-terminal, so
the real Zaber Motion Library talks to it as to a controller on a cable.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field

from autofocus.clock import VirtualClock
from autofocus.sim.stage import SimStage, StageSpec
from autofocus.sim.zaber_chain import SimZaberChain
from autofocus.sim.zaber_protocol import SimZaberDevice, ZaberDeviceSpec, ZaberFault

__all__ = ["ZaberDeviceServer", "serve_forever", "socket_link"]


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

    def __init__(self, device: SimZaberDevice | SimZaberChain | None = None, transport: str = "tcp",
                 host: str = "127.0.0.1", port: int = 0) -> None:
        if transport not in ("tcp", "pty"):
            raise ValueError("transport must be 'tcp' or 'pty'")
        self.device: SimZaberDevice | SimZaberChain = device or SimZaberDevice()
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
