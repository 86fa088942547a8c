from __future__ import annotations

import sys

import pytest

from autofocus.connect import ConnectOptions, open_camera, open_microscope, split_camera_spec
from autofocus.errors import InputError
from autofocus.sim import SimConfig
from autofocus.sim.camera import CameraSpec

SMALL = SimConfig(camera=CameraSpec(width=64, height=64))


def test_sim_port_gives_the_simulator_and_its_devices() -> None:
    connection = open_microscope("sim", ConnectOptions(sim=SMALL))
    assert connection.simulator is not None
    assert connection.microscope.stage is connection.simulator.stage
    assert connection.microscope.camera.grab().shape == (64, 64)


@pytest.mark.parametrize("spec", ["webcam", "sim:1", "genicam2:x", ""])
def test_unknown_camera_families_are_input_errors(spec: str) -> None:
    with pytest.raises(InputError, match="unknown camera"):
        open_camera(spec)


def test_camera_options_without_a_target_keep_their_family() -> None:
    assert split_camera_spec("spinnaker?exposure_ms=5") == ("spinnaker", "?exposure_ms=5")
    assert split_camera_spec("genicam:/x/y.cti") == ("genicam", "/x/y.cti")
    assert split_camera_spec("opencv:0") == ("opencv", "0")


def test_a_missing_optional_library_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "autofocus.devices.zaber", raising=False)
    monkeypatch.setitem(sys.modules, "zaber_motion", None)  # makes 'import zaber_motion' fail
    with pytest.raises(InputError, match=r"pip install -e '\.\[zaber\]' in the autofocus clone"):
        open_microscope("tcp://127.0.0.1:1", ConnectOptions())


def test_import_autofocus_needs_no_hardware_library() -> None:
    import subprocess

    blocked = ["zaber_motion", "pymmcore_plus", "harvesters", "microscope", "dask", "PySpin",
               "qtpy", "PySide6", "PyQt5", "PyQt6", "pyqtgraph", "napari"]  # Qt: only autofocus.gui
    code = (
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        "import autofocus, autofocus.cli, autofocus.runner, autofocus.sim\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
