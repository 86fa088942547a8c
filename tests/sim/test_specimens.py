"""Procedural specimens: deterministic, in micrometres, with the right contrast mode."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from autofocus.sim.specimens import SPECIMEN_MODES, SPECIMENS, generate_specimen, make_specimen

SHAPE = (200, 320)


@pytest.mark.parametrize("kind", SPECIMENS)
def test_deterministic_from_the_seed(kind: str) -> None:
    a = make_specimen(kind, SHAPE, 0.2, 5)
    assert a.dtype == np.float32 and a.shape == SHAPE
    assert np.array_equal(a, make_specimen(kind, SHAPE, 0.2, 5))
    if kind != "empty":
        assert not np.array_equal(a, make_specimen(kind, SHAPE, 0.2, 6))


@pytest.mark.parametrize("kind", [k for k in SPECIMENS if k != "empty"])
def test_even_a_tiny_view_has_something_to_focus_on(kind: str) -> None:
    field = make_specimen(kind, (64, 64), 0.1725, 0)  # 11 um across
    assert float(field.std()) > 0.01 * max(float(np.abs(field).max()), 1e-9)


def test_contrast_modes() -> None:
    assert set(SPECIMEN_MODES) == set(SPECIMENS)
    cells = generate_specimen("fluorescent-cells", (600, 960), 0.345, 0)
    assert cells.mode == "fluorescence"
    assert np.median(cells.field) < 0.1 * cells.field.max()  # dark background, bright cells
    for kind in ("stained-tissue", "reticle"):
        spec = generate_specimen(kind, (600, 960), 0.345, 0)
        assert spec.mode == "absorption"
        assert spec.field.max() <= 1.0 and np.percentile(spec.field, 99) == pytest.approx(1.0)
        assert spec.field.min() < 0.2  # dark features on a bright background
    phase = generate_specimen("transparent-cells", (600, 960), 0.345, 0)
    assert phase.mode == "phase" and 0 < phase.field.max() < 3.0  # radians
    assert generate_specimen("empty", (8, 8), 0.3, 0).field.std() == 0


def test_objects_keep_their_size_and_place_in_micrometres() -> None:
    """The 40x view is the middle of the 20x view at twice the scale."""
    low = make_specimen("fluorescent-cells", (400, 400), 0.2, 1) > 0.05
    high = make_specimen("fluorescent-cells", (400, 400), 0.1, 1) > 0.05
    middle = low[100:300, 100:300].astype(np.float32)
    shrunk = cv2.resize(high.astype(np.float32), (200, 200), interpolation=cv2.INTER_AREA) > 0.5
    agreement = (shrunk == (middle > 0.5)).mean()
    assert agreement > 0.95


def test_beads_are_sparse_and_reticle_has_fine_bars() -> None:
    beads = make_specimen("beads", (600, 960), 0.1725, 0)
    assert (beads > 0).mean() < 0.002
    reticle = make_specimen("reticle", (600, 960), 0.345, 0)
    # The reticle spans chrome (3 % transmittance) to clear glass with sharp edges.
    assert reticle.min() == pytest.approx(0.03, abs=0.01)
    assert (np.abs(np.diff(reticle, axis=1)) > 0.5).mean() > 0.001


def test_unknown_specimen_and_bad_pixel_size() -> None:
    with pytest.raises(ValueError, match="unknown specimen"):
        make_specimen("cheese", SHAPE, 0.2, 0)
    with pytest.raises(ValueError):
        make_specimen("beads", SHAPE, 0.0, 0)
