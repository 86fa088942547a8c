"""The simulated microscope: one specimen, one objective, a stage and a camera on a virtual clock.

Rendering a frame (~15-25 ms for 1920x1200 here, see ``benchmarks/sim_render.py``):

1. at construction the specimen is built and its spectrum taken once (``rfft2``), together
   with a map from every frequency pixel to a bin of ``|k|``;
2. per frame, the stage trajectory over the exposure gives the defocus values the focal plane
   visits (motion, vibration, drift); their transfer-function profiles (1-D, exact, cached per
   z; :mod:`autofocus.sim.optics`) are averaged, multiplied by the lateral vibration blur and the
   signal scale, gathered onto the 2-D frequency grid, applied to the spectrum and transformed
   back (``irfft2`` in float32 on all cores);
3. the camera adds shot and read noise and digitises.

Harder cases: ``dust_separation_um`` a sparse dust layer that far above the section
(:mod:`autofocus.sim.layers`; truth: ``layer_focus_um``), ``cover_glass_error_um`` a cover glass
of the wrong thickness, an asymmetric focus curve (:mod:`autofocus.sim.optics`; truth:
``sharpest_focus_um``), ``drift`` focus moving in time (:mod:`autofocus.sim.drift`; ``drift_um``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt
from scipy import fft, optimize

from autofocus.clock import Clock, VirtualClock
from autofocus.devices.base import Microscope, Stage, XYStage
from autofocus.errors import InputError
from autofocus.sim.camera import CameraSpec, Renderer, SimCamera
from autofocus.sim.drift import Drift
from autofocus.sim.faults import FaultPlan
from autofocus.sim.layers import (
    DEFAULT_DUST_RATIO,
    DUST_SEPARATION_RANGE_UM,
    band_energy,
    band_weight,
    dust_mask,
    rfft_weights,
)
from autofocus.sim.optics import OBJECTIVES, DefocusOTF, Objective, defocus_model
from autofocus.sim.slide import Slide, SlideSpec, blend_over_field, field_defocus
from autofocus.sim.specimens import SPECIMENS, Specimen, generate_specimen
from autofocus.sim.stage import SimStage, StageSpec
from autofocus.sim.xystage import SimXYStage, XYStageSpec

__all__ = ["DEFAULT_TRUE_FOCUS_UM", "LATERAL_VIBRATION_RATIO", "SimConfig", "SimulatedMicroscope"]

FloatArray = npt.NDArray[np.float32]
Float64Array = npt.NDArray[np.float64]

DEFAULT_TRUE_FOCUS_UM = 10_012.3
"""Inside the tutorial-shaped default range (9.5..10.5 mm) and deliberately off any step grid."""

LATERAL_VIBRATION_RATIO = 1.0
"""Lateral vibration amplitude relative to the axial one (a stand rings in all directions)."""

_PROBES = 9  # trajectory samples per exposure to detect motion and vibration


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
    """Signal, as a fraction of the full well at the camera's default exposure, of the
    brightest in-focus feature (fluorescence) or of the clear background (transmitted light)."""
    camera: CameraSpec = field(default_factory=CameraSpec)
    stage: StageSpec = field(default_factory=StageSpec)
    faults: FaultPlan = field(default_factory=FaultPlan)
    backlash_um: float = 0.0
    """Gear play of the focus drive (0: none). The focal plane ends half of it behind the
    commanded position, on the side the move came from."""
    drift_um_s: float = 0.0
    """Slow focus drift (thermal, sample settling): the true focus moves by this per second."""
    drift: Drift = field(default_factory=Drift)
    """Drift as real stands show it (thermal, creep, steps, specimen motion), on top of that."""
    condenser_sigma: float = 0.15
    """Condenser NA / objective NA for transmitted light; sets how fast phase contrast fades
    with defocus (partial coherence)."""
    slide: SlideSpec = field(default_factory=SlideSpec)
    """How focus varies with the XY stage's position (flat by default: ``true_focus_um``
    everywhere); see :mod:`autofocus.sim.slide`."""
    xy_stage: XYStageSpec = field(default_factory=XYStageSpec)
    xy_start_um: tuple[float, float] = (0.0, 0.0)
    dust_separation_um: float | None = None
    """Two layers: a sparse dust layer in focus this much stage travel above the section
    (100..1000 um; ``layers.DEFAULT_DUST_SEPARATION_UM`` = 150 is a coverslip's top seen by a
    dry objective). None: no dust. Not with transparent (phase) specimens."""
    dust_ratio: float = DEFAULT_DUST_RATIO
    """The dust layer's in-focus band energy over the section's (the default measure's band):
    its peak on a focus curve is about this fraction of the section's."""
    cover_glass_error_um: float = 0.0
    """Cover glass this much thicker (negative: thinner) than the objective's design: spherical
    aberration, one flank of the focus curve broader than the other. Dry objectives only feel
    it (about 30 um is clearly visible at 40x/0.75). Not with transparent specimens."""

    def __post_init__(self) -> None:
        """The one owner of these checks (the command line only parses): InputError, before
        anything is built or moves."""
        if self.specimen not in SPECIMENS:
            raise InputError(f"unknown specimen {self.specimen!r}; choose one of: {', '.join(SPECIMENS)}")
        if self.objective not in OBJECTIVES:
            raise InputError(f"unknown objective {self.objective!r}; choose one of: {', '.join(OBJECTIVES)}")
        if self.bits not in (8, 12, 16):
            raise InputError(f"simulator bits must be 8, 12 or 16, got {self.bits}")
        if not math.isfinite(self.true_focus_um):
            raise InputError(f"the simulator's true focus must be a finite number, got {self.true_focus_um}")
        if not self.brightness > 0:
            raise InputError("brightness must be positive")

    def objective_spec(self) -> Objective:
        return OBJECTIVES[self.objective]


class SimulatedMicroscope:
    """Owns the optics model; exposes ``stage``, ``camera`` and ``clock`` device objects."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        cfg = self.config
        self.objective = cfg.objective_spec()
        self.clock = VirtualClock()
        self.stage = SimStage(self.clock, cfg.stage, cfg.start_um, cfg.faults, cfg.backlash_um)
        self.camera_spec = replace(cfg.camera, bits=cfg.bits)
        self.camera = SimCamera(self.clock, self._stage_renderer(self.stage), self.camera_spec,
                                cfg.seed, cfg.faults)
        self.slide = Slide(cfg.slide, cfg.true_focus_um)
        self.xy_stage = SimXYStage(self.clock, cfg.xy_stage, cfg.xy_start_um,
                                   z_now=self.stage.position_um)
        # Where the slide is under the objective: this XY stage, or another one given to
        # camera_for_stage (a Zaber XY stage over a real connection).
        self._xy_position: Callable[[], tuple[float, float]] = self.xy_stage.position_um
        shape = (self.camera_spec.height, self.camera_spec.width)
        self._shape = shape
        self.pixel_um = self.camera_spec.pixel_um / self.objective.magnification
        self.model: DefocusOTF = defocus_model(self.objective, cfg.wavelength_um,
                                               float(cfg.cover_glass_error_um))
        self.specimen: Specimen = generate_specimen(cfg.specimen, shape, self.pixel_um, cfg.seed)
        self._phase = self.specimen.mode == "phase"
        self._check_layers()
        data = self.specimen.field
        if self._phase:
            data = data - np.float32(data.mean())  # the unit background enters as the DC term
        spectrum = fft.rfft2(data.astype(np.float32), workers=-1)
        if self._phase:
            spectrum[0, 0] = shape[0] * shape[1]
        self._spectrum: npt.NDArray[np.complex64] = spectrum.astype(np.complex64, copy=False)
        # An empty area of the slide: no specimen, only the background (dark in fluorescence).
        self._empty_spectrum = np.zeros_like(self._spectrum)
        if self.specimen.mode != "fluorescence":
            self._empty_spectrum[0, 0] = shape[0] * shape[1]
        self._kidx = self._k_index(shape)
        self._k2 = (self.model.k**2).astype(np.float64)
        self._band = band_weight(self._k_grid(shape), self.pixel_um)
        self._counts = rfft_weights(shape)
        self._dust: npt.NDArray[np.complex64] | None = None
        self._sharpest: dict[float, float] = {}
        self._norm = 1.0
        if self.specimen.mode == "fluorescence":
            # Fluorescence has no natural unit: make the brightest in-focus feature 1.
            peak = float(self._render_spectrum(self._spectrum, [0.0], 0.0, 1.0).max())
            self._norm = 1.0 / peak if peak > 0 else 1.0
        if cfg.dust_separation_um is not None:
            self._dust = self._calibrated_dust()

    def _check_layers(self) -> None:
        cfg = self.config
        sep = cfg.dust_separation_um
        lo, hi = DUST_SEPARATION_RANGE_UM
        if sep is not None and not lo <= sep <= hi:
            raise ValueError(f"dust_separation_um must be within {lo:g}..{hi:g} um, got {sep}")
        if not 0 < cfg.dust_ratio <= 2:
            raise ValueError("dust_ratio must be in (0, 2]")
        if not math.isfinite(cfg.cover_glass_error_um) or abs(cfg.cover_glass_error_um) > 500:
            raise ValueError("cover_glass_error_um must be within +-500 um")
        if self._phase and (sep is not None or cfg.cover_glass_error_um):
            raise ValueError("dust layers and cover-glass aberration are modelled for "
                             "fluorescent and absorbing specimens, not transparent ones")

    # -- geometry ----------------------------------------------------------------------------
    def _k_index(self, shape: tuple[int, int]) -> npt.NDArray[np.intp]:
        """Bin of |k| for every rfft2 pixel: 0 is reserved for DC, 1.. are the profile's
        samples, and the last bin (always 0) takes everything beyond the cut-off."""
        ky = fft.fftfreq(shape[0], d=self.pixel_um)
        kx = fft.rfftfreq(shape[1], d=self.pixel_um)
        k = np.hypot(ky[:, None], kx[None, :])
        n_k = self.model.n_k
        idx = 1 + np.rint(k / self.model.dk)
        idx[k >= self.model.k_cut] = n_k + 1
        idx = np.minimum(idx, n_k + 1).astype(np.intp)
        idx[0, 0] = 0
        return idx

    def _k_grid(self, shape: tuple[int, int]) -> Float64Array:
        ky = fft.fftfreq(shape[0], d=self.pixel_um)
        kx = fft.rfftfreq(shape[1], d=self.pixel_um)
        grid: Float64Array = np.hypot(ky[:, None], kx[None, :])
        return grid

    # -- the dust layer ------------------------------------------------------------------------
    def _calibrated_dust(self) -> npt.NDArray[np.complex64]:
        """The dust layer's opacity spectrum, scaled so that its in-focus band energy is
        ``dust_ratio`` times the section's (each where that layer is in focus, the other
        blurred), measured on the noiseless images themselves."""
        cfg = self.config
        sep = float(cfg.dust_separation_um or 0.0)

        def image(spectrum: npt.NDArray[np.complexfloating], z: float) -> FloatArray:
            out: FloatArray = fft.irfft2(spectrum * np.take(self._profile([z], 0.0, 1.0),
                                                            self._kidx), s=self._shape, workers=-1)
            return out

        sections = image(self._spectrum, 0.0), image(self._spectrum, sep)

        def energy(a: float, section: FloatArray, dust: FloatArray) -> float:
            if self.specimen.mode == "absorption":  # transmittances multiply
                frame = np.maximum(section, 0) * np.maximum(1 - a * dust, 0)
            else:  # emissions add
                frame = section + a * dust
            return band_energy(fft.rfft2(frame, workers=-1), self._band, self._counts)

        def excess(a: float, masks: tuple[FloatArray, FloatArray]) -> float:
            at_dust = energy(a, sections[1], masks[1])
            return at_dust / energy(a, sections[0], masks[0]) - cfg.dust_ratio

        for density in (1.0, 2.0, 4.0, 8.0):  # a dustier coverslip where opacity is not enough
            mask = fft.rfft2(dust_mask(self._shape, self.pixel_um, cfg.seed, density),
                             workers=-1)
            masks = image(mask, -sep), image(mask, 0.0)  # the dust seen from each focus
            if excess(1.0, masks) >= 0:
                break
        else:
            raise ValueError(f"the dust layer cannot reach dust_ratio {cfg.dust_ratio:g} "
                             "here; choose a smaller ratio")
        amplitude = float(optimize.brentq(excess, 0.0, 1.0, args=(masks,), xtol=1e-4))
        scaled: npt.NDArray[np.complex64] = (mask * amplitude).astype(np.complex64)
        return scaled

    def layer_focus_um(self) -> tuple[float, ...]:
        """Ground truth: stage z of best focus of each layer now, the section first."""
        section = self.true_focus_um
        if self.config.dust_separation_um is None:
            return (section,)
        return (section, section + self.config.dust_separation_um)

    # -- the sharpest plane ----------------------------------------------------------------------
    def band_energy_at(self, defocus_um: float) -> float:
        """Band energy (the default measure's band, see :mod:`autofocus.sim.layers`) of the
        noiseless image at a defocus from the section's focus: what the default measure reads
        on a noiseless frame, up to a constant factor and the frame's borders."""
        if self._dust is None:  # one linear layer: straight from the spectrum
            spectrum = self._spectrum * np.take(self._profile([float(defocus_um)], 0.0, 1.0),
                                                self._kidx)
        else:
            spectrum = fft.rfft2(self._image([float(defocus_um)], 0.0, 1.0), workers=-1)
        return band_energy(spectrum, self._band, self._counts)

    def sharpest_defocus_um(self, window_dof: float = 5.0) -> float:
        """Defocus (from the configured true focus) where the noiseless image is sharpest in the
        default measure's band, searched within ``window_dof`` depths of field. 0 without
        aberration (by symmetry); with it, where the sharpest plane really is."""
        if not self.model.aberrated:
            return 0.0
        cached = self._sharpest.get(window_dof)
        if cached is not None:
            return cached
        dof = self.depth_of_field_um()
        grid = np.linspace(-window_dof * dof, window_dof * dof, 61)
        energies = [self.band_energy_at(float(z)) for z in grid]
        best = int(np.argmax(energies))
        lo = float(grid[max(best - 1, 0)])
        hi = float(grid[min(best + 1, len(grid) - 1)])
        found = optimize.minimize_scalar(lambda z: -self.band_energy_at(float(z)), bounds=(lo, hi),
                                         method="bounded", options={"xatol": dof * 1e-4})
        self._sharpest[window_dof] = float(found.x)
        return float(found.x)

    def sharpest_focus_um(self) -> float:
        """Ground truth for aberrated optics: the stage z of the sharpest plane now."""
        return self.true_focus_um + self.sharpest_defocus_um()

    @property
    def true_focus_um(self) -> float:
        """Where the stage must be for best focus now, at the XY stage's position (drifting)."""
        x, y = self._xy_position()
        return self.slide.true_focus_um(x, y) + self.drift_um(self.clock.now())

    def drift_um(self, t: float) -> float:
        """Ground truth: how far focus has drifted at time ``t`` (``drift_um_s`` and ``drift``)."""
        return self.config.drift_um_s * t + self.config.drift.offset_um(t)

    def true_focus_at_xy(self, x_um: float, y_um: float) -> float:
        """Ground truth of the slide at any XY (without drift)."""
        return self.slide.true_focus_um(x_um, y_um)

    def focus_at(self, t: float) -> float:
        """Where the sharpest thing in view is at time ``t`` (debris included)."""
        x, y = self._xy_position()
        return self.slide.sharpest_um(x, y) + self.drift_um(t)

    def field_of_view_um(self) -> tuple[float, float]:
        """Width and height of one frame in the sample plane."""
        return (self._shape[1] * self.pixel_um, self._shape[0] * self.pixel_um)

    def depth_of_field_um(self) -> float:
        """Berek/Young total depth of field ``lambda n / NA^2 + n e / (M NA)`` (um), with the
        camera pixel ``e`` (um on the sensor); see :meth:`Objective.depth_of_field_um`."""
        return self.objective.depth_of_field_um(self.config.wavelength_um,
                                                self.camera_spec.pixel_um)

    # -- rendering -----------------------------------------------------------------------------
    def _profile(self, defocus_um: list[float], blur_sigma_um: float,
                 scale: float) -> FloatArray:
        """The 1-D transfer profile laid out as the index map expects: [DC, bins.., 0]."""
        if self._phase:
            sigma = self.config.condenser_sigma
            eps = self.specimen.absorption_per_radian
            body = np.mean([self.model.phase_profile(z, sigma, eps) for z in defocus_um], axis=0)
        else:
            body = self.model.profiles(defocus_um)
        if blur_sigma_um > 0:
            body = body * np.exp(-2 * math.pi**2 * blur_sigma_um**2 * self._k2)
        out = np.empty(self.model.n_k + 2, np.float32)
        out[0] = scale
        out[1:-1] = body * scale
        out[-1] = 0.0
        return out

    def _image(self, defocus_um: list[float], blur_sigma_um: float, scale: float) -> FloatArray:
        """The frame at the current XY: one defocus for the whole field, or (a tilted field)
        a blend of renders across the field's range of defocus."""
        x, y = self._xy_position()
        spectrum = self._empty_spectrum if self.slide.is_empty(x, y) else self._spectrum
        tilt = field_defocus(self.slide, x, y, self._shape, self.pixel_um)

        def render(offset_um: float) -> FloatArray:
            return self._render_spectrum(spectrum, [d + offset_um for d in defocus_um],
                                         blur_sigma_um, scale)

        return blend_over_field(render, tilt, self.depth_of_field_um())

    def _render_spectrum(self, spectrum: npt.NDArray[np.complex64], defocus_um: list[float],
                         blur_sigma_um: float, scale: float) -> FloatArray:
        profile = self._profile(defocus_um, blur_sigma_um, scale)
        spectrum = spectrum * np.take(profile, self._kidx)
        dust: FloatArray | None = None
        if self._dust is not None:
            sep = float(self.config.dust_separation_um or 0.0)
            seen = self._profile([z - sep for z in defocus_um], blur_sigma_um, 1.0)
            if self.specimen.mode == "absorption":  # the dust's shadow multiplies the light
                dust = fft.irfft2(self._dust * np.take(seen, self._kidx), s=self._shape,
                                  workers=-1, overwrite_x=True)
                np.subtract(1.0, dust, out=dust)
                np.maximum(dust, 0, out=dust)
            else:  # glowing debris adds its light
                spectrum += self._dust * np.take(seen * np.float32(scale), self._kidx)
        image: FloatArray = fft.irfft2(spectrum, s=self._shape, workers=-1, overwrite_x=True)
        np.maximum(image, 0, out=image)  # ringing of the band limit must not go negative
        if dust is not None:
            image *= dust
        return image

    def _scale(self, exposure_s: float) -> float:
        cfg = self.config
        return (cfg.brightness * self.camera_spec.full_well_e * self._norm
                * exposure_s / cfg.camera.exposure_s)

    def render(self, defocus_um: float) -> FloatArray:
        """Expected signal (electrons, no noise) at a defocus, default exposure, stage at rest."""
        return self._image([float(defocus_um)], 0.0, self._scale(self.config.camera.exposure_s))

    def render_window(self, stage: Stage, start_s: float, exposure_s: float) -> FloatArray:
        """Expected electrons for an exposure starting at ``start_s``.

        With a :class:`SimStage` the focal plane is followed through the exposure: the defocus
        profiles along the trajectory (continuous moves: ``speed * exposure`` of z) and the
        residual vibration are averaged, and the vibration also blurs laterally (its rms).
        Any other stage is read once (its ``position_um()``).
        """
        dof = self.depth_of_field_um()
        if isinstance(stage, SimStage):
            times = start_s + (np.arange(_PROBES) + 0.5) / _PROBES * exposure_s
            zs = np.array([stage.optical_z_um(float(t)) - self.focus_at(float(t))
                           for t in times])
            amps = np.array([stage.vibration_amplitude_um(float(t)) for t in times])
            blur = LATERAL_VIBRATION_RATIO * math.sqrt(float(np.mean(amps**2)) / 2)
            span = float(zs.max() - zs.min())
            if span < dof / 10:
                defocus = [float(zs.mean())]
            else:
                # Enough samples that neighbours are a fifth of the depth of field apart.
                n = min(24, math.ceil(span / (dof / 5)) + 1)
                times = start_s + (np.arange(n) + 0.5) / n * exposure_s
                defocus = [stage.optical_z_um(float(t)) - self.focus_at(float(t))
                           for t in times]
        else:
            blur = 0.0
            defocus = [stage.position_um() - self.focus_at(start_s + exposure_s / 2)]
        return self._image(defocus, blur, self._scale(exposure_s))

    def _stage_renderer(self, stage: Stage) -> Renderer:
        def render(start_s: float, exposure_s: float) -> FloatArray:
            return self.render_window(stage, start_s, exposure_s)

        return render

    def camera_for_stage(self, stage: Stage, clock: Clock | None = None,
                         faults: FaultPlan | None = None, xy_stage: XYStage | None = None) -> SimCamera:
        """A simulated camera that images this specimen at the position of *any* stage.

        For hardware-in-the-loop set-ups, e.g. a real Zaber Motion Library stage talking to a
        simulated Zaber device while the camera is simulated: the frame shows defocus
        ``stage.position_um() - true_focus_um``, so the stage's travel must include the true
        focus. ``clock`` (default: this microscope's virtual clock) only times exposures;
        pass a ``SystemClock``-like object when the stage runs in real time. No faults unless
        given. ``xy_stage`` (optional): the specimen stage whose position picks the slide's
        focus (from then on also for :attr:`true_focus_um`).
        """
        if xy_stage is not None:
            self._xy_position = xy_stage.position_um
        return SimCamera(clock or self.clock, self._stage_renderer(stage), self.camera_spec,
                         self.config.seed + 1, faults)

    def devices(self) -> Microscope:
        return Microscope(self.stage, self.camera, self.clock, description=self.describe(),
                          depth_of_field_um=self.depth_of_field_um(), xy_stage=self.xy_stage)

    def describe(self) -> str:
        cfg = self.config
        extras = ""
        if cfg.backlash_um:
            extras += f", backlash {cfg.backlash_um:g} um"
        if cfg.drift_um_s or cfg.drift.active:
            extras += f", drift {cfg.drift.describe(cfg.drift_um_s)}"
        if cfg.dust_separation_um is not None:
            extras += f", dust layer {cfg.dust_separation_um:g} um above"
        if cfg.cover_glass_error_um:
            extras += f", cover glass {cfg.cover_glass_error_um:+g} um off design"
        return (f"simulated microscope: {cfg.specimen}, {self.objective.name}, {cfg.bits}-bit, "
                f"true focus {cfg.true_focus_um / 1000:.4f} mm{extras}")

