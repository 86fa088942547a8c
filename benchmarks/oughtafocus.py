"""Micro-Manager's OughtaFocus at its defaults, as its users run it (a faithful reference).

Reimplemented from its published description and the documented behaviour of the library it
uses, not from its code:

- the "Edges" measure: ImageJ's Find Edges (3x3 Sobel, ``sqrt(gx^2 + gy^2)``, clipped to the
  pixel type) averaged over the image, divided by the image's mean;
- Apache Commons Math's ``BrentOptimizer`` (relative threshold 1e-8, absolute threshold = the
  tolerance, 1 um by default) maximising that measure over the ``SearchInterval`` of
  ``SearchRange`` (10 um) centred on the current z, starting at the current z, at most 100
  evaluations; it returns the best point evaluated and the stage goes there. It never reports
  failure.

Registered into the benchmark worker's strategy and metric tables (never into the package).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

from autofocus.curve import Peak
from autofocus.metrics import METRICS, MetricInfo
from autofocus.search import STRATEGIES, Probe, SearchSpace

NAME = "oughtafocus (defaults)"
SEARCH_RANGE_UM = 10.0
TOLERANCE_UM = 1.0
RELATIVE_THRESHOLD = 1e-8
MAX_EVALUATIONS = 100
GOLDEN_SECTION = 0.5 * (3.0 - math.sqrt(5.0))


def edges(image: np.ndarray, **_: object) -> float:
    """Mean of ImageJ's Find Edges image over the image mean (OughtaFocus's "Edges")."""
    data = image.astype(np.float32)
    gx = cv2.Sobel(data, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.Sobel(data, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REPLICATE)
    top = 255.0 if image.dtype == np.uint8 else 65535.0
    found = np.minimum(np.sqrt(gx * gx + gy * gy), top)
    mean = float(data.mean())
    return float(found.mean()) / mean if mean > 0 else 0.0


def brent_maximise(f: Callable[[float], float], lo: float, hi: float, start: float,
                   tolerance: float) -> float:
    """Commons Math ``BrentOptimizer.doOptimize`` for a maximum; returns the best point seen."""
    a, b = min(lo, hi), max(lo, hi)
    x = v = w = start
    d = e = 0.0
    fx = -f(x)
    fv = fw = fx
    best_x, best_f = x, fx
    evaluations = 1
    while evaluations < MAX_EVALUATIONS:
        m = 0.5 * (a + b)
        tol1 = RELATIVE_THRESHOLD * abs(x) + tolerance
        tol2 = 2 * tol1
        if abs(x - m) <= tol2 - 0.5 * (b - a):
            break
        golden = True
        if abs(e) > tol1:
            r = (x - w) * (fx - fv)
            q = (x - v) * (fx - fw)
            p = (x - v) * q - (x - w) * r
            q = 2 * (q - r)
            if q > 0:
                p = -p
            else:
                q = -q
            r, e = e, d
            if q * (a - x) < p < q * (b - x) and abs(p) < abs(0.5 * q * r):
                d = p / q
                u = x + d
                if u - a < tol2 or b - u < tol2:
                    d = tol1 if x <= m else -tol1
                golden = False
        if golden:
            e = (b - x) if x < m else (a - x)
            d = GOLDEN_SECTION * e
        u = x + (d if abs(d) >= tol1 else (tol1 if d >= 0 else -tol1))
        fu = -f(u)
        evaluations += 1
        if fu < best_f:
            best_x, best_f = u, fu
        if fu <= fx:
            if u < x:
                b = x
            else:
                a = x
            v, fv, w, fw, x, fx = w, fw, x, fx, u, fu
        else:
            if u < x:
                a = u
            else:
                b = u
            if fu <= fw or w == x:
                v, fv, w, fw = w, fw, u, fu
            elif fu <= fv or v in (x, w):
                v, fv = u, fu
    return best_x


def oughtafocus(probe: Probe, space: SearchSpace) -> Peak:
    """OughtaFocus's run: Brent within SearchRange around the current z; the best point wins."""
    here = space.start_um
    lo = space.clamp(here - SEARCH_RANGE_UM / 2)
    hi = space.clamp(here + SEARCH_RANGE_UM / 2)
    scores: dict[float, float] = {}

    def score(z: float) -> float:
        scores[z] = probe.sample(space.clamp(z))
        return scores[z]

    best = brent_maximise(score, lo, hi, min(max(here, lo), hi), TOLERANCE_UM)
    return Peak(space.clamp(best), scores[best], 1.0, "brent-best-point")


def register() -> None:
    """Make ``oughtafocus`` and the ``edges`` measure known to this process's runner."""
    METRICS["edges"] = MetricInfo(edges, "OughtaFocus's Edges: mean Sobel edge / mean")
    STRATEGIES[NAME] = oughtafocus
