"""``autofocus map`` on the simulator: outputs written, bad input refused before anything opens."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from tests.conftest import run_cli as run

from autofocus.surface import SurfaceFit


@pytest.mark.timeout(300)
def test_map_writes_the_map_the_picture_and_the_tiles(capsys: pytest.CaptureFixture[str],
                                                      tmp_path: Path) -> None:
    code, out, err = run(capsys, "map", "9.98", "10.05", "0.002", "sim", "--region", "10,10,11,10.6",
                         "--grid", "2x2", "--window-um", "15", "--out", str(tmp_path), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert len(data["points"]) == 4 and data["model"] in ("constant", "plane")
    for point, truth in zip(data["points"], data["sim_true_focus_um"], strict=True):
        assert abs(point["z_um"] - truth) < 1.0
    assert (tmp_path / "map.png").stat().st_size > 10_000
    # map.json: every point's residual, the model, its leave-one-out error; the surface rebuilds.
    saved = json.loads((tmp_path / "map.json").read_text())
    assert saved["model"] == data["model"] and saved["set_apart"] == []
    assert all(p["residual_um"] is not None and abs(p["residual_um"]) < 1.0 for p in saved["points"])
    assert saved["loo_rms_um"] is not None and 0 <= saved["loo_rms_um"] < 1.0
    surface = SurfaceFit.from_dict(saved["surface"])
    rows = list(csv.DictReader((tmp_path / "tiles.csv").open()))
    assert len(rows) > 4 and set(rows[0]) == {"row", "col", "x_um", "y_um", "z_um"}
    listed = json.loads((tmp_path / "tiles.json").read_text())
    assert len(listed) == len(rows)
    useq = json.loads((tmp_path / "tiles-useq.json").read_text())
    assert len(useq["stage_positions"]) == len(rows)
    for row, tile, position in zip(rows, listed, useq["stage_positions"], strict=True):
        x, y, z = float(row["x_um"]), float(row["y_um"]), float(row["z_um"])
        assert 10_000 <= x <= 11_000 and 10_000 <= y <= 10_600  # inside the region
        assert z == pytest.approx(surface.z_at(x, y), abs=1e-3)  # every tile's z from the map
        assert (tile["x_um"], tile["y_um"], tile["z_um"]) == pytest.approx((x, y, z), abs=1e-3)
        assert (position["x"], position["y"], position["z"]) == pytest.approx((x, y, z), abs=1e-3)




@pytest.mark.parametrize("extra", [
    ["--region", "10,10,11"],            # three numbers
    ["--region", "11,10,10,11"],         # corners the wrong way round
    ["--region", "10,10,11,11", "--grid", "0x3"],
    ["--region", "10,10,11,11", "--model", "cubic"],
    ["--region", "10,10,11,11", "--window-um", "0"],
    ["--region", "10,10,11,11", "--later-strategy", "guess"],
    ["--region", "10,10,11,11", "--z-clearance-um", "nan"],
    ["--region", "10,10,11,11", "--points", "no-such-file.csv"],
    ["--region", "10,10,11,11", "--tile-mm", "0.3"],
    ["--region", "10,10,11,11", "--tile-mm", "0,0"],           # no size: refused before, not after
    ["--region", "10,10,11,11", "--tile-mm", "1e-9,1e-9"],     # 1e18 tiles would fill memory
    ["--region", "10,10,11,11", "--grid", "100000x100000"],    # 1e10 points likewise
])
def test_bad_map_input_exits_2_before_anything_opens(capsys: pytest.CaptureFixture[str],
                                                     no_devices: list[str], extra: list[str]) -> None:
    code, _, err = run(capsys, "map", "9.9", "10.1", "0.005", "sim", *extra)
    assert code == 2, err
    assert err.startswith("autofocus: error:") and err.count("\n") == 1
    assert no_devices == []


def test_an_out_folder_that_cannot_be_written_is_refused_before_anything_opens(
        capsys: pytest.CaptureFixture[str], no_devices: list[str], tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where the output folder would be")
    code, _, err = run(capsys, "map", "9.9", "10.1", "0.005", "sim", "--region", "10,10,11,11",
                       "--out", str(tmp_path / "blocker" / "map"))
    assert code == 2, err
    assert err.startswith("autofocus: error: --out") and err.count("\n") == 1
    assert no_devices == []
