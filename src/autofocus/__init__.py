"""autofocus: bring a microscope into focus by itself."""

from autofocus.curve import FocusCurve, Peak, Sample
from autofocus.errors import (
    AutofocusError,
    CameraError,
    FocusNotFound,
    InputError,
    LimitError,
    StageError,
)
from autofocus.result import FocusResult
from autofocus.search import find_focus

__all__ = [
    "AutofocusError",
    "CameraError",
    "FocusCurve",
    "FocusNotFound",
    "FocusResult",
    "InputError",
    "LimitError",
    "Peak",
    "Sample",
    "StageError",
    "find_focus",
]
__version__ = "0.1.0"
