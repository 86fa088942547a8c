"""The simulated microscope: one specimen, one objective, a stage and a camera on a virtual clock."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import fft

from autofocus.devices.base import Microscope
from autofocus.sim.camera import CameraSpec, SimCamera
from autofocus.sim.clock import VirtualClock
from autofocus.sim.faults import FaultPlan
from autofocus.sim.optics import OBJECTIVES, Objective, defocus_otf
from autofocus.sim.specimens import make_specimen
from autofocus.sim.stage import SimStage, StageSpec

DEFAULT_TRUE_FOCUS_UM = 10_012.3
"""Inside the tutorial-shaped default range (9.5..10.5 mm) and deliberately off any step grid."""


@dataclass
class SimConfig:
    specimen: str = "fluorescent-cells"
    objective: str = "20x"
    bits: int = 8
    seed: int = 0
    true_focus_um: float = DEFAULT_TRUE_FOCUS_UM
    start_um: float = 9_000.0
    wavelength_um: float = 0.55
    brightness: float = 0.6
    """Mean signal as a fraction of the full well."""
    camera: CameraSpec = field(default_factory=CameraSpec)
    stage: StageSpec = field(default_factory=StageSpec)
    faults: FaultPlan = field(default_factory=FaultPlan)

    def objective_spec(self) -> Objective:
        try:
            return OBJECTIVES[self.objective]
        except KeyError:
            known = ", ".join(OBJECTIVES)
            raise ValueError(f"unknown objective {self.objective!r}; choose one of: {known}") from None


class SimulatedMicroscope:
    """Owns the optics model; exposes ``stage``, ``camera`` and ``clock`` device objects."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        cfg = self.config
        if cfg.bits not in (8, 12, 16):
            raise ValueError("bits must be 8, 12 or 16")
        self.objective = cfg.objective_spec()
        self.clock = VirtualClock()
        self.stage = SimStage(self.clock, cfg.stage, cfg.start_um, cfg.faults)
        camera_spec = CameraSpec(**{**cfg.camera.__dict__, "bits": cfg.bits})
        self.camera = SimCamera(self.clock, self.render_current, camera_spec, cfg.seed, cfg.faults)
        shape = (camera_spec.height, camera_spec.width)
        self.pixel_um = camera_spec.pixel_um / self.objective.magnification
        specimen = make_specimen(cfg.specimen, shape, self.pixel_um, cfg.seed)
        self._spectrum = fft.rfft2(specimen.astype(np.float32), workers=-1)
        ky = fft.fftfreq(shape[0], d=self.pixel_um)
        kx = fft.rfftfreq(shape[1], d=self.pixel_um)
        self._k = np.hypot(ky[:, None], kx[None, :]).astype(np.float32)
        self._shape = shape

    @property
    def true_focus_um(self) -> float:
        return self.config.true_focus_um

    def depth_of_field_um(self) -> float:
        return self.objective.depth_of_field_um(self.config.wavelength_um, self.config.camera.pixel_um)

    def render(self, defocus_um: float) -> np.ndarray:
        """Expected signal in electrons at the given defocus (no noise)."""
        otf = defocus_otf(self._k, defocus_um, self.objective, self.config.wavelength_um)
        image = fft.irfft2(self._spectrum * otf, s=self._shape, workers=-1)
        scale = self.config.brightness * self.config.camera.full_well_e
        return np.clip(image, 0, None).astype(np.float32) * scale

    def render_current(self) -> np.ndarray:
        return self.render(self.stage.position_um() - self.true_focus_um)

    def devices(self) -> Microscope:
        return Microscope(self.stage, self.camera, self.clock, description=self.describe())

    def describe(self) -> str:
        cfg = self.config
        return (f"simulated microscope: {cfg.specimen}, {self.objective.name}, {cfg.bits}-bit, "
                f"true focus {cfg.true_focus_um / 1000:.4f} mm")
