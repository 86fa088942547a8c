"""The package's public surface: what ``import autofocus`` gives, and what it costs."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version

import autofocus


def test_public_names_resolve_and_are_the_real_objects() -> None:
    from autofocus import devices, errors, runner  # noqa: F401  (devices is a namespace package)
    from autofocus.devices import base

    for name in autofocus.__all__:
        assert getattr(autofocus, name) is not None, name
    assert autofocus.run_autofocus is runner.run_autofocus
    assert autofocus.AutofocusSettings is runner.AutofocusSettings
    assert autofocus.Microscope is base.Microscope
    assert autofocus.DeviceError is errors.DeviceError
    assert autofocus.__version__ == version("autofocus")


def test_import_autofocus_is_cheap_and_needs_no_optional_library() -> None:
    blocked = ["zaber_motion", "pymmcore_plus", "harvesters", "microscope", "dask", "PySpin",
               "matplotlib", "tifffile", "typer", "rich"]
    code = (
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        "import autofocus\n"
        "assert 'cv2' not in sys.modules, 'import autofocus loaded OpenCV'\n"
        "assert 'autofocus.runner' not in sys.modules\n"
        "from autofocus import run_autofocus, AutofocusSettings, Microscope, Stage, Camera\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
