"""The SoftwareAutofocus device uses the same measure as the command line (issue 14)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("pymmcore_plus")

from tests.conftest import small_sim

from autofocus.errors import InputError
from autofocus.micromanager import AutofocusCore, focus, install_software_autofocus
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


def test_focus_refuses_a_range_beyond_the_drives_travel_before_moving(core: AutofocusCore) -> None:
    before = core.getPosition()
    with pytest.raises(InputError, match="max_travel_um"):
        focus(core, range_um=20_000, step_um=200)
    assert core.getPosition() == before


def test_max_travel_property_caps_the_devices_search(core: AutofocusCore) -> None:
    install_software_autofocus(core, search_range_um=60.0, step_um=1.0)
    assert float(core.getProperty("SoftwareAutofocus", "MaxTravel_um")) == 1_000.0
    core.setProperty("SoftwareAutofocus", "MaxTravel_um", 40.0)
    before = core.getPosition()
    with pytest.raises(RuntimeError, match="more than the focus drive may travel"):
        core.fullFocus()
    assert core.getPosition() == before
