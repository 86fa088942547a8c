"""The simulated camera: asks for the expected signal over its exposure window, adds shot and
read noise, digitises to 8, 12 or 16 bits, and injects faults on demand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from autofocus.clock import Clock
from autofocus.errors import CameraError
from autofocus.sim.faults import FaultPlan

__all__ = [
    "CameraSpec",
    "Renderer",
    "SimCamera",
]

Renderer = Callable[[float, float], npt.NDArray[np.float32]]
"""``render(exposure_start_s, exposure_s)`` -> expected photo-electrons per pixel (float32)."""


@dataclass(frozen=True)
class CameraSpec:
    """Defaults of a FLIR BFLY-U3-23S6M (Sony IMX249): 1920x1200 mono, 3.45 um pixels."""

    width: int = 1920
    height: int = 1200
    pixel_um: float = 3.45
    bits: int = 8
    exposure_s: float = 0.010
    """Default exposure; the simulated signal scales with exposure relative to it."""
    readout_s: float = 0.025  # ~40 fps at full frame
    full_well_e: float = 10_000.0
    read_noise_e: float = 7.0


class SimCamera:
    """Implements the ``Camera`` protocol on a virtual clock.

    Noise model: shot noise is Poisson; it is drawn as a Gaussian of variance ``N`` (the
    signal in electrons), which matches Poisson closely above ~20 e- and is 4x faster here.
    Below that read noise (7 e- rms, Gaussian) dominates the total anyway. Digitisation maps the
    full well to the top code (``2**bits - 1``), so 12-bit frames hold 0..4095 in uint16, and
    clips: bright regions saturate as on a real sensor.
    """

    def __init__(
        self,
        clock: Clock,
        render: Renderer,
        spec: CameraSpec | None = None,
        seed: int = 0,
        faults: FaultPlan | None = None,
    ) -> None:
        self.clock = clock
        self.spec = spec or CameraSpec()
        if self.spec.bits not in (8, 12, 16):
            raise ValueError("bits must be 8, 12 or 16")
        self._render = render
        self._rng = np.random.default_rng(seed)
        self.faults = faults or FaultPlan()
        self.grabs = 0
        self.connected = True
        self._exposure_s = self.spec.exposure_s
        self._noise: npt.NDArray[np.float32] | None = None

    @property
    def exposure_s(self) -> float:
        return self._exposure_s

    @exposure_s.setter
    def exposure_s(self, seconds: float) -> None:
        if not 0 < seconds < 100:
            raise ValueError(f"exposure must be in (0, 100) s, got {seconds}")
        self._exposure_s = float(seconds)

    @property
    def max_dn(self) -> int:
        return int(2**self.spec.bits - 1)

    @property
    def dtype(self) -> type[np.unsignedinteger]:
        return np.uint8 if self.spec.bits <= 8 else np.uint16

    def grab(self) -> npt.NDArray[np.unsignedinteger]:
        if not self.connected:
            raise CameraError("simulated camera: not connected")
        self.grabs += 1
        fault = self.faults.due(self.grabs)
        if fault == "camera-timeout":
            self.clock.sleep(1.0)
            raise CameraError("simulated camera: timed out waiting for a frame (1000 ms)")
        if fault == "dropped-frame":
            self.clock.sleep(self._exposure_s + self.spec.readout_s)
            raise CameraError("simulated camera: frame dropped (incomplete buffer)")
        if fault == "disconnect":
            self.connected = False
            raise CameraError("simulated camera: device disconnected")
        start = self.clock.now()
        shape = (self.spec.height, self.spec.width)
        if fault in ("black-frame", "saturated-frame"):
            # Returned, not raised: a real camera hands these over without complaint, so the
            # layers above must notice them.
            self.clock.sleep(self._exposure_s + self.spec.readout_s)
            value = 0 if fault == "black-frame" else self.max_dn
            return np.full(shape, value, dtype=self.dtype)
        electrons = self._render(start, self._exposure_s)
        self.clock.sleep(self._exposure_s + self.spec.readout_s)
        return self.digitise(electrons)

    def digitise(self, electrons: npt.NDArray[np.float32]) -> npt.NDArray[np.unsignedinteger]:
        """Add shot and read noise to expected electrons and convert to digital numbers."""
        signal = np.maximum(electrons, 0, dtype=np.float32)
        if self._noise is None or self._noise.shape != signal.shape:
            self._noise = np.empty(signal.shape, np.float32)
        # cv2's generator fills a frame ~4x faster than numpy's; seeding it from our own
        # generator keeps every frame reproducible from the configured seed.
        cv2.setRNGSeed(int(self._rng.integers(1, 2**31 - 1)))
        cv2.randn(self._noise, 0.0, 1.0)
        sigma = signal + np.float32(self.spec.read_noise_e**2)
        np.sqrt(sigma, out=sigma)
        sigma *= self._noise
        sigma += signal
        sigma *= np.float32(self.max_dn / self.spec.full_well_e)
        np.clip(sigma, 0.0, float(self.max_dn), out=sigma)
        sigma += np.float32(0.5)  # round half up on the way to integers (values are >= 0)
        return sigma.astype(self.dtype)
