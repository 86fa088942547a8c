"""The focus map as a picture: the surface as a colour map with contours, the measured points
(set-apart and not-found ones marked), and each point's residual from the surface.

:func:`map_figure` builds a matplotlib ``Figure`` without pyplot (no global backend, so the live
panel can draw it inside a Qt program); :func:`plot_map` writes it as a PNG and :func:`map_png`
gives the PNG's bytes.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import numpy.typing as npt
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import ScalarFormatter

from autofocus.focusmap import FocusMap

__all__ = ["contour_format", "map_figure", "map_png", "plot_map"]

STYLES = {"focused": ("o", "black", "fitted"), "set_apart": ("X", "red", "set apart"),
          "not_found": ("s", "orange", "not found")}
DPI = 110


def contour_format(levels: npt.NDArray[np.float64]) -> str:
    """The fewest decimals that write every contour level exactly (matplotlib picks levels on
    steps of 1, 2, 2.5 or 5 times a power of ten), so neighbouring labels differ: a surface
    spanning 2 um has contours every 0.25 um, which ``%.0f`` would label 10011, 10011, 10012."""
    values = np.asarray(levels, float)
    for decimals in range(5):
        scaled = values * 10.0**decimals
        if np.all(np.abs(scaled - np.round(scaled)) < 1e-6 * np.maximum(1.0, np.abs(scaled))):
            return f"%.{decimals}f"
    return "%.4g"


def map_figure(focus_map: FocusMap) -> Figure:
    """The picture as a figure (surface, points, residuals)."""
    region = focus_map.region
    fig = Figure(figsize=(12, 5), dpi=DPI)
    FigureCanvasAgg(fig)
    ax_map, ax_res = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    if focus_map.fit is not None:
        xs = np.linspace(region.x_min_um, region.x_max_um, 120)
        ys = np.linspace(region.y_min_um, region.y_max_um, 90)
        gx, gy = np.meshgrid(xs, ys)
        gz = focus_map.fit.surface.z_at_many(gx, gy)
        mesh = ax_map.pcolormesh(gx / 1000, gy / 1000, gz, shading="auto", cmap="viridis")
        if float(np.ptp(gz)) > 0:  # a flat surface (a constant) has no contours to draw
            contours = ax_map.contour(gx / 1000, gy / 1000, gz, colors="white", linewidths=0.7)
            ax_map.clabel(contours, fmt=contour_format(contours.levels), fontsize=7)
        # Absolute z on the bar, not an offset ("+1e4") the reader must add.
        fig.colorbar(mesh, ax=ax_map, label="focus z (um)", format=ScalarFormatter(useOffset=False))
        ax_map.set_title(f"focus surface ({focus_map.fit.surface.model}, leave-one-out "
                         f"{focus_map.fit.surface.loo_rms_um:.2f} um)")
    else:
        ax_map.set_title("no surface: no point was found")
    for status, (marker, colour, label) in STYLES.items():
        chosen = [p for p in focus_map.points if p.status == status]
        if chosen:
            ax_map.scatter([p.x_um / 1000 for p in chosen], [p.y_um / 1000 for p in chosen],
                           marker=marker, c=colour, edgecolors="white", s=60, label=label, zorder=3)
    ax_map.set_xlabel("x (mm)")
    ax_map.set_ylabel("y (mm)")
    ax_map.set_aspect("equal")
    ax_map.legend(loc="upper right", fontsize=8)

    for status, (marker, colour, label) in STYLES.items():
        chosen = [p for p in focus_map.points if p.status == status and p.residual_um is not None]
        if chosen:
            ax_res.scatter([p.index for p in chosen], [p.residual_um for p in chosen],
                           marker=marker, c=colour, label=label)
    ax_res.axhline(0, color="grey", linewidth=0.8)
    if focus_map.fit is not None:
        for sign in (-1, 1):
            ax_res.axhline(sign * focus_map.fit.threshold_um, color="red", linestyle=":", linewidth=0.8)
    ax_res.set_xlabel("point (visiting order)")
    ax_res.set_ylabel("measured - surface (um)")
    ax_res.set_title("residuals (set apart: error against the surface without the point)")
    ax_res.title.set_fontsize(9)
    fig.tight_layout()
    return fig


def map_png(focus_map: FocusMap) -> bytes:
    """The picture as PNG bytes."""
    buffer = io.BytesIO()
    map_figure(focus_map).savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def plot_map(focus_map: FocusMap, path: Path) -> Path:
    """Write the picture (PNG) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(map_png(focus_map))
    return path
