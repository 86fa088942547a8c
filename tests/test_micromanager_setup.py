"""What a pymmcore-plus user brings (issue 14): ROI and FocusStage properties, settings that
survive saveSystemConfiguration and a reload, AxesBasedAF naming the device, an MDA that saves
OME-TIFF on the simulated setup, and the software autofocus on a core that is not ours."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pymmcore_plus")
pytest.importorskip("useq")

import tifffile
import useq
from pymmcore_plus.experimental.unicore import UniMMCore
from tests.conftest import small_sim

from autofocus.micromanager import AutofocusCore, install_software_autofocus, use_software_autofocus
from autofocus.sim.mmdevices import SimulatedSlide, load_simulated_devices, tilted

NOMINAL_Z_UM = 10_005.0
AF = "SoftwareAutofocus"


@pytest.fixture
def slide() -> SimulatedSlide:
    return SimulatedSlide(small_sim(start_um=NOMINAL_Z_UM), tilted(10.0))




def stacks_of(core: Any, slide: SimulatedSlide, plan: useq.AxesBasedAF,
              xs: tuple[float, ...] = (0.0, 800.0)) -> dict[int, tuple[float, float, dict[str, Any]]]:
    """Per position: the centre of its z-stack, its true focus, and its last frame's metadata."""
    seen: dict[int, list[float]] = {}
    found: dict[int, tuple[float, dict[str, Any]]] = {}

    def record(image: Any, event: Any, meta: Any) -> None:
        p = event.index["p"]
        seen.setdefault(p, []).append(core.getPosition())
        found[p] = (slide.true_focus_um(*slide.xy_um), meta)

    core.mda.events.frameReady.connect(record)
    core.mda.run(useq.MDASequence(
        stage_positions=[useq.Position(x=x, y=0.0, z=NOMINAL_Z_UM) for x in xs],
        z_plan=useq.ZRangeAround(range=4.0, step=1.0), autofocus_plan=plan))
    core.mda.events.frameReady.disconnect(record)
    return {p: (sum(zs) / len(zs), found[p][0], found[p][1]) for p, zs in seen.items()}


def test_roi_property_is_checked_when_set_and_scored_by_the_search(core: AutofocusCore) -> None:
    device = install_software_autofocus(core, search_range_um=40.0, step_um=1.0)
    assert core.getProperty(AF, "ROI") == ""
    core.setProperty(AF, "ROI", "16,16,128,128")  # as --roi on the command line
    assert device.settings_options()["roi"] == (16, 16, 128, 128)
    assert core.getProperty(AF, "ROI") == "16 16 128 128"  # no commas: a config file's separator
    with pytest.raises(ValueError, match="X,Y,WIDTH,HEIGHT"):
        core.setProperty(AF, "ROI", "16 16 128")
    with pytest.raises(ValueError, match="positive width"):
        core.setProperty(AF, "ROI", "16 16 0 128")
    assert core.getProperty(AF, "ROI") == "16 16 128 128"  # a refused value changes nothing
    core.setProperty(AF, "ROI", "0 0 4000 4000")  # larger than the 256x256 frames
    before = core.getPosition()
    with pytest.raises(RuntimeError, match=r"does not fit|cannot be scored"):
        core.fullFocus()
    assert core.getPosition() == before
    core.setProperty(AF, "ROI", "")
    core.fullFocus()
    assert device.last_result is not None and device.last_result.focused


def test_focus_stage_property_names_the_stage_searched(core: AutofocusCore) -> None:
    device = install_software_autofocus(core, search_range_um=40.0, step_um=1.0)
    # The core's focus device is another drive (a piezo, say) that the camera does not see move.
    other = SimulatedSlide(small_sim(start_um=NOMINAL_Z_UM)).devices()["Z"]
    core.loadPyDevice("Z2", other)
    core.initializeDevice("Z2")
    core.setFocusDevice("Z2")
    with pytest.raises(RuntimeError, match="flat"):
        core.fullFocus()
    core.setProperty(AF, "FocusStage", "NoSuchStage")
    with pytest.raises(RuntimeError, match="'NoSuchStage' is not a loaded device"):
        core.fullFocus()
    core.setProperty(AF, "FocusStage", "Z")
    z2_before = core.getPosition("Z2")
    core.fullFocus()
    assert device.last_result is not None and device.last_result.focused
    assert core.getPosition("Z") == pytest.approx(device.last_result.best_z_um, abs=0.5)
    assert core.getPosition("Z2") == z2_before


def test_settings_survive_save_system_configuration_and_a_reload(tmp_path: Path) -> None:
    core = AutofocusCore(mm_path=str(tmp_path))
    install_software_autofocus(core)
    changed = {"Step_um": "0.5", "SearchRange_um": "80.0", "Mode": "brightfield",
               "Strategy": "continuous", "MaxTravel_um": "300.0", "ROI": "8 8 64 64",
               "FocusStage": "Z", "RefocusInMDA": "No"}
    for name, value in changed.items():
        core.setProperty(AF, name, value)
    saved = tmp_path / "with-autofocus.cfg"
    core.saveSystemConfiguration(str(saved))

    again = AutofocusCore(mm_path=str(tmp_path))
    again.loadSystemConfiguration(str(saved))
    assert again.getAutoFocusDevice() == AF and again.software_autofocus() is not None
    for name, value in changed.items():
        assert str(again.getProperty(AF, name)) == value, name
    assert again.software_autofocus().settings_options()["roi"] == (8, 8, 64, 64)  # type: ignore[union-attr]


@pytest.mark.timeout(120)
def test_axes_based_af_naming_the_software_autofocus_sets_its_offset(
    core: AutofocusCore, slide: SimulatedSlide
) -> None:
    # The habit from hardware autofocus: name the device and give its offset. No "wrong device
    # type" abort: the offset is the software autofocus's own.
    install_software_autofocus(core, search_range_um=40.0, step_um=1.0)
    plan = useq.AxesBasedAF(axes=("p",), autofocus_device_name=AF, autofocus_motor_offset=3.0)
    stacks = stacks_of(core, slide, plan)
    assert sorted(stacks) == [0, 1]
    assert core.getAutoFocusOffset() == pytest.approx(3.0)
    assert core.getPosition(AF) == pytest.approx(3.0)
    for centre, truth, meta in stacks.values():
        assert abs(centre - (truth + 3.0)) <= 1.0
        assert meta["extra"]["autofocus"]["status"] == "focused"


def test_the_simulated_setup_has_a_pixel_size_so_an_mda_saves_ome_tiff(
    core: AutofocusCore, slide: SimulatedSlide, tmp_path: Path
) -> None:
    assert core.getPixelSizeUm() == pytest.approx(slide.sim.pixel_um)
    out = tmp_path / "x.ome.tiff"
    core.mda.run(useq.MDASequence(stage_positions=[(0.0, 0.0, NOMINAL_Z_UM)],
                                  z_plan=useq.ZRangeAround(range=2.0, step=1.0)), output=str(out))
    with tifffile.TiffFile(out) as tif:
        assert tif.is_ome and len(tif.pages) == 3


@pytest.mark.timeout(120)
def test_an_existing_core_that_is_not_ours_runs_the_software_autofocus_in_its_mda(
    tmp_path: Path, slide: SimulatedSlide
) -> None:
    # As `mmcore run` or any program that made its own core: not an AutofocusCore, and (a C++
    # core) no Python AutoFocus device. The engine hook runs the search at each autofocus event.
    core = UniMMCore(mm_path=str(tmp_path))
    load_simulated_devices(core, slide)
    assert not core.getAutoFocusDevice()
    device = use_software_autofocus(core, search_range_um=40.0, step_um=1.0)
    stacks = stacks_of(core, slide, useq.AxesBasedAF(axes=("p",)))
    assert sorted(stacks) == [0, 1]
    for centre, truth, meta in stacks.values():
        assert abs(centre - truth) <= 1.0
        assert meta["extra"]["autofocus"]["status"] == "focused"
    assert device.last_result is not None and device.last_result.focused
    core.unloadAllDevices()
