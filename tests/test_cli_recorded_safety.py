"""Recorded data: outputs of stacks with the same name do not overwrite each other, one bad
stack does not stop the rest, and a PNG whose name is not valid UTF-8 is read (no SIGSEGV)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from tests.conftest import run_cli as run
from tests.test_stack import focus_stack

import autofocus


def test_stacks_with_the_same_name_get_their_own_outputs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for run_dir in ("run1", "run2"):
        (tmp_path / run_dir).mkdir()
        tifffile.imwrite(tmp_path / run_dir / "stack.tif", focus_stack())
    out = tmp_path / "out"
    args = ["stack", str(tmp_path / "run1" / "stack.tif"), str(tmp_path / "run2" / "stack.tif"),
            "--out", str(out)]
    code, _, err = run(capsys, *args)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == [
        "run1_stack_curve.png", "run1_stack_scores.csv", "run2_stack_curve.png", "run2_stack_scores.csv"]
    code, _, err = run(capsys, *args)  # again: each replaced file is named
    assert code == 0
    assert err.count("autofocus: replacing") == 4


def test_one_bad_stack_does_not_stop_the_rest(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    good_a, bad, good_c = tmp_path / "a.tif", tmp_path / "b.tif", tmp_path / "c.tif"
    tifffile.imwrite(good_a, focus_stack())
    bad.write_bytes(b"not a tiff at all")
    tifffile.imwrite(good_c, focus_stack())
    code, out, err = run(capsys, "stack", str(good_a), str(bad), str(good_c))
    assert code == 1
    assert "a.tif" in out and "c.tif" in out  # c was still scored
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "b.tif" in lines[0]


@pytest.mark.skipif(sys.platform != "linux", reason="file names as raw bytes")
@pytest.mark.parametrize("command", ["stack", "score"])
def test_png_names_that_are_not_utf8_are_read(tmp_path: Path, command: str) -> None:
    folder = tmp_path / "planes"
    folder.mkdir()
    for index, plane in enumerate(focus_stack()):
        name = os.fsencode(folder) + b"/z" + str(index).encode() + b"_\xff\xfe.png"
        ok, data = cv2.imencode(".png", plane)
        assert ok
        with open(name, "wb") as handle:
            handle.write(data.tobytes())
    env = dict(os.environ, PYTHONPATH=str(Path(autofocus.__file__).resolve().parents[1]))
    extra = ["--scheduler", "sync"] if command == "score" else []
    done = subprocess.run([sys.executable, "-c", "from autofocus.cli import main; main()",
                           command, str(folder), *extra], env=env, capture_output=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr  # not -11 / 139 (SIGSEGV)
    assert b"Traceback" not in done.stderr
    if command == "stack":
        assert b"best plane" in done.stdout, done.stdout


def test_a_truncated_stack_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    whole = tmp_path / "whole.tif"
    tifffile.imwrite(whole, focus_stack())
    cut = tmp_path / "cut.tif"
    cut.write_bytes(whole.read_bytes()[:600])
    code, out, err = run(capsys, "stack", str(cut))
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "truncated or damaged" in lines[0], err


def hostile_files(folder: Path) -> dict[str, Path]:
    """The recorded files issue 16's harness tried: each must end in a row or one line, never a
    traceback or a hang; a NaN plane is never focus."""
    stack = focus_stack()
    files: dict[str, Path] = {}

    def tiff(name: str, data: np.ndarray, **options: object) -> None:
        files[name] = folder / name
        tifffile.imwrite(files[name], data, **options)  # type: ignore[arg-type]

    files["empty.tif"] = folder / "empty.tif"
    files["empty.tif"].write_bytes(b"")
    tiff("nan.tif", np.full((8, 32, 32), np.nan, np.float32))
    with_nan = stack.astype(np.float32)
    with_nan[len(stack) // 2 + 3] = np.nan  # beside the true focus, where a search would look
    tiff("nan-plane.tif", with_nan)
    tiff("constant.tif", np.full((8, 32, 32), 7, np.uint16))
    tiff("rgb.tif", np.stack([stack] * 3, axis=-1), photometric="rgb")
    tiff("float.tif", stack.astype(np.float32) / 255)
    tiff("five-d.ome.tif", np.zeros((2, 3, 4, 16, 16), np.uint8), metadata={"axes": "TCZYX"})
    tiff("huge-single-plane.tif", np.zeros((6000, 6000), np.uint8))
    ok, png = cv2.imencode(".png", stack[0])
    assert ok
    files["png-named.tif"] = folder / "png-named.tif"
    files["png-named.tif"].write_bytes(png.tobytes())
    return files


HOSTILE = ["empty.tif", "nan.tif", "nan-plane.tif", "constant.tif", "rgb.tif", "float.tif",
           "five-d.ome.tif", "huge-single-plane.tif", "png-named.tif"]


@pytest.mark.parametrize("name", HOSTILE)
def test_stack_on_hostile_files_is_an_answer_or_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    path = hostile_files(tmp_path)[name]
    code, out, err = run(capsys, "stack", str(path), "--json")
    assert "Traceback" not in err
    if code == 2:
        assert out == "" and len(err.strip().splitlines()) == 1, err
        return
    assert code in (0, 1), err
    result = json.loads(out)
    if name == "nan-plane.tif":
        assert result["best_index"] != len(focus_stack()) // 2 + 3


def test_score_on_hostile_files_gives_each_a_row(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    files = hostile_files(tmp_path)
    code, out, err = run(capsys, "score", *map(str, files.values()), "--scheduler", "sync", "--json")
    assert code == 0 and "Traceback" not in err
    rows = {Path(row["path"]).name: row for row in json.loads(out)["rows"]}
    assert set(rows) == set(HOSTILE)
    for name in ("empty.tif", "nan.tif", "five-d.ome.tif"):
        assert rows[name]["error"] and rows[name]["flagged"], rows[name]
    nan_plane = rows["nan-plane.tif"]
    assert nan_plane["error"] or nan_plane["plane"] != len(focus_stack()) // 2 + 3
