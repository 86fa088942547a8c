"""The panel as a napari dock widget (npe2 manifest ``napari.yaml``: Plugins > Autofocus).

It focuses the global pymmcore-plus core that napari-micromanager and pymmcore-widgets share
(``CMMCorePlus.instance()``) when that core has a camera and a focus device, and the simulated
microscope otherwise, so the panel can be tried in a bare napari. Every frame it shows is
mirrored into the image layer ``autofocus live``.
"""

from __future__ import annotations

import sys
from typing import Any

from autofocus.connect import ConnectOptions, open_microscope
from autofocus.frames import Frame
from autofocus.gui.app import simulator_search
from autofocus.gui.widget import AutofocusWidget

__all__ = ["LAYER", "AutofocusDock"]

LAYER = "autofocus live"


def shared_core() -> Any:
    """The process-wide Micro-Manager core, when something in this process uses pymmcore-plus
    (napari-micromanager, pymmcore-widgets) and the core has a camera and a focus device;
    else None. A bare napari gets no core made for it."""
    if "pymmcore_plus" not in sys.modules:
        return None
    from pymmcore_plus import CMMCorePlus

    core = CMMCorePlus.instance()
    return core if core.getCameraDevice() and core.getFocusDevice() else None


class AutofocusDock(AutofocusWidget):
    """:class:`AutofocusWidget` in a napari viewer (napari passes ``napari_viewer``)."""

    def __init__(self, napari_viewer: Any, core: Any = None) -> None:
        core = core if core is not None else shared_core()
        connection = None if core is not None else open_microscope("sim", ConnectOptions())
        super().__init__(core if connection is None else connection.microscope, stacked=True)
        if connection is not None:
            simulator_search(self)
            self.status.setText("no Micro-Manager core with a camera and a focus device: "
                                "on the simulated microscope")
        self.viewer = napari_viewer
        self.frame_shown.connect(self.mirror)

    def mirror(self, frame: Frame) -> None:
        """Show ``frame`` in the viewer's layer ``autofocus live`` (made on the first frame)."""
        if LAYER in self.viewer.layers:
            self.viewer.layers[LAYER].data = frame
        else:
            self.viewer.add_image(frame, name=LAYER)
