"""The simulated slide: focus varies with XY as specified, deterministically, and the simulated
microscope renders at the focus of the XY stage's position."""

from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import small_sim

from autofocus.metrics import make_metric
from autofocus.sim.slide import Debris, Slide, SlideSpec


def test_a_flat_slide_is_in_focus_at_the_base_everywhere() -> None:
    slide = Slide(SlideSpec(), 10_000.0)
    assert slide.true_focus_um(0, 0) == slide.true_focus_um(40_000, 30_000) == 10_000.0


def test_tilt_wedge_and_well_step_add_up_where_they_apply() -> None:
    spec = SlideSpec(tilt_x_um_per_mm=2.0, tilt_y_um_per_mm=-1.0, wedge_um_per_mm=0.5,
                     cover_slip=(10_000, 0, 30_000, 30_000), well_wall_x_um=35_000, well_step_um=40.0)
    slide = Slide(spec, 10_000.0)
    assert slide.true_focus_um(5_000, 0) == pytest.approx(10_010.0)  # tilt only
    assert slide.true_focus_um(20_000, 10_000) == pytest.approx(10_000 + 40 - 10 + 5)  # + wedge
    assert slide.true_focus_um(36_000, 0) - slide.true_focus_um(34_000, 0) == pytest.approx(44.0)


def test_warp_is_smooth_tens_of_um_and_fixed_by_the_seed() -> None:
    a, b, c = (Slide(SlideSpec(warp_um=30.0, seed=s), 0.0) for s in (1, 1, 2))
    xs = np.linspace(0, 25_000, 51)
    za = np.array([a.true_focus_um(x, 12_000) for x in xs])
    assert np.array_equal(za, [b.true_focus_um(x, 12_000) for x in xs])
    assert not np.allclose(za, [c.true_focus_um(x, 12_000) for x in xs])
    assert 5.0 < np.ptp(za) < 60.0
    assert np.max(np.abs(np.diff(za))) < 5.0  # 0.5 mm apart: smooth


def test_empty_tiles_come_at_the_asked_fraction_and_debris_moves_the_sharpest_plane() -> None:
    spec = SlideSpec(empty_fraction=0.1, empty_tile_um=500.0, seed=4,
                     debris=(Debris(1_000, 1_000, 200, 15.0),))
    slide = Slide(spec, 0.0)
    empties = [slide.is_empty(x, y) for x in range(250, 50_000, 500) for y in range(250, 20_000, 500)]
    assert 0.07 < np.mean(empties) < 0.13
    assert slide.sharpest_um(1_000, 1_100) == pytest.approx(15.0)
    assert slide.true_focus_um(1_000, 1_100) == 0.0


def sharpest_z(sim, zs) -> float:  # type: ignore[no-untyped-def]
    metric = make_metric("bandpass")
    scores = []
    for z in zs:
        sim.stage.move_to_um(float(z))
        sim.clock.sleep(0.2)
        scores.append(metric(sim.camera.grab()))
    return float(zs[int(np.argmax(scores))])


def test_the_microscope_renders_at_the_focus_of_the_current_xy() -> None:
    sim = small_sim(slide=SlideSpec(tilt_x_um_per_mm=10.0))
    dof = sim.depth_of_field_um()
    sim.xy_stage.move_to_um(2_000, 0)
    truth = sim.true_focus_um
    assert truth == pytest.approx(sim.config.true_focus_um + 20.0)
    zs = truth + np.arange(-6, 7) * dof / 2
    assert sharpest_z(sim, zs) == pytest.approx(truth, abs=dof / 2)


def test_an_empty_area_shows_nothing_to_focus_on() -> None:
    sim = small_sim(slide=SlideSpec(empty_rects=((1_000, 0, 2_000, 1_000),)))
    sim.stage.move_to_um(sim.true_focus_um)
    sim.clock.sleep(0.2)
    specimen = sim.camera.grab().astype(float)
    sim.xy_stage.move_to_um(1_500, 500)
    empty = sim.camera.grab().astype(float)
    assert empty.std() < specimen.std() / 5


def test_a_tilted_field_is_sharp_at_different_z_on_its_two_sides() -> None:
    sim = small_sim(specimen="stained-tissue", slide=SlideSpec(field_tilt_x_um=8.0))
    dof = sim.depth_of_field_um()
    metric_left = make_metric("bandpass", roi=(0, 0, 64, 256))
    metric_right = make_metric("bandpass", roi=(192, 0, 64, 256))
    zs = sim.true_focus_um + np.arange(-8, 9) * dof / 4
    left, right = [], []
    for z in zs:
        sim.stage.move_to_um(float(z))
        sim.clock.sleep(0.2)
        frame = sim.camera.grab()
        left.append(metric_left(frame))
        right.append(metric_right(frame))
    # The right quarter's centre is 3/8 of the field right of centre: +3 um; the left's -3 um.
    shift = zs[int(np.argmax(right))] - zs[int(np.argmax(left))]
    assert shift == pytest.approx(6.0, abs=dof / 2)
