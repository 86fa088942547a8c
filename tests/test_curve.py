from __future__ import annotations

import numpy as np
import pytest

from autofocus.curve import FocusCurve, profile
from autofocus.errors import FocusNotFound


def curve_of(z: np.ndarray, scores: np.ndarray) -> FocusCurve:
    curve = FocusCurve()
    for zi, si in zip(z, scores, strict=True):
        curve.add(float(zi), float(si))
    return curve


def lorentz(z: np.ndarray, centre: float, width: float) -> np.ndarray:
    return 1.0 + 40.0 / (1.0 + ((z - centre) / width) ** 2)


def test_peak_fit_is_finer_than_the_sampling() -> None:
    z = np.arange(0.0, 101.0, 2.0)
    peak = curve_of(z, lorentz(z, 50.7, 3.0)).locate_peak()
    assert abs(peak.z_um - 50.7) < 0.2
    assert peak.method == "gaussian-fit"
    assert 0.5 < peak.confidence <= 1.0


def test_flat_curve_is_an_empty_field() -> None:
    rng = np.random.default_rng(0)
    z = np.arange(0.0, 101.0, 1.0)
    curve = curve_of(z, 5.0 + 0.01 * rng.standard_normal(len(z)))
    with pytest.raises(FocusNotFound, match="flat"):
        curve.locate_peak()
    with pytest.raises(FocusNotFound, match="flat"):
        curve.locate_best_frame()


def test_peak_at_the_edge_is_not_focus() -> None:
    z = np.arange(0.0, 101.0, 5.0)
    with pytest.raises(FocusNotFound, match="edge"):
        curve_of(z, lorentz(z, 110.0, 10.0)).locate_peak(0.0, 100.0)


def test_two_comparable_peaks_are_two_layers_named_both() -> None:
    z = np.arange(0.0, 201.0, 2.0)
    scores = lorentz(z, 60.0, 3.0) + lorentz(z, 140.0, 3.0) * 0.9
    with pytest.raises(FocusNotFound, match="two layers") as caught:
        curve_of(z, scores).locate_peak()
    assert caught.value.kind == "two_layers"
    assert "60.00 um" in caught.value.reason and "140.00 um" in caught.value.reason


def test_a_clearly_stronger_layer_wins_and_its_rival_lowers_the_confidence() -> None:
    z = np.arange(0.0, 201.0, 2.0)
    alone = curve_of(z, lorentz(z, 60.0, 3.0)).locate_peak()
    peak = curve_of(z, lorentz(z, 60.0, 3.0) + lorentz(z, 140.0, 3.0) * 0.6).locate_peak()
    assert abs(peak.z_um - 60.0) < 0.5
    assert peak.confidence < 0.5 <= alone.confidence


@pytest.mark.parametrize(("layer", "expected"), [("lowest", 60.0), ("highest", 140.0),
                                                 ("strongest", 60.0), ("nearest", 140.0)])
def test_the_layer_setting_picks_among_two_layers(layer: str, expected: float) -> None:
    z = np.arange(0.0, 201.0, 2.0)
    scores = lorentz(z, 60.0, 3.0) + lorentz(z, 140.0, 3.0) * 0.9
    peak = curve_of(z, scores).locate_peak(layer=layer, start_um=180.0)  # type: ignore[arg-type]
    assert abs(peak.z_um - expected) < 0.5


def test_two_humps_farther_apart_than_a_few_depths_of_field_are_not_a_dip() -> None:
    z = np.arange(0.0, 101.0, 1.0)
    scores = lorentz(z, 46.0, 2.5) + lorentz(z, 54.0, 2.5) - 1.0
    assert abs(curve_of(z, scores).locate_peak(expect="auto", dof_um=2.0).z_um - 50.0) < 0.5
    with pytest.raises(FocusNotFound) as caught:
        curve_of(z, scores).locate_peak(expect="auto", dof_um=0.5)  # 16 DOF apart: two layers
    assert caught.value.kind == "two_layers"


def test_a_single_spike_has_too_few_points() -> None:
    z = np.arange(0.0, 101.0, 10.0)
    scores = np.ones_like(z)
    scores[5] = 50.0
    with pytest.raises(FocusNotFound, match="point"):
        curve_of(z, scores).locate_peak()


def test_transparent_dip_is_focus_in_auto_mode_and_ambiguous_otherwise() -> None:
    z = np.arange(0.0, 101.0, 1.0)
    scores = lorentz(z, 46.0, 2.5) + lorentz(z, 54.0, 2.5) - 1.0
    with pytest.raises(FocusNotFound, match="comparable peaks close together"):
        curve_of(z, scores).locate_peak()
    peak = curve_of(z, scores).locate_peak(expect="auto")
    assert abs(peak.z_um - 50.0) < 0.5
    assert peak.method in ("dip-fit", "hump-midpoint")


REPEATED_Z = np.array([0.0, 10.0, 20.0, 20.0, 30.0, 40.0])
REPEATED_SCORES = np.array([1.0, 2.0, 9.0, 11.0, 3.0, 1.0])


def test_the_analysed_profile_averages_repeated_positions() -> None:
    z, scores = profile(curve_of(REPEATED_Z, REPEATED_SCORES))
    assert z.tolist() == [0.0, 10.0, 20.0, 30.0, 40.0]
    assert scores.tolist() == [1.0, 2.0, 10.0, 3.0, 1.0]


def test_best_frame_reports_the_raw_maximum_as_the_tutorial_did() -> None:
    peak = curve_of(REPEATED_Z, REPEATED_SCORES).locate_best_frame()
    assert peak.z_um == 20.0
    assert peak.score == 11.0  # the single best frame, not the average of the two at 20 um


def test_a_few_recorded_planes_with_a_clear_peak_are_focused_with_some_confidence() -> None:
    # The real brightfield_cells_set1 curve (band-pass scores of its 6 planes): the local noise
    # estimate is inflated by the peak itself, yet the peak rises 17x above the baseline.
    curve = FocusCurve()
    for plane, score in enumerate([0.195, 0.675, 2.151, 3.432, 0.379, 0.192]):
        curve.add(float(plane), score)
    peak = curve.locate_peak(min_points=2)
    assert 2.0 < peak.z_um < 3.5
    assert peak.confidence > 0.2


@pytest.mark.parametrize("scores", [
    [-1e308, 1e308, 1e308, -1e308],          # finite, but their differences overflow
    [1.7e308, 1.7e308, 1.0, 2.0],            # the mean of a repeated position overflows
])
def test_scores_too_large_to_compare_are_no_data_not_a_crash(scores: list[float]) -> None:
    # Found by the property test on Python 3.10: the baseline's interpolation overflowed to NaN,
    # the noise floor with it, and the flatness check divided by a zero noise.
    curve = FocusCurve()
    for z, score in zip([0.0, 0.0 if scores[0] == scores[1] else 1.0, 2.0, 3.0], scores, strict=True):
        curve.add(z, score)
    with pytest.raises(FocusNotFound) as caught:
        curve.locate_peak()
    assert caught.value.kind == "no_data"
