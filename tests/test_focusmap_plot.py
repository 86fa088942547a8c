"""The focus map's picture: surface with readable contours, the points by status, residuals."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from matplotlib.image import imread

from autofocus.focusmap import FocusMap, MapPoint, MapSettings, finish_map
from autofocus.focusmap_plot import contour_format, map_png, plot_map
from autofocus.runner import AutofocusSettings
from autofocus.xy import Region

REGION = Region(0, 0, 4_000, 3_000)
SETTINGS = MapSettings(REGION, AutofocusSettings(start_um=9_900, end_um=10_100, step_um=5), grid=(4, 5))
DUST, EMPTY = 7, 12
RED, ORANGE = (1.0, 0.0, 0.0), (1.0, 0.647, 0.0)


def synthetic_map(points: int | None = None) -> FocusMap:
    """A tilted slide over a 4x5 grid: point 7 answered on dust 12 um up, point 12 found nothing."""
    measured = []
    for i, (x, y) in enumerate(SETTINGS.targets()[:points]):
        z: float | None = 10_000 + 0.3e-3 * x - 0.2e-3 * y + 0.05 * ((i * 7) % 5 - 2)
        status = "focused"
        if i == DUST:
            z = (z or 0.0) + 12.0
        if i == EMPTY:
            status, z = "not_found", None
        measured.append(MapPoint(i, x, y, status, z, "", 20, 1.0, None, "refocus"))
    return finish_map(SETTINGS, measured, 20.0)


def picture(focus_map: FocusMap) -> np.ndarray:
    return imread(io.BytesIO(map_png(focus_map)), format="png")


def pixels_like(image: np.ndarray, rgb: tuple[float, float, float]) -> int:
    return int(np.sum(np.all(np.abs(image[..., :3] - np.array(rgb)) < 0.08, axis=-1)))


def test_contour_labels_tell_neighbouring_levels_apart() -> None:
    assert contour_format(np.array([10010.0, 10012.0, 10014.0])) == "%.0f"
    assert contour_format(np.array([9999.5, 10000.0, 10000.5])) == "%.1f"
    levels = np.array([10011.0, 10011.25, 10011.5, 10011.75])
    fmt = contour_format(levels)
    labels = [fmt % level for level in levels]
    assert len(set(labels)) == len(levels) and labels[1] == "10011.25"


def test_the_picture_marks_set_apart_and_not_found_points() -> None:
    focus_map = synthetic_map()
    assert {p.index: p.status for p in focus_map.set_apart} == {DUST: "set_apart", EMPTY: "not_found"}
    image = picture(focus_map)
    assert image.shape[:2] == (550, 1320)
    surface = image[:, :780]  # the map's half (the residuals' threshold lines are red too)
    assert pixels_like(surface, RED) > 20  # the red cross of the set-apart point
    assert pixels_like(surface, ORANGE) > 20  # the orange square of the empty one
    # Without those two points, neither colour is on the map.
    clean = picture(synthetic_map(points=DUST))[:, :780]
    assert pixels_like(clean, RED) == 0 and pixels_like(clean, ORANGE) == 0


def test_a_map_without_a_surface_or_with_a_flat_one_still_draws(tmp_path: Path) -> None:
    one = synthetic_map(points=1)  # a constant through one point: no contours
    assert one.fit is not None and one.fit.surface.model == "constant"
    assert picture(one).shape[:2] == (550, 1320)
    nothing = finish_map(SETTINGS, [MapPoint(0, 0.0, 0.0, "not_found", None, "flat", 20, 1.0, None, "x")],
                         1.0)
    assert nothing.fit is None
    path = plot_map(nothing, tmp_path / "sub" / "map.png")
    assert path.read_bytes().startswith(b"\x89PNG")
