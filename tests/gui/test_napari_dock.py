"""The panel as a napari dock widget, loaded the way napari loads plugins (npe2 manifest)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("qtpy.QtWidgets", reason="the panel needs the [gui] extra (qtpy + a Qt binding)")
pytest.importorskip("pyqtgraph", reason="the panel needs the [gui] extra (pyqtgraph)")
pytest.importorskip("pytestqt", reason="the panel's tests need pytest-qt")
napari = pytest.importorskip(
    "napari", reason="napari is not installed (pip install napari; not part of the [gui] extra)")
npe2 = pytest.importorskip("npe2", reason="napari's plugin engine npe2 is not installed")

import autofocus.gui  # noqa: E402  (after the skips above)
from autofocus.gui.napari_dock import LAYER, AutofocusDock  # noqa: E402

MANIFEST = Path(autofocus.gui.__file__).with_name("napari.yaml")


def test_the_manifest_names_the_dock_widget() -> None:
    manifest = npe2.PluginManifest.from_file(MANIFEST)
    assert manifest.name == "autofocus"
    (widget,) = manifest.contributions.widgets
    assert widget.display_name == "Autofocus"
    (command,) = manifest.contributions.commands
    assert command.python_name == "autofocus.gui.napari_dock:AutofocusDock"


@pytest.fixture
def viewer(qtbot: Any) -> Any:
    view = napari.Viewer(show=False)
    yield view
    view.close()


def has_opengl() -> bool:
    """napari draws layers with OpenGL, which Qt's offscreen platform does not offer (the
    viewer itself and its dock widgets work without it)."""
    from qtpy.QtGui import QGuiApplication

    return QGuiApplication.platformName() != "offscreen"


def test_the_dock_widget_loads_in_a_viewer_and_focuses(qtbot: Any, viewer: Any) -> None:
    if "autofocus" not in npe2.PluginManager.instance():
        pytest.skip("the autofocus plugin is not registered: reinstall the package (pip install -e .)")
    _dock, panel = viewer.window.add_plugin_dock_widget("autofocus", "Autofocus")
    assert isinstance(panel, AutofocusDock)
    assert "simulated microscope" in panel.status.text()  # no Micro-Manager core here
    if not has_opengl():
        panel.frame_shown.disconnect(panel.mirror)  # no layers without OpenGL: see below
    # The demo's search on a full-size simulated frame is slow; a narrower one shows the same.
    panel.settings_panel.range.setValue(200.0)
    with qtbot.waitSignal(panel.run_finished, timeout=120_000) as finished:
        panel.run_button.click()
    assert finished.args[0].outcome == "focused"
    assert panel.curve.point_count() == finished.args[0].frames


def test_the_dock_widget_uses_a_core_it_is_given_and_mirrors_frames(
        qtbot: Any, viewer: Any, core: Any) -> None:
    panel = AutofocusDock(viewer, core=core)
    viewer.window.add_dock_widget(panel, name="Autofocus")
    assert panel.target.core is core
    if not has_opengl():
        # Layers in a window need OpenGL; napari's model of a viewer (its layer list, what the
        # canvas draws from) does not, and is what the dock writes to.
        from napari.components import ViewerModel

        panel.viewer = ViewerModel()
    panel.snap()
    first = panel.viewer.layers[LAYER].data.copy()
    assert first.shape == (256, 256)
    core.setPosition(core.getPosition() + 12.0)  # into focus: another frame
    panel.snap()
    assert [layer.name for layer in panel.viewer.layers] == [LAYER]  # one layer, updated
    assert not np.array_equal(panel.viewer.layers[LAYER].data, first)
