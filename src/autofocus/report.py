"""Pictures of a run: the focus-curve plot, per-step debug images, and the sweep animation; and
of a recorded stack: its score-per-plane plot, written beside its scores CSV."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")  # files only: instrument PCs and CI have no display
import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from PIL import Image

from autofocus.errors import OutputError
from autofocus.frames import Frame, to_grey
from autofocus.metrics import median_blur, prepare
from autofocus.result import FocusResult
from autofocus.stack import StackResult, output_stem, write_csv

__all__ = [
    "StepImageWriter",
    "draw_curve",
    "plot_curve",
    "plot_stack",
    "to_display",
    "write_stack_outputs",
    "zoom_window_um",
]


def plot_curve(result: FocusResult, path: Path, true_focus_um: float | None = None) -> Path:
    """Score against z over the whole search, and beside it a close-up of the answer (a search
    that zooms in puts most of its frames within a few micrometres, invisible at full range)."""
    z_um = result.curve.z()
    zoom = zoom_window_um(z_um, result.best_z_um)
    fig, axes = plt.subplots(1, 2 if zoom else 1, figsize=(11 if zoom else 7, 4), dpi=100,
                             squeeze=False)
    draw_curve(axes[0][0], result, true_focus_um, None)
    if zoom:
        draw_curve(axes[0][1], result, true_focus_um, zoom)
        axes[0][1].set_title("close-up of the answer", fontsize=10)
    title = f"{result.strategy}: {result.status}, {result.frames} frames"
    axes[0][0].set_title(title if result.focused else f"{title}\n{result.reason}", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


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


def draw_curve(ax: Axes, result: FocusResult, true_focus_um: float | None,
               window_um: tuple[float, float] | None) -> None:
    z_um, scores = result.curve.z(), result.curve.scores()
    shown: npt.NDArray[np.bool_] = np.ones(len(z_um), dtype=bool)
    if window_um is not None:
        shown = (z_um >= window_um[0]) & (z_um <= window_um[1])
    z = z_um[shown] / 1000.0
    order = np.argsort(z, kind="stable")
    ax.plot(z[order], scores[shown][order], "-", color="0.7", lw=1)
    ax.scatter(z, scores[shown], c=np.flatnonzero(shown), cmap="viridis", s=14, zorder=3,
               vmin=0, vmax=max(len(z_um) - 1, 1), label="frames (colour = order)")
    if result.best_z_um is not None:
        ax.axvline(result.best_z_um / 1000.0, color="tab:red", lw=1.5, label="best focus")
    if true_focus_um is not None:
        ax.axvline(true_focus_um / 1000.0, color="k", ls="--", lw=1, label="true focus (simulator)")
    ax.set_xlabel("z position (mm)")
    ax.set_ylabel(f"focus score ({result.metric or 'metric'})")
    ax.legend(fontsize=8, loc="best")


def to_display(image: Frame) -> npt.NDArray[np.uint8]:
    """Rescale any frame to 8 bits by its own min..max, as the tutorial's panels do."""
    data = image.astype(np.float32)
    lo, hi = float(data.min()), float(data.max())
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    return np.clip((data - lo) * scale, 0, 255).astype(np.uint8)


class StepImageWriter:
    """The tutorial's --show-images, written to files instead of held in windows: per step the
    frame, the median-filtered frame and its Laplacian side by side; at the end an animated GIF of
    the sweep beside its growing focus curve. Each panel goes to disk as it is made, so memory does
    not grow with the number of steps."""

    PANEL_WIDTH = 960  # the animation's width; full-size step images are kept separately

    def __init__(self, folder: Path, blur: int) -> None:
        self.folder = folder
        self.blur = blur
        self.folder.mkdir(parents=True, exist_ok=True)
        self._steps: list[tuple[float, float, Path]] = []

    def __call__(self, index: int, z_um: float, frame: Frame, score: float) -> None:
        gray = prepare(frame)
        filtered = median_blur(gray, self.blur)
        laplacian = cv2.Laplacian(filtered, cv2.CV_64F)
        panel = np.hstack([to_display(gray), to_display(filtered), to_display(np.abs(laplacian))])
        path = self.folder / f"step_{index:04d}_z{z_um / 1000:.6f}mm.png"
        if not cv2.imwrite(str(path), panel):  # OpenCV reports a failed write only this way
            raise OutputError(f"cannot write the step image {path} (disk full or not writable?)")
        self._steps.append((z_um, score, path))

    def write_animation(self, name: str = "sweep.gif") -> Path | None:
        """Animate the saved steps (read back one at a time) with the focus curve under them."""
        if not self._steps:
            return None
        frames = self._animation_frames()
        first = next(frames)
        out = self.folder / name
        first.save(out, save_all=True, append_images=frames, duration=200, loop=0)
        return out

    def _animation_frames(self) -> Iterator[Image.Image]:
        zs = np.array([s[0] for s in self._steps]) / 1000.0
        scores = np.array([s[1] for s in self._steps])
        for i, (_, _, path) in enumerate(self._steps):
            panel = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            if panel is None:  # deleted while we ran: leave it out rather than fail the run
                continue
            height = max(1, round(panel.shape[0] * self.PANEL_WIDTH / panel.shape[1]))
            panel = cv2.resize(panel, (self.PANEL_WIDTH, height), interpolation=cv2.INTER_AREA)
            chart = self._chart(zs, scores, i, height=240)
            yield Image.fromarray(np.vstack([panel, chart])).convert("P")

    def _chart(self, zs: npt.NDArray[np.float64], scores: npt.NDArray[np.float64], upto: int,
               height: int) -> npt.NDArray[np.uint8]:
        fig, ax = plt.subplots(figsize=(self.PANEL_WIDTH / 100, height / 100), dpi=100)
        ax.plot(zs[: upto + 1], scores[: upto + 1], "-o", ms=3, color="k")
        ax.set_xlim(zs.min(), zs.max() if zs.max() > zs.min() else zs.min() + 1e-3)
        top = float(scores.max())
        ax.set_ylim(0, top * 1.05 if top > 0 else 1)
        ax.set_xlabel("z (mm)", fontsize=8)
        ax.set_ylabel("score", fontsize=8)
        ax.tick_params(labelsize=7)
        fig.tight_layout()
        fig.canvas.draw()
        rgba = np.asarray(fig.canvas.buffer_rgba())  # type: ignore[attr-defined]
        plt.close(fig)
        gray = to_grey(rgba, "RGB")
        return cv2.resize(gray, (self.PANEL_WIDTH, height), interpolation=cv2.INTER_AREA)


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
