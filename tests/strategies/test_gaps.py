"""Room for a hidden layer: the gaps of a sparse pass over a narrow coarse peak have it, the
gaps of a dense one, or of a pass over a broad peak, do not."""

from __future__ import annotations

import math

import pytest

from autofocus.search import CallableProbe, SearchSpace
from autofocus.strategies.gaps import hiding_spacing, room_for_a_hidden_layer

FOCUS = 500.0


def probe_over(width_um: float, spacing_um: float, noise: float = 1e-3) -> CallableProbe:
    """Frames every ``spacing_um`` over 0..1000 um and a few near focus, on a coarse peak of
    Gaussian ``width_um`` (sigma) with a small deterministic ripple for noise."""
    def coarse(z: float) -> float:
        return 1.0 + 10.0 * math.exp(-0.5 * ((z - FOCUS) / width_um) ** 2) + noise * math.sin(7.3 * z)

    space = SearchSpace(0.0, 1_000.0, 10.0, 0.0)
    probe = CallableProbe(coarse, space, coarse)
    z = 0.0
    while z <= 1_000.0:
        probe.sample(z)
        z += spacing_um
    for offset in (-1.0, -0.5, 0.0, 0.5, 1.0):
        probe.sample(FOCUS + offset * width_um)
    return probe


def test_a_narrow_peak_seen_by_a_sparse_pass_leaves_room_for_a_layer() -> None:
    probe = probe_over(width_um=3.0, spacing_um=55.0)
    assert hiding_spacing(probe, FOCUS) < 55.0
    assert room_for_a_hidden_layer(probe, FOCUS, 0.0, 1_000.0)


@pytest.mark.parametrize(("width_um", "spacing_um"), [(3.0, 5.0), (40.0, 55.0)])
def test_a_dense_pass_or_a_broad_peak_leaves_none(width_um: float, spacing_um: float) -> None:
    probe = probe_over(width_um, spacing_um)
    assert not room_for_a_hidden_layer(probe, FOCUS, 0.0, 1_000.0)


def test_an_unexamined_end_of_the_range_is_room_too() -> None:
    """A first pass that stopped early (continuous) left the rest of the range unseen."""
    probe = probe_over(width_um=40.0, spacing_um=55.0)
    assert not room_for_a_hidden_layer(probe, FOCUS, 0.0, 1_000.0)
    assert room_for_a_hidden_layer(probe, FOCUS, 0.0, 2_000.0)
