"""Shared test helpers: a small simulated microscope keeps end-to-end tests fast."""

from __future__ import annotations

from pathlib import Path

import pytest

from autofocus.sim import SimConfig, SimulatedMicroscope
from autofocus.sim.camera import CameraSpec

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"


def small_sim(**overrides: object) -> SimulatedMicroscope:
    """A 256x256-pixel simulated microscope (same optics, less rendering)."""
    config = SimConfig(camera=CameraSpec(width=256, height=256), **overrides)  # type: ignore[arg-type]
    return SimulatedMicroscope(config)


@pytest.fixture
def shared_data() -> Path:
    """The real focus series beside the project; skipped in a user's clone that lacks them."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (only CI and developers have ../shared)")
    return SHARED_DATA
