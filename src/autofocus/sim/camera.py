"""The simulated camera: renders the specimen at the stage's defocus, adds noise, digitises."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from autofocus.errors import CameraError
from autofocus.sim.clock import VirtualClock
from autofocus.sim.faults import FaultPlan


@dataclass(frozen=True)
class CameraSpec:
    """Defaults of a FLIR BFLY-U3-23S6M: 1920x1200 mono, 3.45 um pixels."""

    width: int = 1920
    height: int = 1200
    pixel_um: float = 3.45
    bits: int = 8
    exposure_s: float = 0.010
    readout_s: float = 0.025  # ~40 fps at full frame
    full_well_e: float = 10_000.0
    read_noise_e: float = 7.0


class SimCamera:
    def __init__(
        self,
        clock: VirtualClock,
        render: Callable[[], np.ndarray],
        spec: CameraSpec | None = None,
        seed: int = 0,
        faults: FaultPlan | None = None,
    ) -> None:
        """``render`` returns the expected signal in electrons for the current stage state."""
        self.clock = clock
        self.spec = spec or CameraSpec()
        self._render = render
        self._rng = np.random.default_rng(seed)
        self.faults = faults or FaultPlan()
        self.grabs = 0
        self.connected = True

    @property
    def exposure_s(self) -> float:
        return self.spec.exposure_s

    def grab(self) -> np.ndarray:
        if not self.connected:
            raise CameraError("simulated camera: not connected")
        self.grabs += 1
        fault = self.faults.kind if self.grabs > self.faults.after else None
        if fault == "camera-timeout":
            self.clock.sleep(1.0)
            raise CameraError("simulated camera: timed out waiting for a frame (1000 ms)")
        if fault == "dropped-frame":
            raise CameraError("simulated camera: frame dropped (incomplete buffer)")
        if fault == "disconnect":
            self.connected = False
            raise CameraError("simulated camera: device disconnected")
        electrons = self._render()
        self.clock.sleep(self.spec.exposure_s + self.spec.readout_s)
        max_dn = 2**self.spec.bits - 1
        if fault == "black-frame":
            return np.zeros((self.spec.height, self.spec.width), dtype=self.dtype)
        if fault == "saturated-frame":
            return np.full((self.spec.height, self.spec.width), max_dn, dtype=self.dtype)
        noisy = electrons + self._rng.standard_normal(electrons.shape, dtype=np.float32) * np.sqrt(
            electrons + self.spec.read_noise_e**2
        )
        dn = noisy * (max_dn / self.spec.full_well_e)
        return np.clip(np.rint(dn), 0, max_dn).astype(self.dtype)

    @property
    def dtype(self) -> type[np.unsignedinteger]:
        return np.uint8 if self.spec.bits <= 8 else np.uint16
