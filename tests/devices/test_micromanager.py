"""The Micro-Manager adapters, `focus(core)` and the software AutoFocus device on a real
pymmcore-plus UniMMCore with the simulated microscope loaded as pure-Python devices."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("pymmcore_plus")

from pymmcore_plus.experimental.unicore import UniMMCore
from tests.conftest import small_sim

from autofocus.devices.micromanager import MMCamera, MMStage, open_core_microscope
from autofocus.errors import CameraError, InputError, StageError
from autofocus.events import ProgressEvent
from autofocus.micromanager import (
    AutofocusCore,
    SoftwareAutofocus,
    focus,
    install_software_autofocus,
)
from autofocus.sim.mmdevices import SimulatedSlide, load_simulated_devices

START_UM = 10_000.0


@pytest.fixture
def slide() -> SimulatedSlide:
    return SimulatedSlide(small_sim(start_um=START_UM))




def test_stage_adapter_moves_the_current_focus_device(core: AutofocusCore, slide: SimulatedSlide) -> None:
    stage = MMStage(core)
    assert stage.label == "Z"
    assert stage.position_um() == pytest.approx(START_UM)
    stage.move_to_um(10_005.5)
    assert core.getPosition() == pytest.approx(10_005.5)
    assert slide.sim.stage.position_um() == pytest.approx(10_005.5)


def test_stage_errors_become_stage_error(core: AutofocusCore) -> None:
    with pytest.raises(StageError, match="setPosition"):
        MMStage(core).move_to_um(-1e9)  # beyond the simulated stage's travel
    with pytest.raises(StageError, match="no focus device"):
        MMStage(_NoDevicesCore()).position_um()


def test_camera_adapter_snaps_from_the_current_camera(core: AutofocusCore) -> None:
    camera = MMCamera(core)
    frame = camera.grab()
    assert frame.shape == (256, 256)
    assert frame.dtype == np.uint8
    assert camera.exposure_s == pytest.approx(core.getExposure() / 1000)


def test_camera_with_explicit_label_restores_the_current_camera(
    core: AutofocusCore, slide: SimulatedSlide
) -> None:
    second = SimulatedSlide(small_sim(start_um=START_UM)).devices()["Camera"]
    core.loadPyDevice("Camera2", second)
    core.initializeDevice("Camera2")
    assert MMCamera(core, "Camera2").grab().shape == (256, 256)
    assert core.getCameraDevice() == "Camera"


def test_camera_errors_and_colour_frames() -> None:
    with pytest.raises(CameraError, match="snapImage failed"):
        MMCamera(_FakeCore(fail=True)).grab()
    rgb = MMCamera(_FakeCore()).grab()
    assert rgb.shape == (4, 5)
    # The one grey formula of autofocus.frames.to_grey (Rec. 601), at the frame's own depth.
    assert rgb.dtype == np.uint8
    assert rgb[0, 0] == round(0.299 * 10 + 0.587 * 20 + 0.114 * 30)


def test_open_core_microscope_rejects_other_objects() -> None:
    with pytest.raises(InputError, match="CMMCorePlus"):
        open_core_microscope(object())  # type: ignore[arg-type]


def test_focus_finds_the_true_focus_and_stays_there(core: AutofocusCore, slide: SimulatedSlide) -> None:
    events: list[ProgressEvent] = []
    result = focus(core, range_um=40.0, step_um=1.0, on_event=events.append)
    assert result.focused, result.reason
    assert result.best_z_um is not None
    assert abs(result.best_z_um - slide.true_focus_um(0, 0)) <= 1.0
    assert core.getPosition() == pytest.approx(result.best_z_um)
    assert events[0].kind == "start" and events[-1].kind == "done"


def test_focus_around_an_explicit_centre(core: AutofocusCore, slide: SimulatedSlide) -> None:
    core.setPosition(9_900.0)
    result = focus(core, 30.0, 1.0, center_um=10_010.0)
    assert result.focused
    assert min(s.z_um for s in result.curve.samples) >= 9_995.0 - 1e-6


def test_focus_on_an_empty_field_returns_to_start(tmp_path: Path) -> None:
    mmc = AutofocusCore(mm_path=str(tmp_path))
    load_simulated_devices(mmc, SimulatedSlide(small_sim(start_um=START_UM, specimen="empty")))
    try:
        result = focus(mmc, 20.0, 2.0)
        assert not result.focused
        assert result.reason
        assert mmc.getPosition() == pytest.approx(START_UM)
    finally:
        mmc.unloadAllDevices()


def test_focus_rejects_unknown_options(core: AutofocusCore) -> None:
    with pytest.raises(InputError, match="focus"):
        focus(core, 20.0, 1.0, no_such_option=1)
    with pytest.raises(InputError):
        focus(core, -5.0, 1.0)
    assert core.getPosition() == pytest.approx(START_UM)


def test_software_autofocus_is_the_cores_autofocus_device(core: AutofocusCore) -> None:
    device = install_software_autofocus(core, search_range_um=40.0, step_um=1.0)
    assert core.getAutoFocusDevice() == "SoftwareAutofocus"
    assert core.getLoadedDevicesOfType(device.type()) == ("SoftwareAutofocus",)
    assert core.getProperty("SoftwareAutofocus", "Step_um") == pytest.approx(1.0)
    assert not core.isContinuousFocusEnabled()
    assert not core.isContinuousFocusLocked()
    core.enableContinuousFocus(False)  # the MDA engine does this before every autofocus
    with pytest.raises(RuntimeError, match="continuous"):
        core.enableContinuousFocus(True)


def test_full_focus_moves_to_focus_and_applies_the_offset(
    core: AutofocusCore, slide: SimulatedSlide
) -> None:
    device = install_software_autofocus(core, search_range_um=40.0, step_um=1.0)
    core.fullFocus()
    focused_z = core.getPosition()
    assert abs(focused_z - slide.true_focus_um(0, 0)) <= 1.0
    assert device.last_result is not None and device.last_result.focused
    assert core.getLastFocusScore() == pytest.approx(device.last_result.score)
    assert core.getCurrentFocusScore() > 0

    core.setAutoFocusOffset(3.0)
    assert core.getAutoFocusOffset() == pytest.approx(3.0)
    core.setPosition(START_UM)
    core.fullFocus()
    second = device.last_result
    assert second is not None and second.final_z_um is not None
    assert abs(second.final_z_um - focused_z) <= 1.0
    assert core.getPosition() == pytest.approx(second.final_z_um + 3.0)


def test_incremental_focus_searches_a_narrower_window(core: AutofocusCore) -> None:
    device = install_software_autofocus(core, search_range_um=40.0, step_um=1.0)
    core.setPosition(10_010.0)
    core.incrementalFocus()
    assert device.last_result is not None
    z = [s.z_um for s in device.last_result.curve.samples]
    assert max(z) - min(z) <= 10.0 + 1e-6


def test_full_focus_failure_is_a_runtime_error_and_the_stage_returns(tmp_path: Path) -> None:
    mmc = AutofocusCore(mm_path=str(tmp_path))
    load_simulated_devices(mmc, SimulatedSlide(small_sim(start_um=START_UM, specimen="empty")))
    try:
        install_software_autofocus(mmc, search_range_um=20.0, step_um=2.0)
        with pytest.raises(RuntimeError, match="software autofocus"):
            mmc.fullFocus()
        assert mmc.getPosition() == pytest.approx(START_UM)
    finally:
        mmc.unloadAllDevices()


def test_properties_are_validated(core: AutofocusCore) -> None:
    install_software_autofocus(core)
    with pytest.raises(ValueError, match="not allowed"):
        core.setProperty("SoftwareAutofocus", "Strategy", "no-such-strategy")
    with pytest.raises(ValueError):
        core.setProperty("SoftwareAutofocus", "Step_um", -1.0)
    core.setProperty("SoftwareAutofocus", "SearchRange_um", "30")
    device_options = _device(core).settings_options()
    assert device_options["range_um"] == pytest.approx(30.0)


def test_unloading_or_switching_away_falls_back_to_the_cpp_core(core: AutofocusCore) -> None:
    install_software_autofocus(core)
    core.setAutoFocusDevice("")
    assert core.getAutoFocusDevice() == ""
    with pytest.raises(RuntimeError):
        core.fullFocus()  # C++ core: no AutoFocus device
    core.setAutoFocusDevice("SoftwareAutofocus")
    core.unloadDevice("SoftwareAutofocus")
    assert core.getAutoFocusDevice() == ""


def test_install_needs_an_autofocus_core(tmp_path: Path) -> None:
    plain = UniMMCore(mm_path=str(tmp_path))
    with pytest.raises(InputError, match="AutofocusCore"):
        install_software_autofocus(plain)  # type: ignore[arg-type]


def test_loading_by_module_and_class_name(core: AutofocusCore) -> None:
    # Micro-Manager configuration files name devices this way.
    core.loadDevice("AF", "autofocus.micromanager", "SoftwareAutofocus")
    core.initializeDevice("AF")
    core.setAutoFocusDevice("AF")
    assert core.getAutoFocusDevice() == "AF"


def test_configuration_file_loads_and_selects_the_device(tmp_path: Path) -> None:
    config = tmp_path / "autofocus.cfg"
    config.write_text(
        "#py pyDevice,SoftwareAutofocus,autofocus.micromanager,SoftwareAutofocus\n"
        "Property,Core,Initialize,1\n"
        "#py Property,SoftwareAutofocus,Step_um,0.5\n"
        "#py Property,Core,AutoFocus,SoftwareAutofocus\n"
    )
    mmc = AutofocusCore(mm_path=str(tmp_path))
    try:
        mmc.loadSystemConfiguration(str(config))
        assert mmc.getAutoFocusDevice() == "SoftwareAutofocus"
        assert float(mmc.getProperty("SoftwareAutofocus", "Step_um")) == pytest.approx(0.5)
    finally:
        mmc.unloadAllDevices()


def _device(core: AutofocusCore) -> SoftwareAutofocus:
    device = core._software()  # the test may look inside
    assert device is not None
    return device


class _NoDevicesCore:
    """Just enough of a core to have no focus device and no camera."""

    def getFocusDevice(self) -> str:
        return ""

    def getCameraDevice(self) -> str:
        return ""


class _FakeCore:
    """A camera-only core delivering RGB frames, or failing."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def getCameraDevice(self) -> str:
        return "Cam"

    def snapImage(self) -> None:
        if self.fail:
            raise RuntimeError("Error in device \"Cam\": timeout")

    def getImage(self) -> Any:
        image = np.zeros((4, 5, 4), dtype=np.uint8)
        image[..., 0], image[..., 1], image[..., 2] = 10, 20, 30
        return image


def test_autofocus_imports_without_the_optional_libraries() -> None:
    # Block the optional packages in a fresh interpreter: the core must not need them, and our
    # modules must say which extra to install.
    code = (
        "import sys\n"
        "for name in ('pymmcore_plus', 'useq', 'microscope', 'Pyro4'): sys.modules[name] = None\n"
        "import autofocus, autofocus.runner, autofocus.sim\n"
        "for module, extra in (('autofocus.micromanager', 'micromanager'),\n"
        "                      ('autofocus.devices.pymicroscope', 'pymicroscope')):\n"
        "    try:\n"
        "        __import__(module)\n"
        "    except ImportError as exc:\n"
        "        assert f'autofocus[{extra}]' in str(exc), exc\n"
        "    else:\n"
        "        raise AssertionError(module)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
