"""The simulated Zaber controller's transport: real sockets and a real pseudo-terminal."""

from __future__ import annotations

import os
import socket
import time

from autofocus.sim.zaber_protocol import SimZaberDevice, ZaberDeviceSpec
from autofocus.sim.zaber_server import ZaberDeviceServer


def read_line(read: object, deadline_s: float = 2.0) -> bytes:
    data = b""
    end = time.monotonic() + deadline_s
    while not data.endswith(b"\n") and time.monotonic() < end:
        data += read()  # type: ignore[operator]
    return data


def test_tcp_server_round_trip_and_disconnect() -> None:
    device = SimZaberDevice(spec=ZaberDeviceSpec(address=2), time_scale=0.01, homed=True)
    with ZaberDeviceServer(device, "tcp") as server:
        host, port = server.url.removeprefix("tcp://").split(":")
        with socket.create_connection((host, int(port)), timeout=2) as conn:
            conn.sendall(b"/2 1 05 get limit.min\n")
            assert read_line(lambda: conn.recv(100)) == b"@02 1 05 OK IDLE -- 0\r\n"
            server.disconnect()
            assert conn.recv(100) == b""  # the peer sees the line drop


def test_pty_server_round_trip() -> None:
    with ZaberDeviceServer(SimZaberDevice(time_scale=0.01), "pty") as server:
        assert server.url.startswith("/dev/")
        fd = os.open(server.url, os.O_RDWR | os.O_NOCTTY)
        try:
            os.write(fd, b"/3 0 01 get system.axiscount\n")
            assert read_line(lambda: os.read(fd, 100)) == b"@03 0 01 OK IDLE WR 1\r\n"
        finally:
            os.close(fd)
