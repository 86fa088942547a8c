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
    assert err.startswith("autofocus: error: the panel needs Qt: pip install 'autofocus[gui]'")
    assert "\n" not in err


def test_a_bad_port_is_refused_before_qt_starts(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["gui", "nowhere"]) == 2
    assert "unknown port 'nowhere'" in capsys.readouterr().err


def test_the_window_on_the_simulator_finds_its_focus(request: pytest.FixtureRequest) -> None:
    pytest.importorskip("qtpy.QtWidgets", reason="the panel needs the [gui] extra")
    pytest.importorskip("pyqtgraph", reason="the panel needs the [gui] extra")
    pytest.importorskip("pytestqt", reason="the panel's tests need pytest-qt")
    qtbot: Any = request.getfixturevalue("qtbot")
    from autofocus.devices.connect import ConnectOptions
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
