"""The assembled simulated microscope: focus curves, timing effects on frames, helpers, speed."""

from __future__ import annotations

import numpy as np
import pytest

from autofocus.devices.base import Microscope
from autofocus.sim import DEFAULT_TRUE_FOCUS_UM, SimConfig, SimulatedMicroscope
from autofocus.sim.camera import CameraSpec
from autofocus.sim.stage import StageSpec


def sim(size: int = 192, **kw: object) -> SimulatedMicroscope:
    return SimulatedMicroscope(SimConfig(camera=CameraSpec(width=size, height=size), **kw))  # type: ignore[arg-type]


def sharpness(frame: np.ndarray) -> float:
    f = frame.astype(np.float64)
    return float(((np.diff(f, axis=0) ** 2).mean() + (np.diff(f, axis=1) ** 2).mean()) / f.mean() ** 2)


def grab_at(m: SimulatedMicroscope, z_um: float) -> np.ndarray:
    m.stage.move_to_um(z_um)
    m.clock.sleep(0.3)  # settled
    return m.camera.grab()


def test_defaults() -> None:
    config = SimConfig()
    assert (config.objective, config.specimen, config.bits) == ("20x", "fluorescent-cells", 8)
    assert config.true_focus_um == DEFAULT_TRUE_FOCUS_UM == 10_012.3
    assert (config.stage.min_um, config.stage.max_um) == (0.0, 25_000.0)
    assert (config.backlash_um, config.drift_um_s) == (0.0, 0.0)
    m = sim(64)
    assert isinstance(m.devices(), Microscope)
    assert "fluorescent-cells" in m.describe() and "20x/0.4" in m.describe()


@pytest.mark.parametrize("specimen", ["fluorescent-cells", "stained-tissue", "reticle", "beads"])
@pytest.mark.parametrize("bits", [8, 16])
def test_noisy_focus_curve_peaks_at_the_true_focus(specimen: str, bits: int) -> None:
    m = sim(specimen=specimen, bits=bits)
    dof = m.depth_of_field_um()
    zs = m.true_focus_um + np.arange(-8, 9) * dof / 2
    scores = [sharpness(grab_at(m, float(z))) for z in zs]
    assert abs(zs[int(np.argmax(scores))] - m.true_focus_um) <= dof / 2
    assert max(scores) > 1.5 * min(scores[0], scores[-1])


def test_brightness_sets_the_signal_level() -> None:
    fluo = sim(specimen="beads", bits=16, brightness=0.5)
    assert fluo.render(0.0).max() == pytest.approx(0.5 * 10_000, rel=1e-3)
    clear = sim(specimen="empty", bits=16, brightness=0.4)
    assert float(np.median(clear.render(3.0))) == pytest.approx(0.4 * 10_000, rel=1e-3)


def test_transparent_cells_are_faint_at_focus_and_contrasty_on_both_sides() -> None:
    m = sim(256, specimen="transparent-cells", objective="40x", bits=8)
    f = m.true_focus_um
    var = {dz: float(grab_at(m, f + dz).astype(np.float64).var()) for dz in (-20, -5, 0, 5, 20)}
    assert var[0] < 0.7 * min(var[-5], var[5], var[-20], var[20]), var


def test_vibration_after_a_long_move_blurs_frames_until_it_settles() -> None:
    m = sim(specimen="reticle", objective="40x", bits=16)
    m.stage.move_to_um(m.true_focus_um - 3_000)
    m.stage.move_to_um(m.true_focus_um)
    shaken = sharpness(m.camera.grab())
    m.clock.sleep(10 * m.config.stage.settle_tau_s)
    settled = sharpness(m.camera.grab())
    assert shaken < 0.7 * settled


def test_a_stiffer_stand_needs_no_settling() -> None:
    quiet = StageSpec(vibration_per_um=0.0)
    m = sim(specimen="reticle", objective="40x", bits=16, stage=quiet)
    m.stage.move_to_um(m.true_focus_um - 3_000)
    m.stage.move_to_um(m.true_focus_um)
    shaken = sharpness(m.camera.grab())
    m.clock.sleep(0.3)
    assert shaken == pytest.approx(sharpness(m.camera.grab()), rel=0.05)


def test_frames_during_a_continuous_move_show_motion_blur_at_mid_exposure_z() -> None:
    m = sim(specimen="fluorescent-cells", objective="40x", bits=16)
    f = m.true_focus_um
    exposure = m.camera.exposure_s
    speed = 500.0  # 5 um of z per 10 ms exposure: several depths of field
    m.stage.move_to_um(f - 50)
    m.clock.sleep(0.3)
    m.stage.start_move_to_um(f + 50, speed)
    # Start the exposure so that its middle passes the focus.
    latency = m.config.stage.command_latency_s
    ramp = speed / m.config.stage.accel_um_s2
    t_focus = latency + ramp + (50 - speed**2 / (2 * m.config.stage.accel_um_s2)) / speed
    m.clock.sleep(t_focus - exposure / 2)
    moving = m.camera.grab()
    assert m.stage.is_moving()
    still = grab_at(m, f)
    assert sharpness(moving) < 0.7 * sharpness(still)
    # The blurred frame is the average over the 5 um swept around focus: closer to it than to
    # the sharp frame or to the same sweep centred 3 um off.
    electrons = moving.astype(np.float64) * 10_000 / 65535

    def sweep(centre: float) -> np.ndarray:
        return np.mean([m.render(centre + dz) for dz in np.linspace(-2.5, 2.5, 21)], axis=0)

    def error(model: np.ndarray) -> float:
        return float(((electrons - model) ** 2).mean())

    assert error(sweep(0.0)) < 0.5 * min(error(m.render(0.0)), error(sweep(3.0)), error(sweep(-3.0)))


def test_backlash_and_drift_move_the_apparent_focus() -> None:
    m = sim(64, backlash_um=6.0)
    m.stage.move_to_um(m.true_focus_um)  # from below (start 9 mm): lags 3 um
    m.clock.sleep(1.0)
    assert m.stage.optical_z_um(m.clock.now()) - m.true_focus_um == pytest.approx(-3.0)
    drifting = sim(64, drift_um_s=0.5)
    before = drifting.true_focus_um
    drifting.clock.sleep(10.0)
    assert drifting.true_focus_um - before == pytest.approx(5.0)
    assert "drift" in drifting.describe()


class PlainStage:
    """A stage that is not a SimStage (as a Zaber Motion Library axis would be)."""

    def __init__(self) -> None:
        self.z = 0.0

    @property
    def limits_um(self) -> tuple[float, float]:
        return (0.0, 25_000.0)

    def position_um(self) -> float:
        return self.z

    def move_to_um(self, z_um: float) -> None:
        self.z = z_um

    def stop(self) -> None:
        pass


def test_camera_for_any_stage_renders_at_that_stage_position() -> None:
    m = sim(specimen="reticle", bits=16)
    stage = PlainStage()
    camera = m.camera_for_stage(stage)
    dof = m.depth_of_field_um()
    zs = m.true_focus_um + np.arange(-6, 7) * dof / 2
    scores = []
    for z in zs:
        stage.move_to_um(float(z))
        scores.append(sharpness(camera.grab()))
    assert zs[int(np.argmax(scores))] == pytest.approx(m.true_focus_um, abs=dof / 2)
    assert m.stage.moves == 0  # the microscope's own stage was never used


def test_invalid_configurations_are_refused() -> None:
    for bad in ({"bits": 10}, {"objective": "100x"}, {"specimen": "cheese"}, {"brightness": 0.0}):
        with pytest.raises(ValueError):
            sim(32, **bad)
