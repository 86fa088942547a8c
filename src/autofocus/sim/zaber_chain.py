"""A daisy chain of simulated Zaber controllers behind one port: on Zaber's microscopes X, Y and
the focus drive are separate devices in the chain (here X = 1, Y = 2, Z = 3 by default).

:class:`SimZaberChain` offers what :class:`~autofocus.sim.zaber_server.ZaberDeviceServer` needs
from a device (``handle_line``, ``cable_pulled``, ``on_disconnect``), so the same server carries a
whole chain. A command for device 0 (everyone) is answered by every device, one line each, as
on a real chain. ``log`` records every command with the focus drive's position at that moment:
the controller's own record of what the library sent, and where Z was when X or Y were told to
move.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from autofocus.clock import VirtualClock
from autofocus.sim.stage import SimStage, StageSpec
from autofocus.sim.zaber_protocol import SimZaberDevice, ZaberDeviceSpec, parse_request

__all__ = ["XY_TRAVEL_UM", "ChainEntry", "SimZaberChain", "xyz_chain"]

XY_TRAVEL_UM = (100_000.0, 75_000.0)
"""An X-ASR100B075B-like stage: 100 x 75 mm."""


@dataclass(frozen=True)
class ChainEntry:
    """One command as the chain received it."""

    device: int
    words: tuple[str, ...]
    z_um: float
    """The focus drive's position when the command arrived."""


class SimZaberChain:
    def __init__(self, devices: list[SimZaberDevice], z_address: int = 3) -> None:
        self.devices = {d.spec.address: d for d in devices}
        if z_address not in self.devices:
            raise ValueError(f"no focus device {z_address} in the chain")
        self.z_address = z_address
        self.log: list[ChainEntry] = []
        self._lock = threading.Lock()
        self._on_disconnect: Callable[[], None] = lambda: None

    @property
    def on_disconnect(self) -> Callable[[], None]:
        return self._on_disconnect

    @on_disconnect.setter
    def on_disconnect(self, pull: Callable[[], None]) -> None:
        self._on_disconnect = pull
        for device in self.devices.values():
            device.on_disconnect = pull

    def handle_line(self, line: str) -> str | None:
        request = parse_request(line)
        if request is None:
            return None
        with self._lock:
            z = self.devices[self.z_address].position_um()
            self.log.append(ChainEntry(request.device, tuple(request.words), z))
            targets = (sorted(self.devices) if request.device == 0 else
                       [request.device] if request.device in self.devices else [])
            replies = [r for r in (self.devices[a].handle_line(line) for a in targets) if r is not None]
        return "\r\n".join(replies) if replies else None

    def cable_pulled(self) -> None:
        for device in self.devices.values():
            device.cable_pulled()

    def moves_of(self, address: int) -> list[ChainEntry]:
        """The absolute moves device ``address`` was sent, in order."""
        return [e for e in self.log if e.device == address and e.words[:2] == ("move", "abs")]


def xyz_chain(z_start_um: float = 9_000.0, xy_start_um: tuple[float, float] = (0.0, 0.0),
              time_scale: float = 1.0, homed: bool = True) -> SimZaberChain:
    """X (device 1), Y (device 2) and the focus drive (device 3), each on its own simulated
    stage and virtual clock, all slaved to the wall clock by ``time_scale``."""
    devices = []
    for address, travel, start in ((1, XY_TRAVEL_UM[0], xy_start_um[0]),
                                   (2, XY_TRAVEL_UM[1], xy_start_um[1])):
        # A heavy specimen stage: slower and without the focus drive's stand resonance.
        spec = StageSpec(max_um=travel, speed_um_s=20_000.0, accel_um_s2=100_000.0,
                         vibration_per_um=0.0)
        stage = SimStage(VirtualClock(), spec, start)
        devices.append(SimZaberDevice(stage, ZaberDeviceSpec(address=address), time_scale, homed))
    z_stage = SimStage(VirtualClock(), StageSpec(), z_start_um)
    devices.append(SimZaberDevice(z_stage, ZaberDeviceSpec(address=3), time_scale, homed))
    return SimZaberChain(devices)
