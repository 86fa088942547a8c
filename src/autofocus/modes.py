"""Imaging modes and the focus measure each one needs."""

from __future__ import annotations

from autofocus.errors import InputError

MODES = ("auto", "fluorescence", "brightfield", "transparent")

_METRIC_FOR_MODE = {
    "auto": "laplacian",
    "fluorescence": "laplacian",
    "brightfield": "laplacian",
    "transparent": "laplacian",
}


def metric_for_mode(mode: str) -> str:
    """The default focus measure for an imaging mode."""
    try:
        return _METRIC_FOR_MODE[mode]
    except KeyError:
        raise InputError(f"unknown mode {mode!r}; choose one of: {', '.join(MODES)}") from None
