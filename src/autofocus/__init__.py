"""autofocus: bring a microscope into focus by itself.

The public surface: :func:`run_autofocus` with :class:`AutofocusSettings` on a :class:`Microscope`
(a :class:`Stage` and a :class:`Camera`) for live hardware, :func:`find_focus` for a search on any
probe, the result and curve types, and the errors. ``import autofocus`` needs only the core
dependencies and stays cheap: the runner (and with it OpenCV) loads on first use of its names.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from autofocus.curve import FocusCurve, Peak, Sample
from autofocus.devices.base import Camera, ContinuousStage, Microscope, Stage
from autofocus.errors import (
    AutofocusError,
    CameraError,
    DeviceError,
    FocusNotFound,
    InputError,
    LimitError,
    SearchTimeout,
    StageError,
)
from autofocus.result import FocusResult
from autofocus.search import find_focus

if TYPE_CHECKING:
    from autofocus.runner import AutofocusSettings, run_autofocus

__all__ = [
    "AutofocusError",
    "AutofocusSettings",
    "Camera",
    "CameraError",
    "ContinuousStage",
    "DeviceError",
    "FocusCurve",
    "FocusNotFound",
    "FocusResult",
    "InputError",
    "LimitError",
    "Microscope",
    "Peak",
    "Sample",
    "SearchTimeout",
    "Stage",
    "StageError",
    "__version__",
    "find_focus",
    "run_autofocus",
]

try:
    __version__ = version("autofocus")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

_LAZY = {"AutofocusSettings": "autofocus.runner", "run_autofocus": "autofocus.runner"}


def __getattr__(name: str) -> Any:
    """Names whose modules import OpenCV, loaded when first asked for (PEP 562)."""
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'autofocus' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
