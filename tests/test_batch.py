from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from tests.synthetic import SyntheticFrame
from tests.test_stack import FOCUS_PLANE, focus_stack

from autofocus import batch, cli
from autofocus.batch import (
    FlagRule,
    FrameSource,
    ImageFile,
    MetricSpec,
    ScoredFrame,
    collect_files,
    rank_scores,
    score_and_rank,
    score_collection,
)
from autofocus.errors import InputError
from autofocus.events import ProgressEvent

pytest.importorskip("dask", reason="batch scoring needs the optional 'batch' extra (dask)")

LAPLACIAN = MetricSpec("laplacian")
BLURRED = {3, 8, 13}  # which generated frames are out of focus


def small_frames(count: int = 16) -> list[SyntheticFrame]:
    return [SyntheticFrame(i, width=160, height=120, blur_px=4.0 if i in BLURRED else 0.0)
            for i in range(count)]


@pytest.fixture
def collection(tmp_path: Path) -> Path:
    """Sharp and blurred images on disk: PNGs in two folders and a 16-bit multi-page TIFF."""
    for source in small_frames():
        frame = next(source.frames())
        folder = tmp_path / "images" / ("a" if source.index % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"img{source.index}.png"), frame)
    tifffile.imwrite(tmp_path / "images" / "stack.tif", focus_stack(bits=16, size=120))
    return tmp_path / "images"


def test_sharp_frames_rank_first_and_blurred_ones_are_flagged() -> None:
    report = score_and_rank(small_frames(), LAPLACIAN, FlagRule(), scheduler="sync")
    flagged = {int(row.path.rsplit("-", 1)[1]) for row in report.flagged}
    assert flagged == BLURRED
    assert [row.rank for row in report.rows] == list(range(1, 17))
    scores = [row.score for row in report.rows]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("scheduler", ["threads", "processes"])
def test_local_schedulers_agree_with_the_synchronous_one(scheduler: str) -> None:
    expected = score_collection(small_frames(), LAPLACIAN, scheduler="sync")
    assert score_collection(small_frames(), LAPLACIAN, scheduler=scheduler, workers=2) == expected


def test_sources_are_consumed_a_wave_at_a_time() -> None:
    """A lazy collection is never read ahead by more than one wave: memory stays bounded."""
    pulled: list[int] = []
    consumed_at_event: list[int] = []

    def lazy() -> Iterator[FrameSource]:
        for source in small_frames(40):
            pulled.append(source.index)
            yield source

    def on_event(event: ProgressEvent) -> None:
        consumed_at_event.append(len(pulled))

    rows = score_collection(lazy(), LAPLACIAN, scheduler="threads", workers=1, chunk_size=2,
                            on_event=on_event)
    assert len(rows) == 40
    wave = 2 * 1 * 2  # two tasks per worker, two frames per task
    assert consumed_at_event[0] <= wave + 1
    assert len(consumed_at_event) == 40 // wave


def test_files_folders_and_globs(collection: Path) -> None:
    files = collect_files([str(collection)])
    names = [Path(f.path).name for f in files]
    assert names[:3] == ["img1.png", "img3.png", "img5.png"]  # folder a first, natural order inside
    assert "stack.tif" in names and len(files) == 17
    assert len(collect_files([f"{collection}/a/*.png"])) == 8
    with pytest.raises(InputError):
        collect_files([str(collection / "nothing-*.png")])


def test_a_stack_counts_as_its_best_plane_unless_per_plane(collection: Path) -> None:
    source = [ImageFile(str(collection / "stack.tif"))]
    (best,) = score_collection(source, LAPLACIAN, scheduler="sync")
    assert (best.plane, best.planes) == (FOCUS_PLANE, 15)
    planes = score_collection(source, LAPLACIAN, scheduler="sync", per_plane=True)
    assert [p.plane for p in planes] == list(range(15))
    assert max(planes, key=lambda p: p.score) == best


def test_unreadable_file_is_reported_not_fatal(tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), next(small_frames()[0].frames()))
    report = score_and_rank(collect_files([str(tmp_path)]), LAPLACIAN, FlagRule(), scheduler="sync")
    assert [Path(r.path).name for r in report.rows] == ["good.png", "broken.png"]
    broken = report.rows[-1]
    assert broken.flagged and math.isnan(broken.score) and "cannot read" in broken.error


def test_cli_counts_unreadable_files_apart_and_refuses_a_batch_with_nothing_readable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    code = cli.run_cli(["score", str(bad), "--workers", "1"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "none of the 1 file(s) could be read" in err
    cv2.imwrite(str(tmp_path / "good.png"), next(small_frames()[0].frames()))
    code = cli.run_cli(["score", str(tmp_path), "--workers", "1"])
    err = capsys.readouterr().err
    assert code == 0
    assert "1 frames scored" in err and "0 out of focus" in err and "1 unreadable" in err


def test_absolute_threshold_and_relative_rule() -> None:
    scored = [ScoredFrame(f"f{i}", 0, 1, s) for i, s in enumerate([10.0, 8.0, 3.0, 9.0])]
    relative = rank_scores(scored, FlagRule(relative=0.5), "m")
    assert relative.threshold == pytest.approx(0.5 * 8.5)
    assert [r.path for r in relative.flagged] == ["f2"]
    absolute = rank_scores(scored, FlagRule(absolute=9.5), "m")
    assert {r.path for r in absolute.flagged} == {"f1", "f2", "f3"}
    with pytest.raises(InputError):
        FlagRule(relative=0.0)


def test_cli_csv_json_and_out_file(
    collection: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.run_cli(["score", str(collection), "--workers", "2"])
    captured = capsys.readouterr()
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    assert len(rows) == 17
    assert {Path(r["path"]).name for r in rows if r["flagged"] == "1"} == {f"img{i}.png" for i in BLURRED}
    assert "17 frames scored" in captured.err

    code = cli.run_cli(["score", str(collection), "--json", "--per-plane", "--threshold", "0"])
    data = json.loads(capsys.readouterr().out)
    assert data["frames"] == 16 + 15 and data["flagged"] == 0

    out = tmp_path / "results" / "scores.json"
    assert cli.run_cli(["score", str(collection), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["frames"] == 17


@pytest.mark.parametrize(
    "args",
    [
        ["score", "/no/such/folder"],
        ["score", "COLLECTION", "--scheduler", "quantum"],
        ["score", "COLLECTION", "--metric", "sharpness-please"],
        ["score", "COLLECTION", "--relative", "-1"],
        ["score", "COLLECTION", "--workers", "0"],
        ["score", "COLLECTION", "--chunk-size", "0"],
        ["score", "COLLECTION", "--scheduler", "tcp://127.0.0.1:9"],  # nobody listens there
    ],
)
def test_cli_bad_input_is_exit_2(collection: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "CONNECT_TIMEOUT_S", 1.0)
    code = cli.run_cli([str(collection) if a == "COLLECTION" else a for a in args])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err.startswith("autofocus: error:")


def test_existing_dask_cluster_gives_the_same_result(
    collection: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp://",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        assert cli.run_cli(["score", str(collection), "--json", "--scheduler", address]) == 0
        on_cluster = json.loads(capsys.readouterr().out)
    assert cli.run_cli(["score", str(collection), "--json"]) == 0
    local = json.loads(capsys.readouterr().out)
    assert on_cluster["rows"] == local["rows"]
    assert on_cluster["threshold"] == local["threshold"]
    assert on_cluster["scheduler"] == address and local["scheduler"] == "threads"


def test_synthetic_frames_are_repeatable_and_16_bit_capable() -> None:
    first = next(SyntheticFrame(5, width=64, height=48, bits=16).frames())
    again = next(SyntheticFrame(5, width=64, height=48, bits=16).frames())
    assert first.dtype == np.uint16 and first.shape == (48, 64)
    assert np.array_equal(first, again)
