"""Field tilt in one sweep: how focus varies across one field of view.

A grid of regions (e.g. 3x3) is scored in every frame of one search (live: the runner's frame
hook; recorded: every plane of a stack). Each region's curve gets its own best z (the same
curve analysis as the whole frame, so a region without structure is "not found" rather than a
guess). A plane through the regions' best z gives the tilt: how much focus changes across the
field's width and height, its size corner to corner and the direction in which focus rises.
When that exceeds the depth of field, no single z is sharp everywhere in the field: a warning.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from autofocus.curve import Expect, FocusCurve
from autofocus.errors import FocusNotFound, InputError
from autofocus.frames import Frame
from autofocus.metrics import make_metric

__all__ = ["FieldTilt", "RegionFocus", "RegionScorer", "field_tilt", "parse_regions", "stack_field_tilt"]

GRID = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def parse_regions(text: str) -> tuple[int, int]:
    """``ROWSxCOLS`` (e.g. ``3x3``), at least 2 along one side to see a tilt."""
    match = GRID.match(text)
    if not match or min(int(match[1]), int(match[2])) < 1 or max(int(match[1]), int(match[2])) < 2:
        raise InputError(f"--regions takes ROWSxCOLS with at least two regions, e.g. 3x3, got {text!r}")
    return int(match[1]), int(match[2])


@dataclass(frozen=True)
class RegionFocus:
    """One region: its place in the grid, its centre as a fraction of the field from the
    centre (-0.5..0.5; +u right, +v down), its best z or the reason there is none."""

    row: int
    col: int
    u: float
    v: float
    z_um: float | None
    reason: str = ""


@dataclass(frozen=True)
class FieldTilt:
    """The plane through the regions' best z. ``tilt_x_um``: focus change from the left edge of
    the field to the right; ``tilt_y_um``: from top to bottom; ``span_um``: corner to corner
    (``|tilt_x| + |tilt_y|``); ``direction_deg``: where focus rises, in image coordinates
    (0 = right, 90 = down)."""

    grid: tuple[int, int]
    regions: tuple[RegionFocus, ...]
    tilt_x_um: float | None
    tilt_y_um: float | None
    span_um: float | None
    direction_deg: float | None
    dof_um: float | None
    warning: str
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        if self.span_um is None:
            return f"field tilt: not measured ({self.reason})"
        text = (f"field tilt: {self.span_um:.2f} um corner to corner (x {self.tilt_x_um:+.2f} um across "
                f"the width, y {self.tilt_y_um:+.2f} um down the height; focus rises towards "
                f"{self.direction_deg:.0f} deg, 0 = right, 90 = down)")
        return text + (f"\nwarning: {self.warning}" if self.warning else "")


class RegionScorer:
    """Scores a grid of regions in every frame it is given: use ``on_frame`` as the runner's
    frame hook, or :meth:`add` for recorded planes. The measure is ``metric`` on each region."""

    def __init__(self, grid: tuple[int, int], metric: str = "bandpass") -> None:
        self.grid = grid
        self._metric_name = metric
        self._metrics: list[Callable[[Frame], float]] | None = None
        self._centres: list[tuple[int, int, float, float]] = []
        self.z_um: list[float] = []
        self.scores: list[list[float]] = []

    def check_shape(self, shape: tuple[int, ...]) -> None:
        """Raise InputError when frames of ``shape`` are too small for the grid (a caller that
        can grab one frame before anything moves refuses the grid then, not on the first step)."""
        rows, cols = self.grid
        height, width = shape[0], shape[1]
        if height < 8 * rows or width < 8 * cols:
            raise InputError(f"a {rows}x{cols} grid of regions needs a frame of at least "
                             f"{8 * cols}x{8 * rows} pixels, got {width}x{height}")

    def _prepare(self, shape: tuple[int, ...]) -> None:
        self.check_shape(shape)
        rows, cols = self.grid
        height, width = shape[0], shape[1]
        self._metrics = []
        for r in range(rows):
            for c in range(cols):
                x0, x1 = width * c // cols, width * (c + 1) // cols
                y0, y1 = height * r // rows, height * (r + 1) // rows
                self._metrics.append(make_metric(self._metric_name, roi=(x0, y0, x1 - x0, y1 - y0)))
                self._centres.append((r, c, ((x0 + x1) / 2 - width / 2) / width,
                                      ((y0 + y1) / 2 - height / 2) / height))

    def add(self, z_um: float, frame: Frame) -> None:
        if self._metrics is None:
            self._prepare(frame.shape)
        assert self._metrics is not None
        self.z_um.append(float(z_um))
        self.scores.append([float(m(frame)) for m in self._metrics])

    def on_frame(self, index: int, z_um: float, frame: Frame, score: float) -> None:
        self.add(z_um, frame)

    def result(self, dof_um: float | None = None, expect: Expect = "peak") -> FieldTilt:
        return field_tilt(self.grid, self._centres, self.z_um, self.scores, dof_um, expect)


def field_tilt(grid: tuple[int, int], centres: Sequence[tuple[int, int, float, float]],
               z_um: Sequence[float], scores: Sequence[Sequence[float]], dof_um: float | None,
               expect: Expect = "peak") -> FieldTilt:
    """Each region's best z from its curve, then the plane through them."""
    regions = []
    table = np.asarray(scores, float).reshape(len(z_um), len(centres))
    for k, (row, col, u, v) in enumerate(centres):
        curve = FocusCurve()
        for z, s in zip(z_um, table[:, k], strict=True):
            curve.add(z, float(s))
        try:
            regions.append(RegionFocus(row, col, u, v, curve.locate_peak(expect=expect).z_um))
        except FocusNotFound as exc:
            regions.append(RegionFocus(row, col, u, v, None, exc.reason))
    found = [r for r in regions if r.z_um is not None]
    # Along an axis with one column (or row) of regions found there is nothing to measure: the
    # tilt there is zero, and the fit has one unknown fewer (a 2x1 grid gives a line).
    across = len({r.u for r in found}) > 1
    down = len({r.v for r in found}) > 1
    columns = [[1.0] * len(found)]
    columns += [[r.u for r in found]] if across else []
    columns += [[r.v for r in found]] if down else []
    if len(columns) == 1 or len(found) < len(columns):
        return FieldTilt(grid, tuple(regions), None, None, None, None, dof_um, "",
                         f"only {len(found)} region(s) have a focus: too few for a tilt")
    best = np.array([r.z_um for r in found], float)
    coef, *_ = np.linalg.lstsq(np.column_stack(columns), best, rcond=None)
    tx = float(coef[1]) if across else 0.0
    ty = float(coef[-1]) if down else 0.0
    span = abs(tx) + abs(ty)
    direction = math.degrees(math.atan2(ty, tx)) % 360
    warning = ""
    if dof_um is not None and span > dof_um:
        warning = (f"focus varies by {span:.2f} um across one field, more than the depth of field "
                   f"({dof_um:.2f} um): no single z is sharp everywhere (tilted camera or specimen?)")
    return FieldTilt(grid, tuple(regions), tx, ty, span, direction, dof_um, warning)


def stack_field_tilt(path: str, grid: tuple[int, int], *, z_step_um: float | None = None,
                     metric: str = "bandpass", dof_um: float | None = None,
                     expect: Expect = "peak") -> FieldTilt:
    """Field tilt of a recorded z-stack: every plane scored region by region."""
    from autofocus.readers import open_stack

    scorer = RegionScorer(grid, metric)
    with open_stack(path, z_step_um) as stack:
        for z, frame in zip(stack.z_um, stack.planes(), strict=True):
            scorer.add(float(z), frame)
        tilt = scorer.result(dof_um, expect)
    if stack.z_source == "none":
        # Without a spacing the "z" are plane numbers: say so rather than print them as um.
        return FieldTilt(tilt.grid, tilt.regions, tilt.tilt_x_um, tilt.tilt_y_um, tilt.span_um,
                         tilt.direction_deg, None, "",
                         "the stack has no z spacing (give --z-step-um): tilt is in planes")
    return tilt
