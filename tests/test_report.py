from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from autofocus.curve import FocusCurve
from autofocus.report import (
    StepImageWriter,
    chart_points,
    curve_figure,
    plot_curve,
    to_display,
    zoom_window_um,
)
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
    width, height = Image.open(panels[0]).size
    assert width == 180 and height > 40  # frame | filtered | Laplacian, under their labels
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


# --- the pictures a new user reads (issue 14) --------------------------------------------------


def search_result(status: str = "focused", method: str = "gaussian-fit", reason: str = "") -> FocusResult:
    """A coarse pass over 1 mm and frames crowding near 10 012 um, as the default search takes."""
    curve = FocusCurve()
    for z in np.linspace(9_500.0, 10_500.0, 21):
        curve.add(float(z), 1.0 + 0.01 * np.sin(z) + 5.0 * np.exp(-((z - 10_012.0) / 20.0) ** 2))
    for dz in (-4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0):
        curve.add(10_012.0 + dz, 6.0 - 0.05 * dz**2)
    best = 10_012.3 if status == "focused" else None
    return FocusResult(status, best, 6.0 if best else None, curve, "coarse-to-fine", "bandpass",  # type: ignore[arg-type]
                       reason=reason, method=method, confidence=0.9)


def test_the_frame_order_colours_have_a_colour_bar() -> None:
    figure = curve_figure(search_result(), true_focus_um=10_012.0)
    colour_bars = [ax for ax in figure.axes if ax.get_label() == "<colorbar>"]
    assert len(colour_bars) == 1 and "order" in colour_bars[0].get_ylabel()
    assert len(figure.axes) == 3  # the range, the close-up, and the bar


def test_the_true_focus_line_is_dashed_above_the_answers_line() -> None:
    figure = curve_figure(search_result(), true_focus_um=10_012.3)  # the very same place
    for ax in figure.axes[:2]:
        lines = {line.get_label().split()[0]: line for line in ax.get_lines() if line.get_label()[0] != "_"}
        best, true = lines["focus"], lines["true"]
        assert true.get_zorder() > best.get_zorder()
        assert true.get_linestyle() not in ("-", "solid") and best.get_linestyle() in ("-", "solid")
        assert true.get_linewidth() < best.get_linewidth()  # the wide line shows round the thin one


def test_the_close_up_is_in_micrometres_from_the_answer() -> None:
    figure = curve_figure(search_result())
    close_up = figure.axes[1]
    assert "um" in close_up.get_xlabel() and "focus found" in close_up.get_xlabel()
    lo, hi = close_up.get_xlim()
    assert lo < 0 < hi and hi - lo < 50  # micrometres around 0, not 10.0xx mm
    assert figure.axes[0].get_xlabel() == "z position (mm)"


def test_the_answer_and_the_true_focus_are_written_on_the_figure() -> None:
    title = curve_figure(search_result(), true_focus_um=10_012.0).get_suptitle()
    assert "focused at 10.012300 mm" in title
    assert "true focus 10.012000 mm" in title and "error +0.30 um" in title


def test_a_transparent_answer_says_why_it_sits_in_a_dip() -> None:
    assert "transparent" not in curve_figure(search_result()).get_suptitle()
    title = curve_figure(search_result(method="dip-fit")).get_suptitle()
    assert "transparent specimen" in title and "dip between its two humps" in title


def test_not_found_shows_the_whole_reason_inside_the_figure_and_the_noise_from_zero() -> None:
    reason = ("the focus curve is flat: its peak rises only 1.3 noise deviations (0.13 %) above its "
              "baseline (empty field, or no specimen in range?) " * 2).strip()
    figure = curve_figure(search_result("not_found", reason=reason))
    title = figure.get_suptitle()
    assert " ".join(title.split()).endswith(" ".join(reason.split()))
    figure.canvas.draw()  # type: ignore[no-untyped-call]
    box = figure._suptitle.get_window_extent()  # type: ignore[union-attr]
    assert box.x0 >= 0 and box.x1 <= figure.bbox.width and box.y1 <= figure.bbox.height
    ax = figure.axes[0]
    assert ax.get_ylim()[0] <= 0.0
    assert any(patch.get_label().startswith("noise band") for patch in ax.patches)


def test_chart_points_are_sorted_by_z_with_the_current_and_best_frames_marked() -> None:
    zs = np.array([10.02, 9.98, 10.0, 9.99])  # a search goes back and forth
    scores = np.array([1.0, 0.5, 3.0, 2.0])
    z, s, current, best = chart_points(zs, scores, upto=3)
    assert list(z) == [9.98, 9.99, 10.0, 10.02] and list(s) == [0.5, 2.0, 3.0, 1.0]
    assert z[current] == 9.99 and z[best] == 10.0
    z, _, current, best = chart_points(zs, scores, upto=1)
    assert list(z) == [9.98, 10.02] and z[current] == 9.98 and z[best] == 10.02


def test_step_panels_carry_their_labels(tmp_path: Path) -> None:
    writer = StepImageWriter(tmp_path, blur=5)
    frame = (np.random.default_rng(1).random((60, 80)) * 200).astype(np.uint8)
    writer(3, 10_012.5, frame, 1.25)
    assert writer.labels(3, 10_012.5, 1.25)[0] == "frame, step 3, z = 10.012500 mm"
    panel = np.asarray(Image.open(next(tmp_path.glob("step_*.png"))).convert("L"))
    strip = panel[: panel.shape[0] - 60]
    assert strip.shape[0] >= 12
    for third in np.array_split(strip, 3, axis=1):  # a label over each panel: dark text on white
        assert np.median(third) == 255 and third.min() < 128


def test_the_animation_puts_every_frame_on_one_intensity_scale(tmp_path: Path) -> None:
    writer = StepImageWriter(tmp_path, blur=3)
    dim = (np.random.default_rng(2).random((60, 90)) * 100 + 50).astype(np.uint16)
    writer(1, 10_000.0, dim, 1.0)
    writer(2, 10_010.0, dim * 4, 2.0)  # the same field, four times as bright
    height = StepImageWriter.PANEL_WIDTH // 3 * 60 // 90
    frames = [writer.animation_frame(i) for i in range(2)]
    assert frames[0] is not None and frames[1] is not None
    mean = [float(f[18:18 + height, : StepImageWriter.PANEL_WIDTH // 3].mean()) for f in frames]
    assert mean[1] > 2.5 * mean[0]  # stretched one by one, the two would look alike
    assert writer.write_animation() is not None
    assert not (tmp_path / StepImageWriter.RAW_FOLDER).exists()
