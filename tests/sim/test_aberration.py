"""Spherical aberration from a cover glass of the wrong thickness: an asymmetric focus curve."""

from __future__ import annotations

import numpy as np
import pytest

from autofocus.metrics import bandpass
from autofocus.sim import OBJECTIVES, SimConfig, SimulatedMicroscope
from autofocus.sim.camera import CameraSpec
from autofocus.sim.optics import DefocusOTF

WAVELENGTH = 0.55


def aberrated(error_um: float, objective: str = "40x", seed: int = 0,
              specimen: str = "stained-tissue") -> SimulatedMicroscope:
    return SimulatedMicroscope(SimConfig(specimen=specimen, objective=objective, seed=seed,
                                         cover_glass_error_um=error_um,
                                         camera=CameraSpec(width=256, height=256)))


def flank_widths(zs: np.ndarray, scores: np.ndarray, level: float) -> tuple[float, float]:
    """Distance from the peak to where the curve falls below ``level`` of it, left and right."""
    top = int(np.argmax(scores))
    below = scores < level * scores[top]
    left = top - max(i for i in range(top) if below[i])
    right = min(i for i in range(top, len(zs)) if below[i]) - top
    step = float(zs[1] - zs[0])
    return left * step, right * step


@pytest.mark.parametrize(("specimen", "level", "factor"),
                         [("beads", 0.5, 1.8), ("fluorescent-cells", 0.75, 1.3)])
def test_the_curve_has_one_flank_broader_than_the_other(specimen: str, level: float,
                                                        factor: float) -> None:
    m = aberrated(40.0, specimen=specimen)  # a no. 2 coverslip (0.21 mm) under a 0.17 mm lens
    dof = m.depth_of_field_um()
    zs = np.arange(-5 * dof, 5 * dof, dof / 20)
    scores = np.array([bandpass(m.render(z)) for z in zs])
    left, right = flank_widths(zs, scores, level)
    assert left > factor * right  # a thicker glass: the lower flank is the broad one
    plain = aberrated(0.0, specimen=specimen)
    plain_scores = np.array([bandpass(plain.render(z)) for z in zs])
    p_left, p_right = flank_widths(zs, plain_scores, level)
    assert p_left == pytest.approx(p_right, abs=dof / 10)


def test_a_thinner_glass_mirrors_the_curve() -> None:
    # W_sa is odd in the thickness error and the intensity PSF of (z, W) equals that of
    # (-z, -W): the transfer functions of +dt and -dt are mirror images through focus.
    thick = DefocusOTF(OBJECTIVES["40x"], WAVELENGTH, cover_glass_error_um=30.0)
    thin = DefocusOTF(OBJECTIVES["40x"], WAVELENGTH, cover_glass_error_um=-30.0)
    for z in (0.4, 1.0, 2.5):
        assert np.allclose(thick.profile(z), thin.profile(-z), atol=1e-9)
        assert not np.allclose(thick.profile(z), thick.profile(-z), atol=1e-3)


def test_oil_immersion_does_not_feel_the_cover_glass() -> None:
    oil, design = OBJECTIVES["60x"], DefocusOTF(OBJECTIVES["60x"], WAVELENGTH)
    wrong = DefocusOTF(oil, WAVELENGTH, cover_glass_error_um=40.0)
    assert not wrong.aberrated
    assert np.array_equal(wrong.profile(0.7), design.profile(0.7))


def test_low_na_barely_feels_it() -> None:
    low = DefocusOTF(OBJECTIVES["10x"], WAVELENGTH, cover_glass_error_um=30.0)
    design = DefocusOTF(OBJECTIVES["10x"], WAVELENGTH)
    assert np.abs(low.profile(2.0) - design.profile(2.0)).max() < 0.02


def test_ground_truth_is_the_sharpest_plane_of_the_measure() -> None:
    m = aberrated(30.0, specimen="fluorescent-cells")
    dof = m.depth_of_field_um()
    sharpest = m.sharpest_defocus_um()
    assert abs(sharpest) > 0.1 * dof  # off the centre of best focus, towards the broad flank
    assert sharpest < 0
    zs = sharpest + np.linspace(-0.3, 0.3, 31) * dof
    scores = [bandpass(m.render(z)) for z in zs]
    assert abs(zs[int(np.argmax(scores))] - sharpest) <= 0.02 * dof
    assert m.sharpest_focus_um() == pytest.approx(m.true_focus_um + sharpest)
    assert aberrated(0.0).sharpest_defocus_um() == 0.0


def test_aberrated_frames_are_deterministic_from_the_seed() -> None:
    a, b = aberrated(30.0, seed=5), aberrated(30.0, seed=5)
    for m in (a, b):
        m.stage.move_to_um(m.true_focus_um + 1.0)
    assert np.array_equal(a.camera.grab(), b.camera.grab())


def test_aberration_is_refused_for_transparent_specimens() -> None:
    with pytest.raises(ValueError):
        aberrated(30.0, specimen="transparent-cells")


@pytest.mark.parametrize("error_um", [40.0, -30.0])
def test_axial_profile_matches_psfmodels_gibson_lanni(error_um: float) -> None:
    """The on-axis PSF intensity through focus (the integral of the OTF) against psfmodels'
    scalar Gibson-Lanni PSF with the same cover-glass error: the same asymmetric shape, once
    psfmodels' z (depth of the focal plane into the sample) is read as our stage z (up, towards
    the coverslip: the opposite sign) and shifted by the defocus this model removes."""
    psfmodels = pytest.importorskip("psfmodels")
    objective = OBJECTIVES["40x"]
    model = DefocusOTF(objective, WAVELENGTH, cover_glass_error_um=error_um)
    zs = np.arange(-5.0, 5.0001, 0.05)
    ours = np.array([np.sum(model.profile(z) * model.k) for z in zs])
    ours /= ours.max()
    theirs_z = np.arange(-12.0, 12.0001, 0.05)
    nx = 127
    psf = psfmodels.make_psf(list(theirs_z), nx=nx, dxy=WAVELENGTH / objective.na / 6,
                             NA=objective.na, wvl=WAVELENGTH, ns=1.0, ni=1.0, ni0=1.0, ng=1.515,
                             ng0=1.515, tg=170 + error_um, tg0=170, ti0=150, model="scalar",
                             normalize=False)
    centre = psf[:, nx // 2, nx // 2] / psf.sum(axis=(1, 2))
    centre /= centre.max()
    misfit = min((float(np.abs(np.interp(shift - zs, theirs_z, centre) - ours).max()), shift)
                 for shift in np.arange(-8.0, 8.0, 0.05))
    assert misfit[0] < 0.03, misfit
