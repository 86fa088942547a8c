"""Surface fits: the right model by leave-one-out error, outliers set apart, JSON round trip."""

from __future__ import annotations

import numpy as np
import pytest

from autofocus.errors import InputError
from autofocus.surface import SurfaceFit, fit_surface, robust_fit

XS, YS = (a.ravel() for a in np.meshgrid(np.linspace(0, 20_000, 5), np.linspace(0, 15_000, 5)))
NOISE = np.random.default_rng(0).normal(0, 0.1, XS.size)


def test_a_plane_is_chosen_for_a_tilted_slide_and_predicts_between_points() -> None:
    z = 1_000 + 0.002 * XS - 0.001 * YS + NOISE
    fit = fit_surface(XS, YS, z)
    assert fit.model == "plane"
    assert fit.z_at(10_000, 7_500) == pytest.approx(1_000 + 20 - 7.5, abs=0.15)
    assert fit.loo_rms_um < 0.2


def test_a_warp_needs_the_spline() -> None:
    z = 1_000 + 20 * np.exp(-((XS - 8_000) ** 2 + (YS - 6_000) ** 2) / (2 * 6_000**2)) + NOISE
    fit = fit_surface(XS, YS, z)
    assert fit.model in ("tps", "quadratic")
    assert fit.loo_by_model["plane"] > 2 * fit.loo_rms_um


def test_one_wrong_point_is_set_apart_and_the_rest_fit() -> None:
    z = 1_000 + 0.002 * XS + NOISE
    z[7] += 15.0
    result = robust_fit(XS, YS, z)
    assert result.outliers == (7,)
    assert result.outlier_errors_um[0] == pytest.approx(15.0, abs=0.5)
    assert 7 not in result.inliers
    assert result.surface.z_at(XS[7], YS[7]) == pytest.approx(1_000 + 0.002 * XS[7], abs=0.2)


def test_noise_alone_sets_nothing_apart() -> None:
    result = robust_fit(XS, YS, 1_000 + NOISE)
    assert result.outliers == ()


def test_a_named_model_is_used_and_the_fit_survives_json() -> None:
    z = 1_000 + 0.002 * XS + 1e-7 * XS**2 + NOISE
    fit = fit_surface(XS, YS, z, "quadratic")
    again = SurfaceFit.from_dict(fit.to_dict())
    assert again.model == "quadratic"
    assert again.z_at(3_000, 4_000) == pytest.approx(fit.z_at(3_000, 4_000))


def test_too_few_points_or_unknown_models_are_input_errors() -> None:
    with pytest.raises(InputError):
        fit_surface([0, 1], [0, 1], [1, 2], "plane")
    with pytest.raises(InputError):
        fit_surface(XS, YS, XS, "cubic")
    assert fit_surface([0.0], [0.0], [5.0]).z_at(10, 10) == 5.0
