"""Focus maps ("mesh bed levelling"): measure focus at a coarse set of XY points, fit the slide's
surface, and give every tile of a tiled acquisition its z from the surface.

1. Points (a rows x cols grid over the region, edges included, or a list) are visited in
   serpentine order, so each move is to a neighbour.
2. The first point is searched with the user's settings (the default search over the user's
   range). Every later point is searched in a window of ``window_um`` either side of the
   surface predicted from the points so far, with ``later_strategy``: ``refocus`` when that
   strategy is registered, else the default search over the window. Until a point has been
   found, later points get the first point's full search.
3. Before each XY move the focus drive goes to the safe height (:class:`autofocus.xy.SafeXY`):
   ``z_clearance_um``, by default the last good focus minus the window (the next search's
   bottom).
4. The surface (:func:`autofocus.surface.robust_fit`) goes through the points that were found;
   points that were not found or that disagree with it are set apart and reported.

Hardware errors end the map: both stages are stopped, the focus drive is where the runner left
it (the start of the failed search, at or below the safe height), and the error says where.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from autofocus.devices.base import Microscope
from autofocus.errors import AutofocusError, InputError
from autofocus.events import EventHandler
from autofocus.result import FocusResult
from autofocus.runner import AutofocusSettings, allowed_interval, check_before_motion, run_autofocus
from autofocus.search import DEFAULT_STRATEGY, STRATEGIES
from autofocus.surface import RobustFit, robust_fit
from autofocus.xy import Region, SafeXY

__all__ = [
    "DEFAULT_OUTLIER_FLOOR_UM", "DEFAULT_WINDOW_UM", "LATER_STEPS_PER_WINDOW", "MAX_POINTS", "FocusMap",
    "MapPoint", "MapSettings", "Searcher", "check_map_before_motion", "default_later_strategy", "finish_map",
    "grid_axis", "measure_map", "predict", "serpentine",
]

MAX_POINTS = 10_000
"""A 100 x 100 map, each point a search of seconds: more is a typing error (and a list that can
fill memory before anything moves)."""
DEFAULT_WINDOW_UM = 50.0
"""Half-range of the later points' searches: a warp of tens of um over a slide changes focus by
a few um between neighbouring points, so this leaves room for a poor early prediction."""
LATER_STEPS_PER_WINDOW = 10
"""Later searches step at most the window over this (a tutorial-sized step of 10 um would leave
a 100 um window with too few frames)."""
REFOCUS = "refocus"
DEFAULT_OUTLIER_FLOOR_UM = 4.0


def default_later_strategy() -> str:
    """``refocus`` when it is registered, else the default search (over a window)."""
    return REFOCUS if REFOCUS in STRATEGIES else DEFAULT_STRATEGY


@dataclass(frozen=True)
class MapSettings:
    """Where to map and how. ``search`` is the first point's search (range, step, measure...)."""

    region: Region
    search: AutofocusSettings
    grid: tuple[int, int] | None = (5, 5)
    """Rows x columns over the region, edges included; ignored when ``points`` is given."""
    points: tuple[tuple[float, float], ...] | None = None
    window_um: float = DEFAULT_WINDOW_UM
    later_strategy: str | None = None
    """None: :func:`default_later_strategy`."""
    model: str = "auto"
    z_clearance_um: float | None = None
    outlier_floor_um: float = DEFAULT_OUTLIER_FLOOR_UM
    """Points are set apart only when they disagree with the surface by more than this (and by
    more than the robust threshold), so search noise and the extrapolation error of a good
    corner point never count. About one depth of field of a 20x/0.4 objective; use about one
    depth of field of yours."""

    def validate(self) -> None:
        self.search.validate()
        if self.points is None:
            if self.grid is None or len(self.grid) != 2 or min(self.grid) < 1:
                raise InputError("the grid needs at least 1 row and 1 column")
            count = self.grid[0] * self.grid[1]
        elif not self.points:
            raise InputError("the point list is empty")
        else:
            count = len(self.points)
        if count > MAX_POINTS:
            raise InputError(f"{count:,} points is more than {MAX_POINTS:,} (each is a focus search); "
                             "map a coarser grid")
        if not self.window_um > 0:
            raise InputError("the search window must be positive")
        if self.z_clearance_um is not None and not math.isfinite(self.z_clearance_um):
            raise InputError("the z clearance must be a finite number of micrometres")
        if not (math.isfinite(self.outlier_floor_um) and self.outlier_floor_um >= 0):
            raise InputError("the outlier floor must be a non-negative number of micrometres")
        if self.later_strategy is not None and self.later_strategy not in STRATEGIES:
            known = ", ".join(sorted(STRATEGIES))
            raise InputError(f"unknown strategy {self.later_strategy!r}; choose one of: {known}")
        for x, y in self.targets():
            if not self.region.contains(x, y):
                raise InputError(f"point ({x / 1000:g}, {y / 1000:g}) mm lies outside the region")

    def targets(self) -> list[tuple[float, float]]:
        """The points in visiting order (serpentine over a grid; as given for a list)."""
        if self.points is not None:
            return [(float(x), float(y)) for x, y in self.points]
        assert self.grid is not None
        rows, cols = self.grid
        return serpentine(grid_axis(self.region.x_min_um, self.region.x_max_um, cols),
                          grid_axis(self.region.y_min_um, self.region.y_max_um, rows))


def grid_axis(lo: float, hi: float, n: int) -> list[float]:
    """``n`` positions from ``lo`` to ``hi``, both edges included (one: the middle)."""
    if n == 1:
        return [(lo + hi) / 2]
    return [lo + (hi - lo) * i / (n - 1) for i in range(n)]


def serpentine(xs: Sequence[float], ys: Sequence[float]) -> list[tuple[float, float]]:
    """Row by row, every other row backwards: each move goes to a neighbour."""
    order: list[tuple[float, float]] = []
    for row, y in enumerate(ys):
        order.extend((x, y) for x in (xs if row % 2 == 0 else list(reversed(xs))))
    return order


@dataclass(frozen=True)
class MapPoint:
    """One measured point. ``status``: ``focused``, ``not_found`` or ``set_apart`` (found, but
    disagreeing with the surface); ``z_um`` is the search's answer (None when not found)."""

    index: int
    x_um: float
    y_um: float
    status: str
    z_um: float | None
    reason: str
    frames: int
    hardware_s: float
    predicted_z_um: float | None
    strategy: str
    residual_um: float | None = None
    """Measured minus the surface (fitted points) or minus the surface without it (set apart)."""

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "x_um": self.x_um, "y_um": self.y_um, "status": self.status,
                "z_um": self.z_um, "reason": self.reason, "frames": self.frames,
                "hardware_s": round(self.hardware_s, 6), "predicted_z_um": self.predicted_z_um,
                "strategy": self.strategy, "residual_um": self.residual_um}


@dataclass(frozen=True)
class FocusMap:
    """The measured points and the surface through the good ones."""

    region: Region
    points: tuple[MapPoint, ...]
    fit: RobustFit | None
    frames: int
    hardware_s: float
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.fit is not None

    @property
    def set_apart(self) -> tuple[MapPoint, ...]:
        return tuple(p for p in self.points if p.status != "focused")

    def z_at(self, x_um: float, y_um: float) -> float:
        """The surface's z at a position (InputError when no point was found)."""
        if self.fit is None:
            raise InputError("the focus map has no surface: no point was found")
        return self.fit.surface.z_at(x_um, y_um)

    def to_dict(self) -> dict[str, Any]:
        surface = None if self.fit is None else self.fit.surface.to_dict()
        return {
            "region": self.region.to_dict(),
            "points": [p.to_dict() for p in self.points],
            "model": None if self.fit is None else self.fit.surface.model,
            "surface": surface,
            "loo_rms_um": None if surface is None else surface["loo_rms_um"],
            "outlier_threshold_um": None if self.fit is None else self.fit.threshold_um,
            "set_apart": [p.index for p in self.set_apart],
            "frames": self.frames,
            "hardware_s": round(self.hardware_s, 6),
            "notes": list(self.notes),
        }


Searcher = Callable[[Microscope, AutofocusSettings, EventHandler | None], FocusResult]


def _search(scope: Microscope, settings: AutofocusSettings, on_event: EventHandler | None) -> FocusResult:
    return run_autofocus(scope, settings, on_event=on_event)


def predict(points: Sequence[MapPoint], x_um: float, y_um: float, floor_um: float) -> float | None:
    """The surface so far at (x, y): a robust fit through the found points (a constant, then a
    plane, then whatever fits best); None before any point was found."""
    found = [p for p in points if p.z_um is not None and p.status == "focused"]
    if not found:
        return None
    zs = [p.z_um for p in found if p.z_um is not None]
    model = "auto" if len(found) >= 4 else "constant"
    fit = robust_fit([p.x_um for p in found], [p.y_um for p in found], zs, model, floor_um)
    # Beyond the points a flexible fit can run away (a spline through two rows, extrapolated to
    # the third): never predict farther outside the measured heights than they spread.
    spread = max(zs) - min(zs)
    return min(max(fit.surface.z_at(x_um, y_um), min(zs) - spread), max(zs) + spread)


def check_map_before_motion(scope: Microscope, settings: MapSettings) -> None:
    """What the devices can tell before anything moves, as :func:`measure_map` checks it: the
    first search's range within the focus travel and the region within the XY stage's travel.
    The command line runs it before an unhomed Zaber axis homes."""
    z_lo, _ = check_before_motion(scope, settings.search)
    SafeXY(scope, settings.region, z_lo)  # refuses a region beyond the XY travel; moves nothing


def measure_map(scope: Microscope, settings: MapSettings, on_event: EventHandler | None = None,
                on_point: Callable[[MapPoint], None] | None = None,
                searcher: Searcher = _search) -> FocusMap:
    """Visit every point, focus there, fit the surface. ``searcher`` runs one search (the runner
    by default; tests and benchmarks may wrap it)."""
    settings.validate()
    base = settings.search
    z_lo, z_hi = allowed_interval(base, scope.stage.limits_um)
    safe = SafeXY(scope, settings.region, z_lo)
    later = settings.later_strategy or default_later_strategy()
    began = scope.clock.now()
    points: list[MapPoint] = []
    last_good: float | None = None
    for index, (x, y) in enumerate(settings.targets()):
        predicted = predict(points, x, y, settings.outlier_floor_um)
        if predicted is None:
            point_settings, lo = base, z_lo
        else:
            lo = max(z_lo, predicted - settings.window_um)
            hi = min(z_hi, predicted + settings.window_um)
            if hi - lo < base.step_um:  # the prediction lies at the edge of the user's range
                lo, hi = max(z_lo, hi - 2 * settings.window_um), min(z_hi, lo + 2 * settings.window_um)
            step = min(base.step_um, (hi - lo) / LATER_STEPS_PER_WINDOW)
            # A local strategy starts at the prediction (inside the window); the runner moves
            # there and lets that long move from the clearance ring out before its frames.
            near = min(max(predicted, lo), hi) if later != DEFAULT_STRATEGY else None
            point_settings = replace(base, start_um=lo, end_um=hi, step_um=step, strategy=later,
                                     near_um=near)
        clearance = settings.z_clearance_um
        if clearance is None:
            clearance = lo if last_good is None else last_good - settings.window_um
        try:
            safe.move_to(x, y, clearance)
            result = searcher(scope, point_settings, on_event)
            frames, spent_s = result.frames, result.hardware_s
            if not result.focused and point_settings is not base:
                # Not in the window: the prediction may be off (a step, a poor early fit), so
                # search the user's whole range before calling the point failed.
                result = searcher(scope, base, on_event)
                frames, spent_s = frames + result.frames, spent_s + result.hardware_s
                point_settings = base
        except AutofocusError as exc:
            safe.stop()
            where = scope.xy_stage.position_um() if scope.xy_stage is not None else (x, y)
            exc.stage_state = (f"{exc.stage_state}; " if exc.stage_state else "") + (
                f"map stopped at point {index + 1} of {len(settings.targets())}, XY at "
                f"({where[0] / 1000:.4f}, {where[1] / 1000:.4f}) mm")
            raise
        point = MapPoint(index, x, y, "focused" if result.focused else "not_found", result.best_z_um,
                         result.reason, frames, spent_s, predicted,
                         point_settings.strategy)
        points.append(point)
        if on_point is not None:
            on_point(point)
        if result.focused and result.best_z_um is not None:
            last_good = result.best_z_um
    return finish_map(settings, points, scope.clock.now() - began)


def finish_map(settings: MapSettings, points: list[MapPoint], hardware_s: float) -> FocusMap:
    """Fit the surface through the found points; mark the ones it sets apart."""
    found = [p for p in points if p.status == "focused" and p.z_um is not None]
    notes: list[str] = []
    fit: RobustFit | None = None
    if found:
        fit = robust_fit([p.x_um for p in found], [p.y_um for p in found],
                         [p.z_um for p in found if p.z_um is not None], settings.model,
                         settings.outlier_floor_um)
        residual_of = dict(zip((found[i].index for i in fit.inliers), fit.surface.residuals_um,
                               strict=True))
        apart_error = dict(zip((found[i].index for i in fit.outliers), fit.outlier_errors_um,
                               strict=True))
        points = [_classify(p, residual_of, apart_error, fit.threshold_um) for p in points]
    else:
        notes.append("no point was found: there is no surface")
    frames = sum(p.frames for p in points)
    return FocusMap(settings.region, tuple(points), fit, frames, hardware_s, tuple(notes))


def _classify(point: MapPoint, residual_of: dict[int, float], apart_error: dict[int, float],
              threshold_um: float) -> MapPoint:
    if point.index in residual_of:
        return replace(point, residual_um=residual_of[point.index])
    if point.index in apart_error:
        error = apart_error[point.index]
        return replace(point, status="set_apart", residual_um=error,
                       reason=f"disagrees with the surface by {error:+.2f} um "
                       f"(threshold {threshold_um:.2f} um)")
    return point
