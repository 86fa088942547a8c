"""The panel's workflow tabs: the focus map's picture and the tracking log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("qtpy.QtWidgets", reason="the panel needs the [gui] extra (qtpy + a Qt binding)")
pytest.importorskip("pyqtgraph", reason="the panel needs the [gui] extra (pyqtgraph)")
pytest.importorskip("pytestqt", reason="the panel's tests need pytest-qt")

from tests.conftest import small_sim
from tests.test_focusmap_plot import synthetic_map

from autofocus.errors import InputError
from autofocus.focusmap_plot import plot_map
from autofocus.gui import AutofocusWidget

# The head and two rows of a log as ``autofocus track --log log.csv`` writes it.
TRACK_CSV = """\
time_point,time_s,position,x_um,y_um,predicted_z_um,z_um,correction_um,final_z_um,frames,status,method,jump
0,0.0,0,,,,10012.2668,,10012.2668,24,focused,search,False
1,60.0,0,,,10012.2668,10022.3458,10.079,10022.3458,27,focused,refocus,True
"""


@pytest.fixture
def panel(qtbot: Any) -> AutofocusWidget:
    widget = AutofocusWidget(small_sim().devices())
    qtbot.addWidget(widget)
    widget.resize(1200, 800)
    return widget


def tab_names(panel: AutofocusWidget) -> list[str]:
    return [panel.tabs.tabText(i) for i in range(panel.tabs.count())]


def test_the_tabs_are_there_and_say_how_to_fill_them(panel: AutofocusWidget) -> None:
    assert tab_names(panel) == ["History", "Focus map", "Tracking log"]
    assert not panel.focus_map_view.has_picture()
    assert "autofocus map" in panel.focus_map_view.picture.text()
    assert panel.tracking_log.row_count() == 0
    assert "autofocus track" in panel.tracking_log.hint.text()


def test_a_focus_map_is_drawn_in_its_tab(qtbot: Any, panel: AutofocusWidget) -> None:
    panel.show()
    qtbot.waitExposed(panel)
    strip = panel.tabs.height()
    panel.show_focus_map(synthetic_map())
    view = panel.focus_map_view
    assert panel.tabs.currentWidget() is view
    assert view.picture_size() == (1320, 550)  # the same picture as map.png
    assert view.caption.text().startswith("20 points, 2 set apart; plane surface through 18 points")
    shown = view.picture.pixmap()
    assert shown is not None and not shown.isNull()
    assert 0 < shown.width() <= view.picture.width()  # scaled into the tab, aspect kept
    assert shown.width() / shown.height() == pytest.approx(1320 / 550, rel=0.02)
    # The tab is given at least half the height, so the picture is big enough to read.
    qtbot.waitUntil(lambda: panel.tabs.height() >= panel._splitter.height() // 2 - 5, timeout=5_000)
    assert panel.tabs.height() > strip


def test_a_saved_map_picture_opens_and_a_bad_file_is_refused(panel: AutofocusWidget,
                                                             tmp_path: Path) -> None:
    path = plot_map(synthetic_map(), tmp_path / "map.png")
    view = panel.focus_map_view
    view.show_picture(path)
    assert view.picture_size() == (1320, 550) and view.caption.text() == str(path)
    (tmp_path / "broken.png").write_bytes(b"not a picture")
    with pytest.raises(InputError):
        view.show_picture(tmp_path / "broken.png")
    assert view.picture_size() == (1320, 550)  # the map shown before stays


def test_the_tracking_log_shows_rows_as_they_come_and_saved_logs(panel: AutofocusWidget,
                                                                 tmp_path: Path) -> None:
    log = panel.tracking_log

    class Row:
        def to_dict(self) -> dict[str, Any]:
            return {"time_point": 2, "z_um": 10012.4251, "method": "refocus", "error_um": None}

    log.add_row({"time_point": 1, "z_um": 10022.3458, "method": "refocus"})
    log.add_row(Row())
    assert log.row_count() == 2 and not log.table.isHidden() and log.hint.isHidden()
    assert log.columns == ["time_point", "z_um", "method", "error_um"]
    assert (log.cell(1, "z_um"), log.cell(1, "error_um"), log.cell(0, "error_um")) == ("1.001e+04", "", "")

    csv_path = tmp_path / "log.csv"
    csv_path.write_text(TRACK_CSV)
    assert log.load_log(csv_path) == 2  # replaces what was shown
    assert log.columns[:3] == ["time_point", "time_s", "position"]
    assert (log.cell(1, "method"), log.cell(1, "correction_um"), log.cell(1, "jump")) == (
        "refocus", "10.079", "True")

    json_path = tmp_path / "log.json"
    json_path.write_text(json.dumps({"summary": {}, "rows": [{"time_point": 0, "status": "focused"}]}))
    assert log.load_log(json_path) == 1 and log.cell(0, "status") == "focused"

    (tmp_path / "bad.json").write_text("{not json")
    for bad in (tmp_path / "bad.json", tmp_path / "missing.csv"):
        with pytest.raises(InputError):
            log.load_log(bad)
    assert log.row_count() == 1  # a refused file leaves the log shown as it was
