"""Imaging modes and the focus measures each one needs.

A mode names what the camera sees, and so which measure finds focus best and what focus looks
like on the curve. The fine measures below are the winners of ``benchmarks/modes.py`` (every
registered measure through the default search on the simulated microscope per specimen type and
objective, and on the real recorded series of the mode); rerun it when measures, the search or
the simulator change, and copy its ``chosen:`` lines here.

- ``fluorescence``: bright objects on a dark background; focus is the curve's peak.
- ``brightfield``: stained (absorbing) specimens in transmitted light; focus is the peak.
- ``transparent``: unstained cells in transmitted light. A weak phase object is invisible at
  focus and gains contrast on both sides of it, so plain intensity variance peaks tens of
  micrometres away (the real ``brightfield_cells_set1`` set shows it 25 um off); the curve has
  two humps with focus in the dip between them. Every fine measure dips at focus too (by a
  depth of field or so); sampled more sparsely than that (the real set's planes), it peaks.
- ``auto``: any of the above. Focus is a single peak, or the dip between two balanced humps
  (see :func:`autofocus.curve.transparent_humps`); the search recognises a transparent specimen
  by its fine score peaking where the coarse one is low, so it need not be declared.

Each mode also names its *coarse* measure: the one strategies bracket focus with (see
:mod:`autofocus.search`), computed on a downsampled copy of each frame.
"""

from __future__ import annotations

from dataclasses import dataclass

from autofocus.curve import Expect
from autofocus.errors import InputError
from autofocus.metrics import METRICS

__all__ = [
    "COARSE_DOWNSAMPLE",
    "MODES",
    "ModeProfile",
    "coarse_metric_for_mode",
    "expect_for_mode",
    "first_registered",
    "metric_for_mode",
    "mode_profile",
    "resolve_metric",
    "tutorial_metric_if_blur",
]

MODES = ("auto", "fluorescence", "brightfield", "transparent")

# Block-averaging factor of the coarse measure's frame: it keeps the detail that survives tens
# of micrometres of defocus and averages pixel noise down by this factor.
COARSE_DOWNSAMPLE = 4


@dataclass(frozen=True)
class ModeProfile:
    """The measures and curve shape of one imaging mode. ``metric`` and ``coarse_metric`` list
    preferences: the first one registered in :data:`autofocus.metrics.METRICS` is used, so a
    mode keeps working while the registry changes."""

    metric: tuple[str, ...]
    coarse_metric: tuple[str, ...]
    expect: Expect


# The fine measures are the winners of benchmarks/modes.py (every registered measure forced as
# the fine one, through the default search on the simulator and on the real series of each
# mode; fewest failures, then smallest p95 error): the band-pass (difference of Gaussians)
# energy in every mode. Its table and reasons live there; tests/test_modes.py pins the choice so
# it changes only with a rerun. The coarse measure: normalized variance on a 4x smaller frame
# stays above the noise farthest from focus (about +-20 um at 40x/0.75, +-130 um at 10x/0.3);
# on transparent specimens it grows with defocus instead, which the search detects (see
# :mod:`autofocus.search`) and lets the fine measure lead.
_PROFILES = {
    "fluorescence": ModeProfile(("bandpass", "laplacian"), ("normalized_variance", "laplacian"), "peak"),
    "brightfield": ModeProfile(("bandpass", "laplacian"), ("normalized_variance", "laplacian"), "peak"),
    "transparent": ModeProfile(("bandpass", "laplacian"), ("normalized_variance", "laplacian"), "dip"),
    "auto": ModeProfile(("bandpass", "laplacian"), ("normalized_variance", "laplacian"), "auto"),
}


def mode_profile(mode: str) -> ModeProfile:
    try:
        return _PROFILES[mode]
    except KeyError:
        raise InputError(f"unknown mode {mode!r}; choose one of: {', '.join(MODES)}") from None


def first_registered(names: tuple[str, ...]) -> str:
    for name in names:
        if name in METRICS:
            return name
    return "laplacian"


def metric_for_mode(mode: str) -> str:
    """The default focus measure for an imaging mode."""
    return first_registered(mode_profile(mode).metric)


def coarse_metric_for_mode(mode: str) -> str:
    """The measure strategies bracket focus with, on a ``COARSE_DOWNSAMPLE`` times smaller frame."""
    return first_registered(mode_profile(mode).coarse_metric)


def expect_for_mode(mode: str) -> Expect:
    """What focus looks like on the curve in this mode (see :mod:`autofocus.curve`)."""
    return mode_profile(mode).expect


def tutorial_metric_if_blur(metric: str | None, blur: int | None) -> str | None:
    """A blur is a setting of the tutorial's measure only (the one measure with a blur), so a
    blur given without naming a measure means the tutorial's measure, ``laplacian``; silently
    ignoring it would surprise the tutorial's users. None leaves the choice to the mode."""
    return "laplacian" if metric is None and blur is not None else metric


def resolve_metric(metric: str | None, mode: str, blur: int | None = None) -> str:
    """An explicit metric wins; a blur alone means the tutorial's measure; otherwise the imaging
    mode's default measure."""
    return tutorial_metric_if_blur(metric, blur) or metric_for_mode(mode)
