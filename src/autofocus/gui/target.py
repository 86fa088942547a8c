"""What the panel focuses: a pymmcore-plus core or a plain :class:`Microscope`, as one object.

A core is used through :func:`autofocus.devices.micromanager.open_core_microscope`, so the panel
moves the core's *current* focus device and snaps its current camera, exactly what the MDA and
every pymmcore-widgets panel on the same core see. When the core is an
:class:`autofocus.micromanager.AutofocusCore` with a :class:`SoftwareAutofocus` device selected,
the panel starts from that device's properties and writes the settings of each run back to it,
so ``core.fullFocus()`` and the MDA's autofocus do what the user last watched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from autofocus.devices.base import Frame, Microscope
from autofocus.errors import InputError
from autofocus.runner import AutofocusSettings

__all__ = ["Defaults", "FocusTarget"]


def is_core(target: object) -> bool:
    """A pymmcore-plus core, recognised by its API (so this module needs no pymmcore-plus)."""
    return all(hasattr(target, name) for name in ("snapImage", "setPosition", "getFocusDevice"))


@dataclass(frozen=True)
class Defaults:
    """Starting values of the settings form (micrometres, seconds)."""

    center_um: float
    range_um: float = 50.0
    step_um: float = 2.0
    strategy: str | None = None
    metric: str | None = None
    settle_s: float = 0.0
    backlash_um: float = 0.0


class FocusTarget:
    """The microscope behind the panel, and the Micro-Manager AutoFocus device when there is one."""

    def __init__(self, target: Any) -> None:
        self.core: Any = None
        if isinstance(target, Microscope):
            self.microscope = target
        elif is_core(target):
            from autofocus.devices.micromanager import open_core_microscope

            self.core = target
            self.microscope = open_core_microscope(target)
        else:
            raise InputError(
                "the autofocus panel needs a pymmcore-plus core or an autofocus Microscope, "
                f"got {type(target).__name__}"
            )

    @property
    def description(self) -> str:
        return self.microscope.description or type(self.microscope.stage).__name__

    def position_um(self) -> float:
        return self.microscope.stage.position_um()

    def snap(self) -> Frame:
        return self.microscope.camera.grab()

    def autofocus_device(self) -> Any:
        """The core's current :class:`SoftwareAutofocus` device, or None."""
        lookup = getattr(self.core, "software_autofocus", None)  # AutofocusCore only
        return lookup() if lookup is not None else None

    def defaults(self) -> Defaults:
        center = self.position_um()
        device = self.autofocus_device()
        if device is None:
            return Defaults(center_um=center if math.isfinite(center) else 0.0)
        options = device.settings_options()
        return Defaults(center, options["range_um"], options["step_um"], options["strategy"],
                        options["metric"], options["settle_s"], options["backlash_um"])

    def remember(self, settings: AutofocusSettings) -> None:
        """Write a run's settings to the core's AutoFocus device, where it has the property."""
        device = self.autofocus_device()
        if device is None:
            return
        from autofocus.micromanager import BACKLASH, METRIC, RANGE, SETTLE, STEP, STRATEGY

        values: dict[str, float | str] = {
            RANGE: settings.end_um - settings.start_um,
            STEP: settings.step_um,
            STRATEGY: settings.strategy,
            METRIC: settings.metric_name,
            SETTLE: settings.settle_s * 1000.0,
            BACKLASH: settings.backlash_um,
        }
        label = self.core.getAutoFocusDevice()
        for name, value in values.items():
            # Through the core, so property browsers on the same core see the change.
            self.core.setProperty(label, name, value)
