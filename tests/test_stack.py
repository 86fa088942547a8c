from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from tests.conftest import run_cli as run

from autofocus.errors import InputError
from autofocus.events import ProgressEvent
from autofocus.readers import natural_key, open_stack
from autofocus.stack import find_best_plane, plane_at

FOCUS_PLANE = 7
PLANES = 15


def focus_stack(planes: int = PLANES, focus: int = FOCUS_PLANE, bits: int = 8, size: int = 96,
                seed: int = 0) -> np.ndarray:
    """A z-stack of one random texture, blurred more the further a plane is from ``focus``."""
    rng = np.random.default_rng(seed)
    texture = cv2.GaussianBlur(rng.random((size, size), dtype=np.float32), (0, 0), 1.0)
    texture = (texture - texture.min()) / (texture.max() - texture.min())
    top = 255 if bits == 8 else 60_000  # 16-bit values far above 255 catch any silent 8-bit cast
    out = []
    for index in range(planes):
        sigma = 0.8 * abs(index - focus)
        plane = cv2.GaussianBlur(texture, (0, 0), sigma) if sigma else texture
        out.append(np.rint(plane * top))
    return np.stack(out).astype(np.uint8 if bits == 8 else np.uint16)




@pytest.mark.parametrize("bits", [8, 16])
def test_best_plane_of_a_tiff_stack_at_its_own_bit_depth(tmp_path: Path, bits: int) -> None:
    data = focus_stack(bits=bits)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, data)
    with open_stack(path) as stack:
        assert len(stack) == PLANES
        assert np.array_equal(stack.plane(3), data[3])  # lossless, same dtype
        assert stack.plane(3).dtype == data.dtype
    result = find_best_plane(path)
    assert result.focused, result.reason
    assert result.best_index == FOCUS_PLANE
    assert result.best_plane == pytest.approx(FOCUS_PLANE, abs=0.5)
    assert result.dtype == str(data.dtype)
    assert result.best_z_um is None  # no spacing anywhere: plane numbers only
    assert result.z_source == "none"
    assert len(result.scores) == PLANES


def test_imagej_spacing_gives_z_in_micrometres(tmp_path: Path) -> None:
    path = tmp_path / "imagej.tif"
    tifffile.imwrite(path, focus_stack(bits=16), imagej=True, metadata={"spacing": 0.25, "unit": "um"})
    result = find_best_plane(path)
    assert result.z_source == "metadata"
    assert result.z_step_um == pytest.approx(0.25)
    assert result.best_z_um == pytest.approx(FOCUS_PLANE * 0.25, abs=0.125)
    assert result.z_um[1] == pytest.approx(0.25)


def test_ome_physical_size_z_in_nanometres(tmp_path: Path) -> None:
    path = tmp_path / "stack.ome.tif"
    tifffile.imwrite(path, focus_stack(), ome=True,
                     metadata={"axes": "ZYX", "PhysicalSizeZ": 500.0, "PhysicalSizeZUnit": "nm"})
    with open_stack(path) as stack:
        assert stack.z_source == "metadata"
        assert stack.z_step_um == pytest.approx(0.5)


def test_user_z_step_overrides_metadata(tmp_path: Path) -> None:
    path = tmp_path / "imagej.tif"
    tifffile.imwrite(path, focus_stack(), imagej=True, metadata={"spacing": 0.25, "unit": "um"})
    result = find_best_plane(path, z_step_um=2.0)
    assert result.z_source == "user"
    assert result.best_z_um == pytest.approx(FOCUS_PLANE * 2.0, abs=1.0)


def test_folder_and_glob_of_16_bit_pngs_in_natural_order(tmp_path: Path) -> None:
    data = focus_stack(bits=16)
    folder = tmp_path / "planes"
    folder.mkdir()
    for index, plane in enumerate(data):
        cv2.imwrite(str(folder / f"z{index}.png"), plane)  # z2 must come before z10
    (folder / "notes.txt").write_text("not an image")
    for where in (folder, f"{folder}/z*.png"):
        with open_stack(where) as stack:
            assert len(stack) == PLANES
            assert np.array_equal(stack.plane(10), data[10])
        result = find_best_plane(where)
        assert result.best_index == FOCUS_PLANE
        assert result.dtype == "uint16"


def test_natural_key_orders_numbers_by_value() -> None:
    names = [Path(n) for n in ("f10.png", "f2.png", "F1.png")]
    assert [p.name for p in sorted(names, key=natural_key)] == ["F1.png", "f2.png", "f10.png"]


def test_flat_stack_is_not_found_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "flat.tif"
    tifffile.imwrite(path, np.full((6, 32, 32), 100, dtype=np.uint16))
    result = find_best_plane(path)
    assert result.status == "not_found"
    assert result.reason
    assert result.best_index is None and result.best_z_um is None


def test_progress_events_one_per_plane(tmp_path: Path) -> None:
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, focus_stack())
    events: list[ProgressEvent] = []
    find_best_plane(path, on_event=events.append)
    assert [e.frame for e in events] == list(range(1, PLANES + 1))
    assert all(e.expected_frames == PLANES for e in events)


def test_plane_at_handles_stacks_recorded_downwards() -> None:
    assert plane_at(np.array([3.0, 2.0, 1.0, 0.0]), 0.5) == pytest.approx(2.5)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("single.tif", np.zeros((32, 32), np.uint8)),  # one plane: nothing to compare, but not a crash
        ("hyper.tif", np.zeros((3, 2, 16, 16), np.uint8)),  # T and Z: not one stack
    ],
)
def test_unusable_tiffs(tmp_path: Path, name: str, data: np.ndarray) -> None:
    path = tmp_path / name
    tifffile.imwrite(path, data, metadata={"axes": "TZYX"} if data.ndim == 4 else None)
    if data.ndim == 4:
        with pytest.raises(InputError, match="not one z-stack"):
            open_stack(path)
    else:
        assert find_best_plane(path).status == "not_found"


def test_cli_json_and_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = tmp_path / "a.tif", tmp_path / "b.ome.tif"
    tifffile.imwrite(first, focus_stack(focus=4))
    tifffile.imwrite(second, focus_stack(focus=9, bits=16))
    code, out, _ = run(capsys, "stack", str(first), str(second), "--json", "--out", str(tmp_path / "out"))
    assert code == 0
    objects = [json.loads(line) for line in out.splitlines()]
    assert [o["best_index"] for o in objects] == [4, 9]
    for key in ("path", "status", "best_index", "best_z_um", "scores", "confidence", "reason"):
        assert key in objects[0]
    assert (tmp_path / "out" / "a_curve.png").stat().st_size > 0
    with (tmp_path / "out" / "b_scores.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == PLANES
    assert [r["plane"] for r in rows if r["best"] == "1"] == ["9"]


def test_cli_text_z_step_and_not_found_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, flat = tmp_path / "good.tif", tmp_path / "flat.tif"
    tifffile.imwrite(good, focus_stack())
    tifffile.imwrite(flat, np.zeros((5, 16, 16), np.uint8))
    code, out, _ = run(capsys, "stack", str(good), "--z-step-um", "0.5")
    assert code == 0
    assert f"best plane {FOCUS_PLANE} of {PLANES}" in out and "um" in out
    code, out, _ = run(capsys, "stack", str(good), str(flat))
    assert code == 1
    assert "focus not found" in out


@pytest.mark.parametrize(
    "args",
    [
        ["stack", "/no/such/stack.tif"],
        ["stack", "IMAGE"],  # a single PNG is not a stack
        ["stack", "STACK", "--metric", "sharpness-please"],
        ["stack", "STACK", "--mode", "x-ray"],
        ["stack", "STACK", "--z-step-um", "0"],
        ["stack", "STACK", "--z-step-um", "nan"],
        ["stack", "STACK", "--blur", "4"],
    ],
)
def test_cli_bad_input_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    image, stack = tmp_path / "one.png", tmp_path / "stack.tif"
    cv2.imwrite(str(image), focus_stack()[0])
    tifffile.imwrite(stack, focus_stack())
    swap = {"IMAGE": str(image), "STACK": str(stack)}
    code, out, err = run(capsys, *(swap.get(a, a) for a in args))
    assert code == 2
    assert out == ""
    assert err.startswith("autofocus: error:") and len(err.strip().splitlines()) == 1


def test_transparent_mode_reads_the_dip_between_two_humps(tmp_path: Path) -> None:
    """A phase object: contrast is lowest at focus and peaks on both sides of it."""
    texture = focus_stack(planes=1, focus=0, bits=16)[0].astype(float) - 30_000
    distance = np.abs(np.arange(21) - 10)
    contrast = 0.05 + np.exp(-(((distance - 5) / 2.0) ** 2))
    data = np.stack([30_000 + c * texture for c in contrast]).clip(0, 65_535).astype(np.uint16)
    path = tmp_path / "phase.tif"
    tifffile.imwrite(path, data)
    result = find_best_plane(path, mode="transparent")
    assert result.focused, result.reason
    assert result.best_index == 10
    assert result.sharpest_index != 10  # the plain "sharpest plane" would be a hump


def test_sparse_stack_with_two_sharp_neighbours_is_focused(tmp_path: Path) -> None:
    """Six planes, two of them in focus (as in the real brightfield set): enough for a stack."""
    sharp = focus_stack(planes=1, focus=0)[0]
    blurred = cv2.GaussianBlur(sharp, (0, 0), 4.0)  # far from focus: the peak is 2 planes wide
    data = np.stack([blurred, blurred, sharp, sharp, blurred, blurred])
    path = tmp_path / "sparse.tif"
    tifffile.imwrite(path, data)
    result = find_best_plane(path)
    assert result.focused, result.reason
    assert result.best_index in (2, 3)


def test_a_lone_sharp_plane_is_refused_as_a_spike(tmp_path: Path) -> None:
    sharp = focus_stack(planes=1, focus=0)[0]
    blurred = cv2.GaussianBlur(sharp, (0, 0), 4.0)
    path = tmp_path / "spike.tif"
    tifffile.imwrite(path, np.stack([blurred, blurred, blurred, sharp, blurred, blurred, blurred]))
    result = find_best_plane(path)
    assert result.status == "not_found"
    assert "noise" in result.reason
    assert result.sharpest_index == 3  # still reported, for a person to judge


def test_blur_alone_selects_the_tutorials_measure(tmp_path: Path) -> None:
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, focus_stack())
    assert find_best_plane(path, blur=5).metric == "laplacian"
    assert find_best_plane(path, blur=5, metric="brenner").metric == "brenner"
