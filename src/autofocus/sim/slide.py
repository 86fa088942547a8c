"""A simulated slide: where the specimen's focus is at every XY position of the specimen stage.

Real slides are not flat in the focal plane. ``Slide.true_focus_um(x_um, y_um)`` adds up, over the
stage's XY (micrometres):

* a **tilt** (the slide or holder not square to the optical axis), a plane;
* a **warp**: a smooth sum of a few broad bumps (tens of micrometres over 25 mm), as a bent slide
  or a warped plate bottom shows;
* a **cover-glass wedge**: under the cover slip the apparent focus shifts with the glass
  thickness, which grows linearly across the slip; outside the slip there is no shift;
* a **well wall**: a step of the focus where the stage crosses ``well_wall_x_um`` (a plate's
  wells do not all sit at one height);
* **empty areas**: whole tiles (``empty_tile_um`` squares, a fraction ``empty_fraction`` of them,
  chosen from the seed) with no specimen, plus any rectangles listed in ``empty_rects``;
* **debris spots** (``debris``): discs where the sharpest thing is dust on top of the cover slip,
  ``offset_um`` above the specimen, so a search there finds a wrong focus;
* a **field tilt** inside one field of view (``field_tilt_x_um`` across the frame's width,
  ``field_tilt_y_um`` down its height): the camera or the specimen holder not square, so one
  frame is sharp on one side and soft on the other.

Everything is deterministic from ``seed``; ``true_focus_um`` is the ground truth tests use.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from autofocus.errors import InputError

__all__ = [
    "SLIDE_PRESETS", "Debris", "Rect", "Slide", "SlideSpec", "blend_over_field", "field_defocus",
    "slide_preset",
]

Rect = tuple[float, float, float, float]
"""(x_min, y_min, x_max, y_max), micrometres."""


@dataclass(frozen=True)
class Debris:
    """A disc where dust on the cover slip is the sharpest thing, ``offset_um`` above focus."""

    x_um: float
    y_um: float
    radius_um: float
    offset_um: float


@dataclass(frozen=True)
class SlideSpec:
    """How the specimen's focus varies over the stage's XY. Zero everywhere: a flat slide."""

    tilt_x_um_per_mm: float = 0.0
    tilt_y_um_per_mm: float = 0.0
    origin_um: tuple[float, float] = (0.0, 0.0)
    """Where the tilt, warp and wedge are zero (the slide's reference point)."""
    warp_um: float = 0.0
    """Peak-to-peak scale of the warp (each bump's height is up to this)."""
    warp_scale_um: float = 12_000.0
    """Width (sigma) of the warp's bumps."""
    warp_bumps: int = 4
    wedge_um_per_mm: float = 0.0
    """Apparent focus shift per mm across the cover slip (along its x)."""
    cover_slip: Rect | None = None
    """Where the cover slip lies; None: the wedge (if any) covers the whole stage."""
    well_wall_x_um: float | None = None
    well_step_um: float = 0.0
    """Focus step where x crosses ``well_wall_x_um`` (added for x above it)."""
    empty_fraction: float = 0.0
    empty_tile_um: float = 500.0
    empty_rects: tuple[Rect, ...] = ()
    debris: tuple[Debris, ...] = ()
    field_tilt_x_um: float = 0.0
    field_tilt_y_um: float = 0.0
    extent_um: Rect = (0.0, 0.0, 50_000.0, 40_000.0)
    """Where the warp's bumps are placed (the slide's area on the stage)."""
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.empty_fraction < 1.0:
            raise InputError("the simulated slide's empty fraction must be in [0, 1)")
        if self.empty_tile_um <= 0 or self.warp_scale_um <= 0:
            raise InputError("the simulated slide's empty tile size and warp scale must be positive")


class Slide:
    """The focus surface of one slide, relative to a base focus (``base_focus_um`` at the origin)."""

    def __init__(self, spec: SlideSpec, base_focus_um: float) -> None:
        self.spec = spec
        self.base_focus_um = base_focus_um
        rng = np.random.default_rng([spec.seed, 0x511DE])
        x0, y0, x1, y1 = spec.extent_um
        n = spec.warp_bumps if spec.warp_um else 0
        self._bump_xy = np.column_stack([rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)])
        self._bump_h = rng.uniform(-1.0, 1.0, n) * spec.warp_um
        self._bump_s = spec.warp_scale_um * rng.uniform(0.8, 1.25, n)
        # The warp is zero at the origin: only its shape matters, the base focus stays put.
        self._warp_origin = self._warp_raw(*spec.origin_um)

    def _warp_raw(self, x_um: float, y_um: float) -> float:
        if not len(self._bump_h):
            return 0.0
        d2 = (self._bump_xy[:, 0] - x_um) ** 2 + (self._bump_xy[:, 1] - y_um) ** 2
        return float(np.sum(self._bump_h * np.exp(-d2 / (2 * self._bump_s**2))))

    def surface_um(self, x_um: float, y_um: float) -> float:
        """The specimen's focus (without debris), absolute z in micrometres."""
        s = self.spec
        dx_mm = (x_um - s.origin_um[0]) / 1000.0
        dy_mm = (y_um - s.origin_um[1]) / 1000.0
        z = self.base_focus_um + s.tilt_x_um_per_mm * dx_mm + s.tilt_y_um_per_mm * dy_mm
        z += self._warp_raw(x_um, y_um) - self._warp_origin
        if s.wedge_um_per_mm and (s.cover_slip is None or _inside(s.cover_slip, x_um, y_um)):
            left = s.cover_slip[0] if s.cover_slip is not None else s.origin_um[0]
            z += s.wedge_um_per_mm * (x_um - left) / 1000.0
        if s.well_wall_x_um is not None and x_um > s.well_wall_x_um:
            z += s.well_step_um
        return z

    def true_focus_um(self, x_um: float, y_um: float) -> float:
        """Ground truth: where the specimen is in focus at this XY (what a map should predict)."""
        return self.surface_um(x_um, y_um)

    def sharpest_um(self, x_um: float, y_um: float) -> float:
        """Where a search here would find focus: the specimen, or debris above it."""
        for spot in self.spec.debris:
            if math.hypot(x_um - spot.x_um, y_um - spot.y_um) <= spot.radius_um:
                return self.surface_um(x_um, y_um) + spot.offset_um
        return self.surface_um(x_um, y_um)

    def is_empty(self, x_um: float, y_um: float) -> bool:
        """No specimen here (an empty tile or rectangle): a search finds nothing to focus on."""
        s = self.spec
        if any(_inside(rect, x_um, y_um) for rect in s.empty_rects):
            return True
        if s.empty_fraction <= 0:
            return False
        col = math.floor(x_um / s.empty_tile_um)
        row = math.floor(y_um / s.empty_tile_um)
        draw = np.random.default_rng([s.seed, 0xE3, col & 0xFFFFFFFF, row & 0xFFFFFFFF]).random()
        return bool(draw < s.empty_fraction)

    def gradient_um_per_um(self, x_um: float, y_um: float, half_um: float) -> tuple[float, float]:
        """Slope of the surface over ``half_um`` either side (central differences)."""
        gx = (self.surface_um(x_um + half_um, y_um) - self.surface_um(x_um - half_um, y_um)) / (2 * half_um)
        gy = (self.surface_um(x_um, y_um + half_um) - self.surface_um(x_um, y_um - half_um)) / (2 * half_um)
        return gx, gy


def _inside(rect: Rect, x_um: float, y_um: float) -> bool:
    return rect[0] <= x_um <= rect[2] and rect[1] <= y_um <= rect[3]


def slide_preset(name: str, seed: int = 0, empty_fraction: float = 0.0,
                 origin_um: tuple[float, float] = (20_000.0, 17_500.0)) -> SlideSpec:
    """Named slides for the command line and benchmarks (``SLIDE_PRESETS``), drawn from the seed:
    ``flat``; ``tilted`` (1-3 um/mm each way); ``warped`` (bumps of up to 25 um over ~12 mm on a
    slight tilt); ``wedged`` (a cover-glass wedge of 1.5-3 um/mm over the slip, a slight tilt
    and warp); ``plate`` (a tilted plate bottom with a 20 um step at a well wall)."""
    rng = np.random.default_rng([seed, 0x5EED])
    sign = rng.choice([-1.0, 1.0], 2)
    base = SlideSpec(seed=seed, empty_fraction=empty_fraction, origin_um=origin_um)
    if name == "flat":
        return base
    if name == "tilted":
        return replace(base, tilt_x_um_per_mm=float(sign[0] * rng.uniform(1.0, 3.0)),
                       tilt_y_um_per_mm=float(sign[1] * rng.uniform(1.0, 3.0)))
    if name == "warped":
        return replace(base, tilt_x_um_per_mm=float(sign[0] * rng.uniform(0.2, 0.8)),
                       warp_um=25.0, warp_scale_um=12_000.0)
    if name == "wedged":
        return replace(base, wedge_um_per_mm=float(rng.uniform(1.5, 3.0)),
                       tilt_y_um_per_mm=float(sign[1] * rng.uniform(0.3, 1.0)), warp_um=6.0)
    if name == "plate":
        return replace(base, tilt_x_um_per_mm=float(sign[0] * rng.uniform(0.5, 1.5)),
                       well_wall_x_um=origin_um[0], well_step_um=20.0)
    raise InputError(f"unknown slide {name!r}; choose one of: {', '.join(SLIDE_PRESETS)}")


SLIDE_PRESETS = ("flat", "tilted", "warped", "wedged", "plate")


def field_defocus(slide: Slide, x_um: float, y_um: float, shape: tuple[int, int],
                  pixel_um: float) -> npt.NDArray[np.float32] | None:
    """Defocus offset of each pixel from the frame's centre (the focal plane minus the
    specimen): the slide's slope across the field plus the field tilt; None when flat."""
    spec = slide.spec
    height, width = shape[0] * pixel_um, shape[1] * pixel_um
    gx, gy = slide.gradient_um_per_um(x_um, y_um, width / 2)
    tx = spec.field_tilt_x_um / width + gx
    ty = spec.field_tilt_y_um / height + gy
    if tx == 0 and ty == 0:
        return None
    u = (np.arange(shape[1], dtype=np.float32) - (shape[1] - 1) / 2) * pixel_um
    v = (np.arange(shape[0], dtype=np.float32) - (shape[0] - 1) / 2) * pixel_um
    # Where the specimen sits higher the focal plane is below it: defocus falls.
    return (-(tx * u[None, :] + ty * v[:, None])).astype(np.float32)


def blend_over_field(render: Callable[[float], npt.NDArray[np.float32]],
                     tilt: npt.NDArray[np.float32] | None, dof_um: float) -> npt.NDArray[np.float32]:
    """One render when the field is flat (within a tenth of the depth of field); otherwise
    renders at defocus offsets a fifth of the depth of field apart, each pixel interpolated
    between the two levels around its own defocus. ``render(offset_um)`` draws the whole frame
    with every defocus shifted by the offset."""
    if tilt is None or float(tilt.max() - tilt.min()) < dof_um / 10:
        return render(0.0)
    lo, hi = float(tilt.min()), float(tilt.max())
    n = min(12, math.ceil((hi - lo) / (dof_um / 5)) + 1)
    levels = np.linspace(lo, hi, n)
    pos = (tilt - lo) / (levels[1] - levels[0])
    index = np.minimum(pos.astype(np.intp), n - 2)
    frac = (pos - index).astype(np.float32)
    out: npt.NDArray[np.float32] | None = None
    for k, level in enumerate(levels):
        image = render(float(level))
        weight = (np.where(index == k, 1 - frac, 0) + np.where(index == k - 1, frac, 0)).astype(np.float32)
        out = weight * image if out is None else out + weight * image
    assert out is not None
    return out
