"""Fit a focus surface ``z(x, y)`` through measured points, robustly.

Models (``SURFACE_MODELS``): ``constant`` (one or two points), ``plane`` (a tilted slide),
``quadratic`` (a bowl or saddle: a bent slide) and ``tps``, a smoothing thin-plate spline
(``scipy.interpolate.RBFInterpolator`` with a linear trend, the smoothing chosen from a few
values), for warps the others cannot follow. ``auto`` picks by leave-one-out error: every point
is predicted by the model fitted without it, and the model with the lowest RMS of those errors
wins; a more flexible model must beat a simpler one by ``SIMPLER_MARGIN`` (a tie goes to the
simpler one, which extrapolates more tamely beyond the points).

:func:`robust_fit` sets apart points that disagree with the surface: the point whose
leave-one-out error is largest is dropped while it disagrees with the surface through the
others by more than a threshold taken from the others' leave-one-out errors
(:func:`outlier_threshold`: ``OUTLIER_K`` robust sigmas, or twice their 90th percentile), never
less than ``floor_um``; one at a time, because one bad point also inflates its neighbours'
errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from autofocus.errors import InputError
from autofocus.numerics import MAD_TO_SIGMA

__all__ = [
    "SURFACE_MODELS", "RobustFit", "SurfaceFit", "fit_surface", "fit_with", "outlier_threshold",
    "robust_fit",
]

Array = npt.NDArray[np.float64]
Values = Sequence[float] | Array

SURFACE_MODELS = ("constant", "plane", "quadratic", "tps")
MIN_POINTS = {"constant": 1, "plane": 3, "quadratic": 6, "tps": 5}
TPS_SMOOTHING = (0.0, 1e-3, 1e-2, 1e-1, 1.0)
"""Candidate smoothings of the spline (coordinates scaled to about unit size, z in um)."""
SIMPLER_MARGIN = 0.9
OUTLIER_K = 5.0
TAIL_FACTOR = 2.0


@dataclass(frozen=True)
class SurfaceFit:
    """A fitted surface: ``z_at(x_um, y_um)``. Keeps the points it was fitted through, so it
    can be written to JSON and rebuilt (:meth:`from_dict`)."""

    model: str
    x_um: tuple[float, ...]
    y_um: tuple[float, ...]
    z_um: tuple[float, ...]
    smoothing: float = 0.0
    loo_rms_um: float = float("nan")
    """RMS of the leave-one-out errors (NaN when there are too few points to leave one out)."""
    loo_errors_um: tuple[float, ...] = ()
    """Measured minus predicted-without-the-point, per point."""
    residuals_um: tuple[float, ...] = ()
    """Measured minus fitted (with every point), per point."""
    loo_by_model: dict[str, float] = field(default_factory=dict)
    _predict: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._predict is None:
            xy = np.column_stack([self.x_um, self.y_um]).astype(float)
            predictor = _build(self.model, xy, np.asarray(self.z_um, float), self.smoothing)
            object.__setattr__(self, "_predict", predictor)

    def z_at(self, x_um: float, y_um: float) -> float:
        """The surface's z at one position."""
        return float(self._predict(np.array([[x_um, y_um]], float))[0])

    def z_at_many(self, x_um: Values, y_um: Values) -> Array:
        xy = np.column_stack([np.asarray(x_um, float).ravel(), np.asarray(y_um, float).ravel()])
        return np.asarray(self._predict(xy), float).reshape(np.shape(x_um))

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "smoothing": self.smoothing,
            "loo_rms_um": _json_float(self.loo_rms_um),
            "loo_by_model": {k: _json_float(v) for k, v in self.loo_by_model.items()},
            "points": [{"x_um": x, "y_um": y, "z_um": z, "residual_um": r, "loo_error_um": e}
                       for x, y, z, r, e in zip(self.x_um, self.y_um, self.z_um,
                                                self.residuals_um or [None] * len(self.z_um),
                                                self.loo_errors_um or [None] * len(self.z_um),
                                                strict=True)],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SurfaceFit:
        points = data["points"]
        return fit_with(str(data["model"]), [p["x_um"] for p in points], [p["y_um"] for p in points],
                        [p["z_um"] for p in points], float(data.get("smoothing", 0.0)))


def _json_float(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


class _Scaler:
    """Centres and scales coordinates to about unit size, so polynomial and spline fits are
    well conditioned whatever the units."""

    def __init__(self, xy: Array) -> None:
        self.centre = xy.mean(axis=0)
        span = float(np.max(np.ptp(xy, axis=0))) if len(xy) > 1 else 0.0
        self.scale = span / 2 if span > 0 else 1.0

    def __call__(self, xy: Array) -> Array:
        return (xy - self.centre) / self.scale


def _design(model: str, uv: Array) -> Array:
    u, v = uv[:, 0], uv[:, 1]
    one = np.ones(len(uv))
    if model == "constant":
        return one[:, None]
    if model == "plane":
        return np.column_stack([one, u, v])
    return np.column_stack([one, u, v, u * u, u * v, v * v])


def _build(model: str, xy: Array, z: Array, smoothing: float) -> Any:
    """A function (N x 2 positions) -> z for the model fitted through the points."""
    if model not in SURFACE_MODELS:
        raise InputError(f"unknown surface model {model!r}; choose one of: auto, {', '.join(SURFACE_MODELS)}")
    if len(z) < MIN_POINTS[model]:
        raise InputError(f"a {model} surface needs at least {MIN_POINTS[model]} points, got {len(z)}")
    scaler = _Scaler(xy)
    uv = scaler(xy)
    if model == "tps":
        from scipy.interpolate import RBFInterpolator

        spline = RBFInterpolator(uv, z, kernel="thin_plate_spline", smoothing=smoothing, degree=1)
        return lambda q: spline(scaler(np.asarray(q, float)))
    design = _design(model, uv)
    coef, _, rank, _ = np.linalg.lstsq(design, z, rcond=None)
    if rank < design.shape[1]:
        # Points on too few lines (two rows of a grid for a quadratic): the model's terms are
        # not all determined, and its predictions off those lines would be arbitrary.
        raise InputError(f"the points do not determine a {model} surface")
    return lambda q: _design(model, scaler(np.asarray(q, float))) @ coef


def _loo_errors(model: str, xy: Array, z: Array, smoothing: float) -> Array:
    """Measured minus predicted by the model fitted without that point, per point."""
    errors = np.empty(len(z))
    for i in range(len(z)):
        keep = np.arange(len(z)) != i
        try:
            predict = _build(model, xy[keep], z[keep], smoothing)
            errors[i] = z[i] - float(predict(xy[i:i + 1])[0])
        except (np.linalg.LinAlgError, ValueError):  # degenerate layout (collinear points)
            errors[i] = np.inf
    return errors


def _rms(values: Array) -> float:
    return float(np.sqrt(np.mean(values**2))) if len(values) else float("nan")


def fit_with(model: str, x_um: Values, y_um: Values, z_um: Values,
             smoothing: float = 0.0, loo_by_model: dict[str, float] | None = None) -> SurfaceFit:
    """Fit one named model (with a given spline smoothing) and measure its errors."""
    xy = np.column_stack([x_um, y_um]).astype(float)
    z = np.asarray(z_um, float)
    predict = _build(model, xy, z, smoothing)
    residuals = z - predict(xy)
    loo = _loo_errors(model, xy, z, smoothing) if len(z) > MIN_POINTS[model] else np.array([])
    return SurfaceFit(model, tuple(map(float, x_um)), tuple(map(float, y_um)), tuple(map(float, z)),
                      smoothing, _rms(loo) if len(loo) else float("nan"),
                      tuple(map(float, loo)), tuple(map(float, residuals)), dict(loo_by_model or {}),
                      _predict=predict)


def fit_surface(x_um: Values, y_um: Values, z_um: Values,
                model: str = "auto") -> SurfaceFit:
    """Fit ``model`` (or choose one by leave-one-out error with ``auto``)."""
    n = len(z_um)
    if n == 0:
        raise InputError("no points to fit a surface through")
    if model != "auto":
        if model not in SURFACE_MODELS:
            raise InputError(f"unknown surface model {model!r}; choose one of: auto, "
                             f"{', '.join(SURFACE_MODELS)}")
        smoothing = _best_smoothing(x_um, y_um, z_um)[0] if model == "tps" else 0.0
        return fit_with(model, x_um, y_um, z_um, smoothing)
    xy = np.column_stack([x_um, y_um]).astype(float)
    z = np.asarray(z_um, float)
    scores: dict[str, float] = {}
    smoothing_of: dict[str, float] = {}
    for name in SURFACE_MODELS:
        if n <= MIN_POINTS[name]:  # leaving one out needs one point to spare
            continue
        try:
            _build(name, xy, z, 0.0)
        except (ValueError, np.linalg.LinAlgError):
            continue  # not determined by these points
        if name == "tps":
            smoothing_of[name], scores[name] = _best_smoothing(x_um, y_um, z_um)
        else:
            scores[name] = _rms(_loo_errors(name, xy, z, 0.0))
        if not np.isfinite(scores[name]):
            del scores[name]
    if not scores:
        return fit_with("constant", x_um, y_um, z_um)
    chosen = next(iter(scores))
    for name in scores:  # in order of flexibility: a later model must clearly do better
        if scores[name] < SIMPLER_MARGIN * scores[chosen]:
            chosen = name
    return fit_with(chosen, x_um, y_um, z_um, smoothing_of.get(chosen, 0.0), scores)


def _best_smoothing(x_um: Values, y_um: Values, z_um: Values) -> tuple[float, float]:
    xy = np.column_stack([x_um, y_um]).astype(float)
    z = np.asarray(z_um, float)
    if len(z) <= MIN_POINTS["tps"]:
        return TPS_SMOOTHING[-1], float("nan")
    results = [(_rms(_loo_errors("tps", xy, z, s)), s) for s in TPS_SMOOTHING]
    best_rms, best_s = min(results)
    return best_s, best_rms


def outlier_threshold(others_loo_um: Array, floor_um: float, k: float = OUTLIER_K) -> float:
    """How far a point may disagree with the surface through the others: ``k`` robust sigmas
    of their leave-one-out errors (1.4826 x MAD), or ``TAIL_FACTOR`` x their 90th-percentile
    error, whichever is larger, and never less than ``floor_um``. The percentile term matters
    at corners and edges, where even good points are predicted by extrapolation and miss by
    more than the middle ones (the MAD alone sets good corner points apart)."""
    if not len(others_loo_um):
        return floor_um
    mad = float(np.median(np.abs(others_loo_um - np.median(others_loo_um))))
    tail = float(np.percentile(np.abs(others_loo_um), 90))
    return max(k * MAD_TO_SIGMA * mad, TAIL_FACTOR * tail, floor_um)


@dataclass(frozen=True)
class RobustFit:
    """A surface and the points set apart from it (indices into the points given)."""

    surface: SurfaceFit
    inliers: tuple[int, ...]
    outliers: tuple[int, ...]
    outlier_errors_um: tuple[float, ...]
    """Each set-apart point's measured minus predicted-without-it."""
    threshold_um: float


def robust_fit(x_um: Values, y_um: Values, z_um: Values,
               model: str = "auto", floor_um: float = 4.0, k: float = OUTLIER_K) -> RobustFit:
    """Fit while setting apart, one at a time, the point with the largest leave-one-out error
    when it disagrees with the surface through the others by more than ``max(k * sigma,
    floor_um)``, sigma being the robust spread of the others' leave-one-out errors. The spread is
    taken without the suspect: one bad point inflates its neighbours' errors (a bad corner point
    tilts every plane through it) and would otherwise hide itself. Never drops below the points
    the model needs plus one to leave out."""
    xs, ys, zs = (np.asarray(v, float) for v in (x_um, y_um, z_um))
    keep = list(range(len(zs)))
    outliers: list[int] = []
    errors: list[float] = []
    fit = fit_surface(xs, ys, zs, model)
    threshold = floor_um
    while len(fit.loo_errors_um) and len(keep) > MIN_POINTS[fit.model] + 2:
        loo = np.nan_to_num(np.asarray(fit.loo_errors_um, float), nan=0.0, posinf=0.0, neginf=0.0)
        worst = int(np.argmax(np.abs(loo)))
        rest = keep[:worst] + keep[worst + 1:]
        rest_fit = fit_surface(xs[rest], ys[rest], zs[rest], model)
        rest_loo = np.asarray(rest_fit.loo_errors_um, float)
        rest_loo = rest_loo[np.isfinite(rest_loo)]
        threshold = outlier_threshold(rest_loo, floor_um, k)
        error = float(zs[keep[worst]] - rest_fit.z_at(xs[keep[worst]], ys[keep[worst]]))
        if abs(error) <= threshold:
            break
        outliers.append(keep[worst])
        errors.append(error)
        keep, fit = rest, rest_fit
    return RobustFit(fit, tuple(keep), tuple(outliers), tuple(errors), threshold)
