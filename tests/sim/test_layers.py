"""The two-layer specimen: a section and a sparse dust layer a coverslip's thickness above it."""

from __future__ import annotations

import numpy as np
import pytest

from autofocus.metrics import bandpass
from autofocus.sim import SimConfig, SimulatedMicroscope
from autofocus.sim.camera import CameraSpec
from autofocus.sim.layers import DEFAULT_DUST_SEPARATION_UM, dust_mask

FOCUS = 10_000.0


def two_layer(separation: float = DEFAULT_DUST_SEPARATION_UM, size: int = 256,
              **kw: object) -> SimulatedMicroscope:
    config = SimConfig(specimen=kw.pop("specimen", "stained-tissue"),  # type: ignore[arg-type]
                       camera=CameraSpec(width=size, height=size), true_focus_um=FOCUS,
                       dust_separation_um=separation, **kw)  # type: ignore[arg-type]
    return SimulatedMicroscope(config)


def peaks(zs: np.ndarray, scores: np.ndarray) -> list[int]:
    """Indices of local maxima above a tenth of the highest score."""
    top = scores.max()
    return [i for i in range(1, len(zs) - 1)
            if scores[i] >= scores[i - 1] and scores[i] > scores[i + 1] and scores[i] > 0.1 * top]


@pytest.mark.parametrize(("objective", "separation"), [("20x", 150.0), ("10x", 400.0)])
def test_two_peaks_at_the_layers_with_the_stated_ratio_and_a_gap_between(
        objective: str, separation: float) -> None:
    m = two_layer(separation, objective=objective)
    assert m.layer_focus_um() == (FOCUS, FOCUS + separation)
    dof = m.depth_of_field_um()
    zs = np.arange(-60.0, separation + 60.0, dof / 2)
    scores = np.array([bandpass(m.render(z)) for z in zs])
    found = peaks(zs, scores)
    assert len(found) == 2
    assert abs(zs[found[0]]) <= dof and abs(zs[found[1]] - separation) <= dof
    ratio = scores[found[1]] / scores[found[0]]
    assert ratio == pytest.approx(0.8, abs=0.1)
    gap = scores[(zs > 5 * dof) & (zs < separation - 5 * dof)]
    assert gap.max() < 0.05 * scores[found[0]]  # nothing to focus on between the layers


def test_noisy_frames_show_the_dust_peak_too() -> None:
    m = two_layer()

    def grab(z: float) -> float:
        m.stage.move_to_um(z)
        m.clock.sleep(0.3)
        return bandpass(m.camera.grab())

    section, dust, gap = grab(FOCUS), grab(FOCUS + 150), grab(FOCUS + 75)
    assert gap < 0.2 * dust and 0.6 * section < dust < section


def test_the_ratio_is_configurable_and_the_dust_layer_is_absent_by_default() -> None:
    strong = two_layer(dust_ratio=1.2)
    assert bandpass(strong.render(150.0)) > bandpass(strong.render(0.0))
    plain = SimulatedMicroscope(SimConfig(specimen="stained-tissue", true_focus_um=FOCUS,
                                          camera=CameraSpec(width=128, height=128)))
    assert plain.layer_focus_um() == (FOCUS,)
    assert bandpass(plain.render(150.0)) < 0.01 * bandpass(plain.render(0.0))


def test_fluorescent_specimens_get_a_glowing_dust_layer() -> None:
    m = two_layer(specimen="fluorescent-cells")
    ratio = bandpass(m.render(150.0)) / bandpass(m.render(0.0))
    assert ratio == pytest.approx(0.8, abs=0.1)


def test_determinism_from_the_seed() -> None:
    a, b, c = two_layer(size=128, seed=3), two_layer(size=128, seed=3), two_layer(size=128, seed=4)
    assert np.array_equal(a.render(150.0), b.render(150.0))
    assert not np.array_equal(a.render(150.0), c.render(150.0))
    for m in (a, b):
        m.stage.move_to_um(FOCUS + 150)
    assert np.array_equal(a.camera.grab(), b.camera.grab())
    mask = dust_mask((64, 64), 0.3, 9)
    assert np.array_equal(mask, dust_mask((64, 64), 0.3, 9)) and mask.max() > 0.5


@pytest.mark.parametrize("bad", [{"dust_separation_um": 50.0}, {"dust_separation_um": 1500.0},
                                 {"dust_ratio": 0.0},
                                 {"specimen": "transparent-cells", "dust_separation_um": 150.0}])
def test_bad_layer_settings_are_refused(bad: dict[str, object]) -> None:
    config = SimConfig(camera=CameraSpec(width=64, height=64), **bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SimulatedMicroscope(config)
