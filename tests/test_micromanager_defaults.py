"""The SoftwareAutofocus device uses the same measure as the command line (issue 14)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("pymmcore_plus")

from tests.conftest import small_sim

from autofocus.micromanager import AutofocusCore, install_software_autofocus
from autofocus.modes import metric_for_mode
from autofocus.sim.mmdevices import SimulatedSlide, load_simulated_devices, tilted


@pytest.fixture
def core(tmp_path: Path) -> Iterator[AutofocusCore]:
    mmc = AutofocusCore(mm_path=str(tmp_path))
    load_simulated_devices(mmc, SimulatedSlide(small_sim(specimen="beads", start_um=10_010.0), tilted(0.0)))
    yield mmc
    mmc.unloadAllDevices()


def test_default_measure_is_the_modes_as_on_the_command_line(core: AutofocusCore) -> None:
    device = install_software_autofocus(core, search_range_um=60.0, step_um=1.0)
    assert core.getProperty("SoftwareAutofocus", "Metric") == "auto"
    assert core.getProperty("SoftwareAutofocus", "Mode") == "auto"
    core.fullFocus()
    assert device.last_result is not None
    assert device.last_result.metric == metric_for_mode("auto")


def test_mode_property_picks_that_modes_measure(core: AutofocusCore) -> None:
    device = install_software_autofocus(core, search_range_um=60.0, step_um=1.0)
    core.setProperty("SoftwareAutofocus", "Mode", "brightfield")
    assert device.settings_options()["mode"] == "brightfield"
    assert device.settings_options()["metric"] is None
    core.setProperty("SoftwareAutofocus", "Metric", "laplacian")
    assert device.settings_options()["metric"] == "laplacian"
