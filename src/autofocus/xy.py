"""Safe XY moves: the one owner of the checks that guard the specimen stage.

Two rules, as for the focus drive:

* **nowhere outside the region**: a target must lie inside the user's region intersected with
  the XY stage's travel (:func:`allowed_region`); anything else is refused before it is
  commanded (:class:`LimitError`);
* **never with the objective close**: before the specimen moves, the focus drive goes to (or
  stays below) a safe height, ``z_clearance_um``, so a slide that is higher at the next position
  cannot run into the objective. By default that height is the last good focus minus the search
  half-range: the bottom of the next search window, where the next search starts anyway.

Lower z means farther from the specimen here (the focus drive lifts the objective towards it).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

from autofocus.devices.base import Microscope, XYStage
from autofocus.errors import InputError, LimitError

__all__ = ["Region", "SafeXY", "allowed_region"]


@dataclass(frozen=True)
class Region:
    """A rectangle of stage positions, micrometres, edges included."""

    x_min_um: float
    y_min_um: float
    x_max_um: float
    y_max_um: float

    def __post_init__(self) -> None:
        values = (self.x_min_um, self.y_min_um, self.x_max_um, self.y_max_um)
        if not all(math.isfinite(v) for v in values):
            raise InputError("the region's corners must be finite numbers")
        if self.x_min_um > self.x_max_um or self.y_min_um > self.y_max_um:
            raise InputError("the region's first corner must be below and left of its second")

    @property
    def width_um(self) -> float:
        return self.x_max_um - self.x_min_um

    @property
    def height_um(self) -> float:
        return self.y_max_um - self.y_min_um

    def contains(self, x_um: float, y_um: float, tolerance_um: float = 1e-6) -> bool:
        return (self.x_min_um - tolerance_um <= x_um <= self.x_max_um + tolerance_um
                and self.y_min_um - tolerance_um <= y_um <= self.y_max_um + tolerance_um)

    def to_dict(self) -> dict[str, float]:
        return {"x_min_um": self.x_min_um, "y_min_um": self.y_min_um,
                "x_max_um": self.x_max_um, "y_max_um": self.y_max_um}


def allowed_region(region: Region, limits_um: tuple[tuple[float, float], tuple[float, float]]) -> Region:
    """The user's region, which must lie inside the stage's travel (a region the stage cannot
    reach is an input error: it would silently shrink the map)."""
    (x0, x1), (y0, y1) = limits_um
    if region.x_min_um < x0 or region.x_max_um > x1 or region.y_min_um < y0 or region.y_max_um > y1:
        raise InputError(
            f"the region x {region.x_min_um / 1000:g}..{region.x_max_um / 1000:g} mm, "
            f"y {region.y_min_um / 1000:g}..{region.y_max_um / 1000:g} mm is outside the XY stage's "
            f"travel x {x0 / 1000:g}..{x1 / 1000:g} mm, y {y0 / 1000:g}..{y1 / 1000:g} mm")
    return region


class SafeXY:
    """Moves the specimen stage inside ``region`` with the focus drive at a safe height.

    ``z_floor_um`` is the lowest z it may send the focus drive to (the bottom of the user's z
    range intersected with the drive's travel). ``commanded`` records every accepted XY target.
    """

    def __init__(self, microscope: Microscope, region: Region, z_floor_um: float) -> None:
        xy = microscope.xy_stage
        if xy is None:
            raise InputError("a focus map needs an XY stage, and this microscope has none")
        self._xy: XYStage = xy
        self._scope = microscope
        self.region = allowed_region(region, xy.limits_um)
        self.z_floor_um = z_floor_um
        self.commanded: list[tuple[float, float]] = []

    def check(self, x_um: float, y_um: float) -> None:
        """Refuse a target outside the region; nothing moves."""
        if not self.region.contains(x_um, y_um):
            r = self.region
            raise LimitError(
                f"refusing to move XY to ({x_um / 1000:.4f}, {y_um / 1000:.4f}) mm: outside the "
                f"region x {r.x_min_um / 1000:g}..{r.x_max_um / 1000:g} mm, "
                f"y {r.y_min_um / 1000:g}..{r.y_max_um / 1000:g} mm")

    def safe_height(self, z_clearance_um: float) -> float:
        """The clearance, never below the z floor."""
        return max(z_clearance_um, self.z_floor_um)

    def move_to(self, x_um: float, y_um: float, z_clearance_um: float) -> float:
        """Lower the focus drive to the clearance (if above it), then move XY. Returns the z the
        focus drive is at during the move."""
        self.check(x_um, y_um)
        stage = self._scope.stage
        z_safe = self.safe_height(z_clearance_um)
        z_now = stage.position_um()
        if z_now > z_safe:
            stage.move_to_um(z_safe)
            z_now = z_safe
        x, y = min(max(x_um, self.region.x_min_um), self.region.x_max_um), \
            min(max(y_um, self.region.y_min_um), self.region.y_max_um)
        self.commanded.append((x, y))
        self._xy.move_to_um(x, y)
        return z_now

    def stop(self) -> None:
        """Stop both stages (never raises: used while handling another failure)."""
        for stop in (self._xy.stop, self._scope.stage.stop):
            # The failure that made us stop is what the caller must see.
            with contextlib.suppress(Exception):
                stop()
