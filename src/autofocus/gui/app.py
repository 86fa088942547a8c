"""``autofocus gui [PORT]``: the panel in a window of its own.

On ``sim`` (the default) the simulated microscope starts a millimetre below its focus and the
form holds the tutorial's search (1 mm in 10 µm steps around 10 mm), so Run shows a whole
search with nothing installed but the extra. On a port, the Zaber stage and camera the command
line would open, with the search centred where the stage is.
"""

from __future__ import annotations

import sys

from qtpy.QtWidgets import QApplication

from autofocus.connect import Connection, ConnectOptions, open_microscope
from autofocus.gui.widget import AutofocusWidget

__all__ = ["build_window", "run_app", "simulator_search"]

# The tutorial's demo search (``autofocus demo``): 9.5..10.5 mm in 10 um steps.
SIM_CENTER_UM, SIM_RANGE_UM, SIM_STEP_UM = 10_000.0, 1_000.0, 10.0


def simulator_search(widget: AutofocusWidget) -> None:
    """Fill the form with the demo's search, which contains the simulator's focus."""
    panel = widget.settings_panel
    panel.center.setValue(SIM_CENTER_UM)
    panel.range.setValue(SIM_RANGE_UM)
    panel.step.setValue(SIM_STEP_UM)


def build_window(port: str = "sim", options: ConnectOptions | None = None) -> tuple[AutofocusWidget,
                                                                                    Connection]:
    """The panel on PORT, not yet shown. The caller closes ``connection.microscope``."""
    connection = open_microscope(port, options or ConnectOptions())
    widget = AutofocusWidget(connection.microscope)
    title = f"autofocus on {port}"
    if connection.simulator is not None:
        simulator_search(widget)
        title = (f"autofocus on the simulated microscope (true focus "
                 f"{connection.simulator.true_focus_um:.2f} µm)")
    widget.setWindowTitle(title)
    widget.resize(1400, 800)
    return widget, connection


def run_app(port: str = "sim") -> int:
    """Open the panel and return when its window closes (exit code 0)."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    widget, connection = build_window(port)
    try:
        widget.show()
        widget.snap()
        app.exec()
    finally:
        widget.shutdown()
        connection.microscope.close()
    return 0
