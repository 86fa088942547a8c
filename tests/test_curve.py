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


def test_two_comparable_peaks_are_ambiguous() -> None:
    z = np.arange(0.0, 201.0, 2.0)
    scores = lorentz(z, 60.0, 3.0) + lorentz(z, 140.0, 3.0) * 0.9
    with pytest.raises(FocusNotFound, match="comparable peaks"):
        curve_of(z, scores).locate_peak()


def test_a_single_spike_has_too_few_points() -> None:
    z = np.arange(0.0, 101.0, 10.0)
    scores = np.ones_like(z)
    scores[5] = 50.0
    with pytest.raises(FocusNotFound, match="point"):
        curve_of(z, scores).locate_peak()


def test_transparent_dip_is_focus_in_auto_mode_and_ambiguous_otherwise() -> None:
    z = np.arange(0.0, 101.0, 1.0)
    scores = lorentz(z, 46.0, 2.5) + lorentz(z, 54.0, 2.5) - 1.0
    with pytest.raises(FocusNotFound, match="comparable peaks"):
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
