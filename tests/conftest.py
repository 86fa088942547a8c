"""Shared test helpers: a small simulated microscope keeps end-to-end tests fast; the command
line run in-process; a simulated Micro-Manager core."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The command line run in-process: its exit code, stdout and stderr."""
    from autofocus import cli

    code = cli.run_cli(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def no_devices(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record any attempt to open hardware (the main command's and the subcommands'): bad
    input must be refused before that."""
    from autofocus import cli, connect

    opened: list[str] = []

    def refuse(port: str, options: connect.ConnectOptions, check: object = None) -> connect.Connection:
        opened.append(port)
        raise AssertionError("bad input reached the devices")

    monkeypatch.setattr(cli, "open_microscope", refuse)
    monkeypatch.setattr(connect, "open_microscope", refuse)
    return opened


@pytest.fixture
def core(tmp_path: Path, slide: Any) -> Iterator[Any]:
    """An AutofocusCore with the simulated devices on the module's ``slide`` (a fixture each
    Micro-Manager test module defines); needs the micromanager extra."""
    from autofocus.micromanager import AutofocusCore
    from autofocus.sim.mmdevices import load_simulated_devices

    # An mm_path (any folder) stops pymmcore-plus looking for a Micro-Manager installation.
    mmc = AutofocusCore(mm_path=str(tmp_path))
    load_simulated_devices(mmc, slide)
    yield mmc
    mmc.unloadAllDevices()
