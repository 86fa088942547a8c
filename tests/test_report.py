from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from autofocus.curve import FocusCurve
from autofocus.report import StepImageWriter, plot_curve, to_display, zoom_window_um
from autofocus.result import FocusResult


def test_to_display_stretches_any_depth_to_8_bits() -> None:
    frame = np.array([[1000, 2000], [3000, 5000]], dtype=np.uint16)
    shown = to_display(frame)
    assert shown.dtype == np.uint8
    assert shown.min() == 0 and shown.max() == 255
    assert not to_display(np.full((3, 3), 7, dtype=np.uint16)).any()  # flat frame: no division by 0


def test_plot_curve_writes_a_png_for_found_and_not_found(tmp_path: Path) -> None:
    curve = FocusCurve()
    for z, s in [(0.0, 1.0), (5.0, 3.0), (10.0, 1.5)]:
        curve.add(z, s)
    found = FocusResult("focused", 5.0, 3.0, curve, "sweep", "laplacian")
    missing = FocusResult("not_found", None, None, curve, "sweep", "laplacian", reason="flat")
    for name, result in (("found.png", found), ("missing.png", missing)):
        path = plot_curve(result, tmp_path / "sub" / name, true_focus_um=5.2)
        assert Image.open(path).size[0] > 100


def test_step_writer_keeps_panels_on_disk_and_animates_them(tmp_path: Path) -> None:
    writer = StepImageWriter(tmp_path, blur=5)
    rng = np.random.default_rng(0)
    for i in range(4):
        writer(i + 1, 1000.0 + i, (rng.random((40, 60)) * 4000).astype(np.uint16), float(i))
    panels = sorted(tmp_path.glob("step_*.png"))
    assert len(panels) == 4
    assert Image.open(panels[0]).size == (180, 40)  # frame | filtered | Laplacian
    gif = writer.write_animation()
    assert gif is not None
    with Image.open(gif) as animation:
        assert animation.n_frames == 4


def test_no_steps_no_animation(tmp_path: Path) -> None:
    assert StepImageWriter(tmp_path, blur=9).write_animation() is None


def test_zoom_window_holds_the_frames_near_the_answer_only_when_they_crowd() -> None:
    coarse = np.linspace(9_500.0, 10_500.0, 21)
    fine = 10_012.0 + np.array([-4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0])
    window = zoom_window_um(np.concatenate([coarse, fine]), 10_012.0)
    assert window is not None
    lo, hi = window
    assert lo < 10_008.0 and hi > 10_016.0
    assert hi - lo < 100.0
    assert zoom_window_um(coarse, 10_000.0) is None  # an even sweep: the full range says it all
    assert zoom_window_um(coarse, None) is None
