"""``autofocus gui``: the panel in its own window, and one clear line without Qt."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from autofocus.cli import run_cli


def test_without_qt_the_command_names_the_extra_and_exits_2(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in list(sys.modules):
        if name.startswith("autofocus.gui"):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "qtpy", None)  # as on a machine without the extra
    assert run_cli(["gui"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(
        "autofocus: error: the panel needs Qt: pip install -e '.[gui]' in the autofocus clone")
    assert "\n" not in err


def test_a_bad_port_is_refused_before_qt_starts(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["gui", "nowhere"]) == 2
    assert "unknown port 'nowhere'" in capsys.readouterr().err


def test_import_autofocus_and_its_command_line_load_no_qt() -> None:
    """Qt is the optional extra: the package, its command line and the workflows never import
    it (with the extra installed too), and they work where it is missing."""
    import subprocess

    qt = ("qtpy", "PySide6", "PyQt5", "PyQt6", "pyqtgraph")
    code = (
        "import sys\n"
        "import autofocus, autofocus.cli, autofocus.focusmap, autofocus.focusmap_plot\n"
        f"loaded = [m for m in sys.modules if m.split('.')[0] in {qt!r}]\n"
        "assert not loaded, loaded\n"
        f"for name in {qt!r}: sys.modules[name] = None\n"
        "from autofocus.cli import run_cli\n"
        "assert run_cli(['--version']) == 0\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("autofocus ")


def test_autofocus_gui_opens_the_panel_on_the_simulator() -> None:
    """The command itself, in a process of its own (``app.exec()`` ends Qt's application:
    pyqtgraph cleans up on ``aboutToQuit``, so the tests after it in this process would fail)."""
    pytest.importorskip("qtpy.QtWidgets", reason="the panel needs the [gui] extra")
    pytest.importorskip("pyqtgraph", reason="the panel needs the [gui] extra")
    import subprocess

    code = (
        "import os, sys\n"
        "os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        "from qtpy.QtCore import QTimer\n"
        "from qtpy.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from autofocus.cli import run_cli\n"
        "from autofocus.gui import AutofocusWidget\n"
        "def look_and_close():\n"
        "    for w in app.topLevelWidgets():\n"
        "        if isinstance(w, AutofocusWidget) and w.isVisible():\n"
        "            print(w.windowTitle(), w.run_button.isEnabled(), w.live.frame_shape, sep='|')\n"
        "            w.close()\n"
        "    app.quit()  # whatever happened, the command must return\n"
        "QTimer.singleShot(500, look_and_close)\n"
        "print('exit', run_cli(['gui']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    title, ready, frame_shape = done.stdout.splitlines()[0].split("|")
    assert title.startswith("autofocus on the simulated microscope (true focus")
    assert ready == "True"
    assert frame_shape == "(1200, 1920)"  # a frame snapped on opening, the full sensor
    assert done.stdout.splitlines()[-1] == "exit 0"


def test_the_window_on_the_simulator_finds_its_focus(request: pytest.FixtureRequest) -> None:
    pytest.importorskip("qtpy.QtWidgets", reason="the panel needs the [gui] extra")
    pytest.importorskip("pyqtgraph", reason="the panel needs the [gui] extra")
    pytest.importorskip("pytestqt", reason="the panel's tests need pytest-qt")
    qtbot: Any = request.getfixturevalue("qtbot")
    from autofocus.connect import ConnectOptions
    from autofocus.gui.app import build_window
    from autofocus.sim import CameraSpec, SimConfig

    options = ConnectOptions(sim=SimConfig(camera=CameraSpec(width=256, height=256)))
    widget, connection = build_window("sim", options)
    qtbot.addWidget(widget)
    assert connection.simulator is not None
    assert "simulated microscope" in widget.windowTitle()
    with qtbot.waitSignal(widget.run_finished, timeout=60_000) as finished:
        widget.run_button.click()
    record = finished.args[0]
    assert record.outcome == "focused"
    # The demo's 10 um steps around the simulator's focus, 1 mm away at the start.
    assert abs(connection.microscope.stage.position_um() - connection.simulator.true_focus_um) <= 10.0


def test_a_process_that_ran_the_panel_exits_cleanly() -> None:
    """The Qt binding must not corrupt the interpreter (PySide6 6.12.0 did: every run lost
    references to True, and the process aborted at exit)."""
    pytest.importorskip("qtpy.QtWidgets", reason="the panel needs the [gui] extra")
    pytest.importorskip("pyqtgraph", reason="the panel needs the [gui] extra")
    import subprocess

    code = (
        "import os\n"
        "os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        "from qtpy.QtCore import QEventLoop\n"
        "from qtpy.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from autofocus.connect import ConnectOptions\n"
        "from autofocus.gui.app import build_window\n"
        "from autofocus.sim import CameraSpec, SimConfig\n"
        "options = ConnectOptions(sim=SimConfig(camera=CameraSpec(width=128, height=128)))\n"
        "widget, connection = build_window('sim', options)\n"
        "widget.show()\n"
        "loop = QEventLoop()\n"
        "widget.run_finished.connect(lambda record: loop.quit())\n"
        "for _ in range(2):\n"
        "    widget.run()\n"
        "    loop.exec()\n"
        "print(widget.history.records[-1].outcome)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "focused"
