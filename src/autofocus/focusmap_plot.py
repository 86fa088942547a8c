"""The focus map as a picture: the surface as a colour map with contours, the measured points
(set-apart and not-found ones marked), and each point's residual from the surface."""

from __future__ import annotations

from pathlib import Path

import matplotlib

__all__ = ["plot_map"]

matplotlib.use("Agg")  # files only: instrument PCs and CI have no display
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import ScalarFormatter

from autofocus.focusmap import FocusMap


def plot_map(focus_map: FocusMap, path: Path) -> Path:
    """Write the picture (PNG) and return its path."""
    region = focus_map.region
    fig, (ax_map, ax_res) = plt.subplots(1, 2, figsize=(12, 5), gridspec_kw={"width_ratios": [3, 2]})
    if focus_map.fit is not None:
        xs = np.linspace(region.x_min_um, region.x_max_um, 120)
        ys = np.linspace(region.y_min_um, region.y_max_um, 90)
        gx, gy = np.meshgrid(xs, ys)
        gz = focus_map.fit.surface.z_at_many(gx, gy)
        mesh = ax_map.pcolormesh(gx / 1000, gy / 1000, gz, shading="auto", cmap="viridis")
        contours = ax_map.contour(gx / 1000, gy / 1000, gz, colors="white", linewidths=0.7)
        ax_map.clabel(contours, fmt="%.0f", fontsize=7)
        # Absolute z on the bar, not an offset ("+1e4") the reader must add.
        fig.colorbar(mesh, ax=ax_map, label="focus z (um)", format=ScalarFormatter(useOffset=False))
        ax_map.set_title(f"focus surface ({focus_map.fit.surface.model}, leave-one-out "
                         f"{focus_map.fit.surface.loo_rms_um:.2f} um)")
    else:
        ax_map.set_title("no surface: no point was found")
    styles = {"focused": ("o", "black", "fitted"), "set_apart": ("X", "red", "set apart"),
              "not_found": ("s", "orange", "not found")}
    for status, (marker, colour, label) in styles.items():
        chosen = [p for p in focus_map.points if p.status == status]
        if chosen:
            ax_map.scatter([p.x_um / 1000 for p in chosen], [p.y_um / 1000 for p in chosen],
                           marker=marker, c=colour, edgecolors="white", s=60, label=label, zorder=3)
    ax_map.set_xlabel("x (mm)")
    ax_map.set_ylabel("y (mm)")
    ax_map.set_aspect("equal")
    ax_map.legend(loc="upper right", fontsize=8)

    for status, (marker, colour, label) in styles.items():
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
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
