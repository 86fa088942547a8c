"""The live autofocus panel (optional extra ``[gui]``: qtpy with a Qt 6 binding, pyqtgraph).

- :class:`AutofocusWidget`: settings, Run and Stop, the live frame with its ROI, the focus curve
  as it grows, the result with its confidence and reason, and the history of runs; on a
  pymmcore-plus core (the one the MDA and pymmcore-widgets use) or an autofocus ``Microscope``.
- ``autofocus gui [PORT]`` opens it in a window of its own (:mod:`autofocus.gui.app`).
- In napari: the dock widget ``Autofocus`` (:mod:`autofocus.gui.napari_dock`, npe2 manifest
  ``napari.yaml`` beside this file).

Importing this package imports Qt; ``import autofocus`` never does.
"""

from autofocus.errors import install_hint

try:
    import pyqtgraph  # noqa: F401
    import qtpy.QtWidgets  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"the autofocus panel needs Qt and pyqtgraph: {install_hint('gui')} ({exc})",
        name=exc.name,
    ) from exc

from autofocus.gui.widget import AutofocusWidget

__all__ = ["AutofocusWidget"]
