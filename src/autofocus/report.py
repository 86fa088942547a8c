"""Pictures of a run: the focus-curve plot, per-step debug images, and the sweep animation; and
of a recorded stack: its score-per-plane plot, written beside its scores CSV."""

from __future__ import annotations

import math
import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")  # files only: instrument PCs and CI have no display
import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from PIL import Image

from autofocus.curve import curve_stats, profile
from autofocus.errors import AutofocusError, OutputError
from autofocus.frames import Frame
from autofocus.metrics import median_blur, prepare
from autofocus.result import FocusResult
from autofocus.stack import StackResult, output_stem, write_csv
from autofocus.strategies.refocus import V_FIT

__all__ = [
    "StepImageWriter",
    "chart_points",
    "curve_figure",
    "draw_curve",
    "plot_curve",
    "plot_stack",
    "to_display",
    "write_stack_outputs",
    "zoom_window_um",
]


def plot_curve(result: FocusResult, path: Path, true_focus_um: float | None = None) -> Path:
    """Write :func:`curve_figure` to ``path`` (any type matplotlib writes, by its extension)."""
    figure = curve_figure(result, true_focus_um)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


def curve_figure(result: FocusResult, true_focus_um: float | None = None) -> Figure:
    """Score against z over the whole search, and beside it a close-up of the answer in
    micrometres from it (a search that zooms in puts most of its frames within a few micrometres,
    invisible at full range). The colour bar gives each frame's place in the order they were
    taken; the answer (and the simulator's true focus) are written above; a curve with no focus
    shows its noise band on an axis from zero, and the reason in full."""
    z_um = result.curve.z()
    zoom = zoom_window_um(z_um, result.best_z_um)
    width_in = 12.5 if zoom else 8.5
    figure = Figure(figsize=(width_in, 5.2), dpi=100, layout="constrained")
    axes = list(figure.subplots(1, 2 if zoom else 1, squeeze=False)[0])
    points = draw_curve(axes[0], result, true_focus_um, None)
    if zoom:
        draw_curve(axes[1], result, true_focus_um, zoom)
        axes[1].set_title("close-up of the answer", fontsize=10)
    if points is not None:
        figure.colorbar(points, ax=axes, label="frame order (first to last)", pad=0.01)
    figure.suptitle(headline(result, true_focus_um, width_in), fontsize=10)
    return figure


TRANSPARENT_METHODS = {
    "dip-fit": "the dip between its two humps",
    "hump-midpoint": "midway between its two humps",
    V_FIT: "the bottom of its V",
    "envelope-fit": "the centre of the humps' envelope",
}
"""How a transparent specimen's answer is placed (methods of the curve's and refocus's fits)."""


def headline(result: FocusResult, true_focus_um: float | None, width_in: float) -> str:
    """The figure's title: the answer (or the reason, in full), wrapped to the figure's width."""
    chars = max(40, int(width_in * 72 / (10 * 0.6)) - 6)
    if result.focused and result.best_z_um is not None:
        lines = [f"{result.strategy}: focused at {result.best_z_um / 1000:.6f} mm "
                 f"(score {result.score:.4g}, confidence {result.confidence:.2f}), {result.frames} frames"]
        if true_focus_um is not None:
            lines.append(f"simulator's true focus {true_focus_um / 1000:.6f} mm: "
                         f"error {result.best_z_um - true_focus_um:+.2f} um")
        if result.method in TRANSPARENT_METHODS:
            lines.append("transparent specimen: unstained cells vanish at focus and gain contrast away "
                         f"from it, so focus is {TRANSPARENT_METHODS[result.method]}, not a peak")
    else:
        lines = [f"{result.strategy}: focus not found after {result.frames} frames: {result.reason}"]
    return "\n".join(textwrap.fill(line, chars) for line in lines)


def zoom_window_um(z_um: npt.NDArray[np.float64], best_z_um: float | None) -> tuple[float, float] | None:
    """A window around the answer holding its nearest few frames; None when it would show
    nearly the whole range anyway."""
    if best_z_um is None or len(z_um) < 8:
        return None
    distances = np.sort(np.abs(z_um - best_z_um))
    half = 1.5 * float(distances[min(6, len(distances) - 1)])
    span = float(z_um.max() - z_um.min())
    if half <= 0 or 2 * half > 0.25 * span:
        return None
    return (best_z_um - half, best_z_um + half)


def noise_band(result: FocusResult) -> tuple[float, float] | None:
    """The curve's baseline +- 2 noise deviations, as its verdict measured them (None when
    there are too few finite scores to say)."""
    try:
        z, scores = profile(result.curve)
    except AutofocusError:
        return None
    if len(z) < 5:
        return None
    stats = curve_stats(z, scores)
    return stats.baseline - 2 * stats.noise, stats.baseline + 2 * stats.noise


def draw_curve(ax: Axes, result: FocusResult, true_focus_um: float | None,
               window_um: tuple[float, float] | None) -> PathCollection | None:
    """One panel: the whole range in mm, or (``window_um``) a close-up in um from the answer.
    Returns the frames' scatter (its colours are the frame order), None when there are none."""
    z_um, scores = result.curve.z(), result.curve.scores()
    shown: npt.NDArray[np.bool_] = np.ones(len(z_um), dtype=bool)
    if window_um is not None and result.best_z_um is not None:
        shown = (z_um >= window_um[0]) & (z_um <= window_um[1])
        origin, scale = result.best_z_um, 1.0
        ax.set_xlabel("z - focus found (um)")
    else:
        origin, scale = 0.0, 1000.0
        ax.set_xlabel("z position (mm)")
    z = (z_um[shown] - origin) / scale
    order = np.argsort(z, kind="stable")
    ax.plot(z[order], scores[shown][order], "-", color="0.7", lw=1, zorder=1)
    points = ax.scatter(z, scores[shown], c=np.flatnonzero(shown), cmap="viridis", s=16, zorder=3,
                        vmin=0, vmax=max(len(z_um) - 1, 1), label="frames") if len(z) else None
    if result.best_z_um is not None:
        ax.axvline((result.best_z_um - origin) / scale, color="tab:red", lw=3.5, alpha=0.45, zorder=2,
                   label=f"focus found {result.best_z_um / 1000:.6f} mm")
    if true_focus_um is not None:
        # Dashed and on top: the answer's wide line never hides it, however close they are.
        ax.axvline((true_focus_um - origin) / scale, color="k", ls=(0, (4, 3)), lw=1.2, zorder=4,
                   label=f"true focus (simulator) {true_focus_um / 1000:.6f} mm")
    band = noise_band(result) if window_um is None else None
    if band is not None:
        ax.axhspan(*band, color="tab:orange", alpha=0.18, lw=0, zorder=0,
                   label="noise band (baseline +- 2 sigma)")
    if not result.focused and len(scores) and np.all(np.isfinite(scores)):
        # From zero: noise on a flat curve must look flat, not like a peak.
        low = min(0.0, float(scores.min()), band[0] if band else 0.0)
        ax.set_ylim(low, max(float(scores.max()), band[1] if band else 0.0) * 1.1 or 1.0)
    ax.set_ylabel(f"focus score ({result.metric or 'metric'})")
    ax.legend(fontsize=8, loc="best")
    return points


def to_display(image: Frame, scale: tuple[float, float] | None = None) -> npt.NDArray[np.uint8]:
    """Rescale any frame to 8 bits: by ``scale`` (low, high), or by its own min..max."""
    data = image.astype(np.float32)
    lo, hi = scale if scale is not None else (float(data.min()), float(data.max()))
    gain = 255.0 / (hi - lo) if hi > lo else 0.0
    return np.clip((data - lo) * gain, 0, 255).astype(np.uint8)


PANEL_NAMES = ("frame", "median-filtered", "|Laplacian|")


def label_strip(width: int, texts: list[str], height: int) -> npt.NDArray[np.uint8]:
    """A white strip with one label per equal-width panel, in black."""
    strip = np.full((height, width), 255, dtype=np.uint8)
    panel = width // len(texts)
    scale = max(0.35, height / 40)
    for i, text in enumerate(texts):
        cv2.putText(strip, text, (i * panel + height // 4, int(height * 0.72)), cv2.FONT_HERSHEY_SIMPLEX,
                    scale, 0, max(1, round(scale)), cv2.LINE_AA)
    return strip


def chart_points(zs: npt.NDArray[np.float64], scores: npt.NDArray[np.float64],
                 upto: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], int, int]:
    """The frames up to ``upto`` sorted by z (a search goes back and forth), with the indices,
    in that sorted order, of the current frame and of the best so far."""
    order = np.argsort(zs[: upto + 1], kind="stable")
    sorted_scores = scores[: upto + 1][order]
    current = int(np.flatnonzero(order == upto)[0])
    return zs[: upto + 1][order], sorted_scores, current, int(np.argmax(sorted_scores))


class StepImageWriter:
    """The tutorial's --show-images, written to files instead of held in windows: per step the
    frame, the median-filtered frame and its Laplacian side by side, labelled (z, step, score),
    each contrast-stretched on its own; at the end an animated GIF of the sweep beside its
    focus curve (sorted by z, the current frame and the best so far marked), every frame on one
    intensity scale for the whole sweep so they can be compared. Each step goes to disk as it is
    made (the panel, and a small copy of its raw values for the animation), so memory does not
    grow with the number of steps."""

    PANEL_WIDTH = 960  # the animation's width; full-size step images are kept separately
    RAW_FOLDER = ".sweep-raw"

    def __init__(self, folder: Path, blur: int) -> None:
        self.folder = folder
        self.blur = blur
        self.folder.mkdir(parents=True, exist_ok=True)
        self._steps: list[tuple[float, float, Path]] = []
        # The sweep's intensity range: frame and filtered share one, the Laplacian has its own.
        self._intensity = (math.inf, -math.inf)
        self._laplacian = (0.0, -math.inf)

    def labels(self, index: int, z_um: float, score: float) -> list[str]:
        return [f"frame, step {index}, z = {z_um / 1000:.6f} mm", f"median-filtered ({self.blur} px), "
                f"score {score:.4g}", "|Laplacian| of the filtered frame"]

    def __call__(self, index: int, z_um: float, frame: Frame, score: float) -> None:
        gray = prepare(frame)
        filtered = median_blur(gray, self.blur)
        laplacian = np.abs(cv2.Laplacian(filtered, cv2.CV_64F))
        panels = (gray, filtered, laplacian)
        body = np.hstack([to_display(p) for p in panels])
        strip = label_strip(body.shape[1], self.labels(index, z_um, score), max(18, body.shape[0] // 14))
        path = self.folder / f"step_{index:04d}_z{z_um / 1000:.6f}mm.png"
        if not cv2.imwrite(str(path), np.vstack([strip, body])):  # OpenCV reports a failure only so
            raise OutputError(f"cannot write the step image {path} (disk full or not writable?)")
        width = self.PANEL_WIDTH // 3
        height = max(1, round(gray.shape[0] * width / gray.shape[1]))
        small = np.stack([cv2.resize(p.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
                          for p in panels])
        raw = self.folder / self.RAW_FOLDER
        raw.mkdir(exist_ok=True)
        try:
            np.save(raw / f"{index:04d}.npy", small)
        except OSError as exc:
            raise OutputError(f"cannot write under {raw}: {exc.strerror or exc}") from None
        lo, hi = self._intensity
        self._intensity = (min(lo, float(small[:2].min())), max(hi, float(small[:2].max())))
        self._laplacian = (0.0, max(self._laplacian[1], float(small[2].max())))
        self._steps.append((z_um, score, raw / f"{index:04d}.npy"))

    def write_animation(self, name: str = "sweep.gif") -> Path | None:
        """Animate the saved steps (read back one at a time) with the focus curve under them."""
        if not self._steps:
            return None
        frames = self._animation_frames()
        first = next(frames)
        out = self.folder / name
        first.save(out, save_all=True, append_images=frames, duration=200, loop=0)
        shutil.rmtree(self.folder / self.RAW_FOLDER, ignore_errors=True)
        return out

    def animation_frame(self, i: int) -> npt.NDArray[np.uint8] | None:
        """Step ``i`` of the animation as RGB: labelled panels on the sweep's scale, and the curve."""
        zs = np.array([s[0] for s in self._steps])
        scores = np.array([s[1] for s in self._steps])
        z_um, _, raw = self._steps[i]
        try:
            small = np.load(raw)
        except OSError:  # deleted while we ran: leave it out rather than fail the run
            return None
        body = np.hstack([to_display(small[0], self._intensity), to_display(small[1], self._intensity),
                          to_display(small[2], self._laplacian)])
        strip = label_strip(body.shape[1], [f"z = {z_um / 1000:.6f} mm (step {i + 1})", "median-filtered",
                                            "|Laplacian|"], 18)
        grey = np.vstack([strip, body])
        return np.vstack([np.dstack([grey] * 3), self._chart(zs, scores, i, height=240)])

    def _animation_frames(self) -> Iterator[Image.Image]:
        for i in range(len(self._steps)):
            frame = self.animation_frame(i)
            if frame is not None:
                yield Image.fromarray(frame).quantize(colors=128)

    def _chart(self, zs: npt.NDArray[np.float64], scores: npt.NDArray[np.float64], upto: int,
               height: int) -> npt.NDArray[np.uint8]:
        figure = Figure(figsize=(self.PANEL_WIDTH / 100, height / 100), dpi=100, layout="tight")
        FigureCanvasAgg(figure)
        ax = figure.subplots()
        z, s, current, best = chart_points(zs / 1000.0, scores, upto)
        ax.plot(z, s, "-o", ms=3, color="0.3", lw=1)
        ax.plot(z[best], s[best], "*", ms=14, color="tab:green", label="best so far")
        ax.plot(z[current], s[current], "o", ms=10, mfc="none", mec="tab:red", mew=2, label="this frame")
        lo, hi = float(zs.min()) / 1000.0, float(zs.max()) / 1000.0
        ax.set_xlim(lo, hi if hi > lo else lo + 1e-3)
        top = float(scores.max())
        ax.set_ylim(0, top * 1.08 if top > 0 else 1)
        ax.set_xlabel("z (mm)", fontsize=8)
        ax.set_ylabel("score", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, loc="upper right")
        figure.canvas.draw()
        rgba = np.asarray(figure.canvas.buffer_rgba())  # type: ignore[attr-defined]
        return cv2.resize(np.ascontiguousarray(rgba[..., :3]), (self.PANEL_WIDTH, height),
                          interpolation=cv2.INTER_AREA)


def plot_stack(result: StackResult, path: Path) -> Path:
    """Score against plane (and z when known), with the fitted best plane marked."""
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot(range(result.planes), result.scores, "-o", ms=4, color="k", lw=1, label="planes")
    if result.best_plane is not None:
        ax.axvline(result.best_plane, color="tab:red", lw=1.5, label=f"best {result.best_plane:.2f}")
    step = f", {result.z_step_um:g} um per plane" if result.z_step_um else ""
    ax.set_xlabel(f"plane{step}")
    ax.set_ylabel(f"focus score ({result.metric})")
    title = f"{output_stem(result.path)}: {result.status}"
    ax.set_title(title if result.focused else f"{title}\n{result.reason}", fontsize=10)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def write_stack_outputs(result: StackResult, folder: Path, stem: str | None = None) -> tuple[Path, Path]:
    """``<stem>_curve.png`` and ``<stem>_scores.csv`` in ``folder`` (stem: from the stack's name)."""
    stem = stem or output_stem(result.path)
    try:
        return (plot_stack(result, folder / f"{stem}_curve.png"),
                write_csv(result, folder / f"{stem}_scores.csv"))
    except OSError as exc:
        raise OutputError(f"cannot write the outputs of {result.path} to {folder}: "
                          f"{exc.strerror or exc}") from None
