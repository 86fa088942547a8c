"""Reference autofocus methods of other projects, run the way their users run them.

Each is reimplemented from its public documentation and source (read, not copied), with its own
defaults and its own sharpness measure, and runs on a live (simulated) microscope through
:class:`LiveProbe`: the stage moves, the camera exposes, frames are scored as that project scores
them, and the method ends with its own final moves. Their users start them near focus (they
are local methods), so the benchmarks place the stage as such a user would; the labels say how.

``oughtafocus``: Micro-Manager's OughtaFocus (``autofocus/OughtaFocus.java`` and
``internal/oughtafocus/BrentFocuser.java``), its defaults: SearchRange_um 10, Tolerance_um 1,
Maximize "Edges", CropFactor 1. It maximises the score with Apache Commons Math's
``BrentOptimizer`` (relative tolerance 1e-9, absolute tolerance 1 um, ``MaxEval(100)``) over
``SearchInterval(z - 5, z + 5)`` whose start value is the current z, then ``setPosition`` to
the optimiser's point. "Edges" is ImageJ's ``findEdges`` (3x3 Sobel gradient magnitude, clipped
to the pixel type) averaged, over the mean intensity of the frame. Math3's Brent starts at the
start value, never evaluates the interval's ends, stops when the bracket is within twice the
tolerance of its best point, and returns the best point it evaluated; there is no failure:
whatever it ends at is the answer. No settling wait beyond the stage's own (``waitForDevice``).
Its Exposure property (default 100 ms, set for its frames) is left at the camera's exposure here,
as the project's issues define the comparison; ``benchmarks/refocus.py`` also runs it at 100 ms.

``imswitch``: openUC2 ImSwitch ``AutofocusController.autoFocus`` (controller
``imcontrol/controller/controllers/AutofocusController.py``), its defaults: rangez 100,
resolutionz 10, tSettle 0.1 s, nGauss 0, nCropsize 2048, focusAlgorithm "LAPE", twoStage off.
``Nz = max(5, floor(rangez / resolutionz) + 1)`` = 11 positions from -50 to +50 um around the
current z, a 0.1 s settle after each move; each frame is centre-cropped (a square of
``min(2048, h, w)``), 2x binned (``cv2.resize``, area), converted to 8 bits and scored as the
mean squared ``cv2.Laplacian``. Then the stage goes back to the first position, a Gaussian
``a exp(-(x - x0)^2 / 2 s^2) + c`` is fitted with ``curve_fit`` under bounds (``a >= 0``, ``x0``
within the scan widened by ``3 s0``, ``s0`` = range / 5) from ``x0`` = the best frame, falling
back to the best frame when the fit fails, and the stage moves to ``x0``. Its plausibility
check: fewer than 5 valid (finite) focus values is a failure, the stage back at the centre;
otherwise it answers. The optional second stage (``twoStage``) repeats the scan at a tenth of
range and step (10 um in 1 um steps: 11 frames) around the first answer, after a move there
and a settle of 2 tSettle. The fit may answer up to 60 um outside the scan; ImSwitch clamps
only to the stage's limits, this one to the benchmark's range (the stage refuses to leave it).

``openflexure``: OpenFlexure Microscope ``AutofocusThing.fast_autofocus`` (``autofocus.py`` of
the v3 server), its defaults: dz 2000 motor steps, start "centre". With the JPEG sharpness
monitor running it moves down dz/2, then up dz while the MJPEG stream runs, each frame's size
in bytes being its sharpness and its z interpolated linearly in time between the stage's
position readings at the start and the end of that move (a frame's time is its arrival); the
peak is the z of the largest frame; then it moves down dz and up to the peak. OpenFlexure's z
step is about 0.062 um (2000 steps = 124 um); its stage moves about 1000 steps/s, so the sweep
here runs at 62 um/s (an assumption: the speed of the OpenFlexure stage, not of ours). JPEG
quality 95 (OpenCV's default) on the frame as the camera gives it.

Run one with :func:`run_reference`; ``REFERENCES`` lists them with their labels.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import optimize

from autofocus.curve import FocusCurve, Peak, Sample
from autofocus.devices.base import ContinuousStage, Frame, Microscope
from autofocus.errors import FocusNotFound, LimitError
from autofocus.space import SearchSpace, StopWhen, stepped_sweep

Measure = Callable[[Frame], float]

# -- measures --------------------------------------------------------------------------------


def imagej_edges(frame: Frame) -> float:
    """OughtaFocus "Edges": mean of ImageJ's ``findEdges`` image over the frame's mean.

    ``findEdges`` is the magnitude of the two 3x3 Sobel derivatives, truncated to an integer and
    clipped to the pixel type's maximum (255 for 8-bit), with edge pixels replicated."""
    image = np.asarray(frame)
    data = image.astype(np.float32)
    gx = cv2.Sobel(data, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.Sobel(data, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REPLICATE)
    top = float(np.iinfo(image.dtype).max) if image.dtype.kind in "ui" else math.inf
    edges = np.minimum(np.floor(np.sqrt(gx * gx + gy * gy)), top)
    mean = float(data.mean())
    return float(edges.mean()) / mean if mean > 0 else 0.0


def imswitch_lape(frame: Frame, crop: int = 2048, binning: int = 2) -> float:
    """ImSwitch "LAPE": centre crop, 2x area binning, 8 bits, mean squared Laplacian."""
    image = np.asarray(frame)
    h, w = image.shape[:2]
    side = int(min(crop, h, w))
    y0, x0 = max(0, h // 2 - side // 2), max(0, w // 2 - side // 2)
    gray = image[y0:y0 + side, x0:x0 + side]
    if binning > 1:
        gray = cv2.resize(gray, (side // binning, side // binning), interpolation=cv2.INTER_AREA)
    if gray.dtype == np.uint16:
        gray = (gray >> 8).astype(np.uint8)
    elif gray.dtype != np.uint8:
        gray = np.clip(gray, 0, 255).astype(np.uint8)
    lap = cv2.Laplacian(gray, cv2.CV_32F)
    return float(np.mean(lap * lap))


def jpeg_size(frame: Frame, quality: int = 95) -> float:
    """OpenFlexure's sharpness: the size in bytes of the frame as a JPEG."""
    image = np.asarray(frame)
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    ok, encoded = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), quality])
    return float(len(encoded)) if ok else 0.0


# -- the probe ---------------------------------------------------------------------------------


class LiveProbe:
    """Moves the stage, waits ``settle_s``, grabs, scores with the method's own measure.

    A :class:`autofocus.space.Probe` plus what these methods also do: plain moves (``move``) and
    OpenFlexure's streamed move (``stream_move``). It refuses any position outside ``space``."""

    def __init__(self, microscope: Microscope, space: SearchSpace, measure: Measure,
                 settle_s: float = 0.0) -> None:
        self.scope = microscope
        self.space = space
        self.measure = measure
        self.settle_s = settle_s
        self._curve = FocusCurve()
        self._t0 = microscope.clock.now()

    @property
    def curve(self) -> FocusCurve:
        return self._curve

    @property
    def frames(self) -> int:
        return len(self._curve.samples)

    def position_um(self) -> float:
        return self.scope.stage.position_um()

    def move(self, z_um: float, settle_s: float | None = None) -> None:
        if not self.space.contains(z_um):
            raise LimitError(f"reference asked for {z_um:.2f} um, outside "
                             f"{self.space.lo_um:.2f}..{self.space.hi_um:.2f} um")
        self.scope.stage.move_to_um(self.space.clamp(z_um))
        self.scope.clock.sleep(self.settle_s if settle_s is None else settle_s)

    def grab_score(self, z_um: float) -> float:
        """Grab a frame here (no move) and record it at ``z_um``."""
        score = float(self.measure(self.scope.camera.grab()))
        self._curve.add(z_um, score, self.scope.clock.now() - self._t0, coarse=score)
        return score

    def sample(self, z_um: float) -> float:
        self.move(z_um)
        return self.grab_score(self.space.clamp(z_um))

    def sweep(self, start_um: float, end_um: float, spacing_um: float, *,
              stop_when: StopWhen | None = None) -> list[Sample]:
        return stepped_sweep(self, start_um, end_um, spacing_um, stop_when=stop_when)

    def stream_move(self, z_um: float, speed_um_s: float) -> list[tuple[float, float]]:
        """Move to ``z_um`` at ``speed_um_s`` while the camera streams; like OpenFlexure's
        monitor, frames get a z from their arrival time, interpolated between the stage's
        readings at the start and the end of the move. Returns (z, score) per frame."""
        if not self.space.contains(z_um):
            raise LimitError(f"reference asked for {z_um:.2f} um, outside the range")
        stage, clock = self.scope.stage, self.scope.clock
        t_start, z_start = clock.now(), stage.position_um()
        arrivals: list[tuple[float, float]] = []
        if isinstance(stage, ContinuousStage):
            stage.start_move_to_um(self.space.clamp(z_um), speed_um_s)
            while stage.is_moving():
                score = float(self.measure(self.scope.camera.grab()))
                arrivals.append((clock.now(), score))
        else:  # a stage that cannot stream: the move happens, no frame sees it
            stage.move_to_um(self.space.clamp(z_um))
        t_end, z_end = clock.now(), stage.position_um()
        out = []
        for t, score in arrivals:
            z = float(np.interp(t, [t_start, t_end], [z_start, z_end]))
            self._curve.add(z, score, t - self._t0, coarse=score, moving=True)
            out.append((z, score))
        return out


# -- Micro-Manager OughtaFocus -----------------------------------------------------------------

GOLDEN = 0.5 * (3.0 - math.sqrt(5.0))


def brent_maximise(f: Callable[[float], float], lo: float, hi: float, start: float,
                   rel_tol: float = 1e-9, abs_tol: float = 1.0,
                   max_eval: int = 100) -> tuple[float, float]:
    """Brent's minimisation without derivatives (Brent 1973, ch. 5) as Apache Commons Math 3's
    ``BrentOptimizer`` runs it: from ``start``, parabolic steps when they are acceptable and
    golden-section steps otherwise, never closer than ``tol = rel_tol |x| + abs_tol`` to a point
    already tried, until the bracket around the best point is within ``2 tol``; the best point
    evaluated is returned (x, f(x)). Stops after ``max_eval`` evaluations."""
    a, b = min(lo, hi), max(lo, hi)
    x = w = v = start
    fx = -f(x)  # minimise the negated score
    fw = fv = fx
    best = (x, fx)
    d = e = 0.0
    evaluations = 1
    while evaluations < max_eval:
        m = 0.5 * (a + b)
        tol1 = rel_tol * abs(x) + abs_tol
        tol2 = 2.0 * tol1
        if abs(x - m) <= tol2 - 0.5 * (b - a):
            break
        golden = True
        if abs(e) > tol1:  # try a parabola through x, w, v
            r = (x - w) * (fx - fv)
            q = (x - v) * (fx - fw)
            p = (x - v) * q - (x - w) * r
            q = 2.0 * (q - r)
            if q > 0:
                p = -p
            else:
                q = -q
            previous_e, e = e, d
            if q * (a - x) < p < q * (b - x) and abs(p) < abs(0.5 * q * previous_e):
                d = p / q
                u = x + d
                if u - a < tol2 or b - u < tol2:  # too near an end: step tol towards the middle
                    d = tol1 if x <= m else -tol1
                golden = False
        if golden:
            e = (b if x < m else a) - x
            d = GOLDEN * e
        u = x + (d if abs(d) >= tol1 else math.copysign(tol1, d))
        fu = -f(u)
        evaluations += 1
        if fu < best[1]:
            best = (u, fu)
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
    return best[0], -best[1]


OUGHTAFOCUS_RANGE_UM = 10.0
OUGHTAFOCUS_TOLERANCE_UM = 1.0


def oughtafocus(probe: LiveProbe, space: SearchSpace) -> Peak:
    """OughtaFocus at its defaults; ends at its answer (never "not found")."""
    z0 = space.start_um
    lo = max(z0 - OUGHTAFOCUS_RANGE_UM / 2, space.lo_um)
    hi = min(z0 + OUGHTAFOCUS_RANGE_UM / 2, space.hi_um)
    z, score = brent_maximise(probe.sample, lo, hi, min(max(z0, lo), hi),
                              abs_tol=OUGHTAFOCUS_TOLERANCE_UM, max_eval=100)
    probe.move(z)
    return Peak(z, score, 1.0, "oughtafocus")


# -- openUC2 ImSwitch --------------------------------------------------------------------------

IMSWITCH_RANGE_UM = 100.0
IMSWITCH_RESOLUTION_UM = 10.0
IMSWITCH_SETTLE_S = 0.1


def _imswitch_gaussian(x: np.ndarray, a: float, x0: float, sigma: float, c: float) -> np.ndarray:
    out: np.ndarray = a * np.exp(-0.5 * ((x - x0) / (sigma + 1e-12)) ** 2) + c
    return out


def imswitch_fit(z: np.ndarray, scores: np.ndarray) -> float:
    """The bounded Gaussian fit's centre, or the best frame when the fit fails."""
    sigma0 = max(float(z.max() - z.min()) / 5.0, 1e-6)
    best = float(z[int(np.argmax(scores))])
    p0 = [float(scores.max() - scores.min() + 1e-9), best, sigma0, float(scores.min())]
    bounds = ([0.0, float(z.min()) - 3 * sigma0, 1e-6, -np.inf],
              [np.inf, float(z.max()) + 3 * sigma0, np.inf, np.inf])
    try:
        params, _ = optimize.curve_fit(_imswitch_gaussian, z, scores, p0=p0, bounds=bounds,
                                       maxfev=20000)
    except (RuntimeError, ValueError):
        return best
    return float(params[1])


def imswitch_scan(probe: LiveProbe, space: SearchSpace, centre: float, range_um: float,
                  resolution_um: float) -> float:
    """One ImSwitch scan around ``centre``; the stage ends at its answer (clamped to space)."""
    n = int(max(5, math.floor(abs(range_um) / max(1e-6, abs(resolution_um))) + 1))
    positions = [space.clamp(p) for p in np.linspace(-range_um / 2, range_um / 2, n) + centre]
    scores = np.array([probe.sample(z) for z in positions])
    probe.move(positions[0], settle_s=0.0)  # back to the first position before fitting
    valid = np.isfinite(scores)
    if int(valid.sum()) < 5:
        probe.move(centre, settle_s=0.0)
        raise FocusNotFound("fewer than 5 valid focus values")
    target = space.clamp(imswitch_fit(np.asarray(positions)[valid], scores[valid]))
    probe.move(target, settle_s=0.0)
    return target


def imswitch(probe: LiveProbe, space: SearchSpace, *, two_stage: bool = False,
             range_um: float = IMSWITCH_RANGE_UM,
             resolution_um: float = IMSWITCH_RESOLUTION_UM) -> Peak:
    """ImSwitch ``autoFocus`` at its defaults (``two_stage``: its optional fine scan)."""
    z = imswitch_scan(probe, space, space.start_um, range_um, resolution_um)
    if two_stage:
        probe.move(z, settle_s=2 * probe.settle_s)
        with contextlib.suppress(FocusNotFound):  # a failed fine scan keeps the coarse answer
            z = imswitch_scan(probe, space, z, range_um / 10, resolution_um / 10)
    return Peak(z, max(s.score for s in probe.curve.samples), 1.0, "imswitch")


def imswitch_two_stage(probe: LiveProbe, space: SearchSpace) -> Peak:
    return imswitch(probe, space, two_stage=True)


def imswitch_whole_range(probe: LiveProbe, space: SearchSpace) -> Peak:
    """ImSwitch's scan stretched over the whole range with its 11 frames (a global variant,
    not how its users run it): rangez = the range, resolutionz = a tenth of it, centred."""
    centre = 0.5 * (space.lo_um + space.hi_um)
    probe.move(centre, settle_s=0.0)
    z = imswitch_scan(probe, space, centre, space.width_um, space.width_um / 10)
    return Peak(z, max(s.score for s in probe.curve.samples), 1.0, "imswitch-global")


# -- OpenFlexure -------------------------------------------------------------------------------

OPENFLEXURE_STEP_UM = 0.062
OPENFLEXURE_DZ_STEPS = 2000
OPENFLEXURE_SPEED_UM_S = 1000 * OPENFLEXURE_STEP_UM


def openflexure(probe: LiveProbe, space: SearchSpace) -> Peak:
    """OpenFlexure ``fast_autofocus`` (dz 2000 steps, start "centre")."""
    dz = OPENFLEXURE_DZ_STEPS * OPENFLEXURE_STEP_UM
    z0 = space.start_um
    probe.move(space.clamp(z0 - dz / 2), settle_s=0.0)
    frames = probe.stream_move(space.clamp(z0 + dz / 2), OPENFLEXURE_SPEED_UM_S)
    if not frames:
        raise FocusNotFound("no images were captured during the move")
    peak_z, peak_score = max(frames, key=lambda item: item[1])
    probe.move(space.clamp(probe.position_um() - dz), settle_s=0.0)
    probe.move(space.clamp(peak_z), settle_s=0.0)
    return Peak(space.clamp(peak_z), peak_score, 1.0, "openflexure")


# -- registry and runner -----------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    search: Callable[[LiveProbe, SearchSpace], Peak]
    measure: Measure
    settle_s: float
    label: str
    start_within_um: float | None
    """How far from focus its users start it (None: anywhere; a global method)."""


REFERENCES: dict[str, Reference] = {
    "oughtafocus": Reference(oughtafocus, imagej_edges, 0.0,
                             "OughtaFocus defaults, start within 5 um", 5.0),
    "imswitch": Reference(imswitch, imswitch_lape, IMSWITCH_SETTLE_S,
                          "ImSwitch autoFocus defaults, start within 20 um", 20.0),
    "imswitch-2stage": Reference(imswitch_two_stage, imswitch_lape, IMSWITCH_SETTLE_S,
                                 "ImSwitch two-stage, start within 20 um", 20.0),
    "openflexure": Reference(openflexure, jpeg_size, 0.0,
                             "OpenFlexure fast_autofocus, start within 20 um", 20.0),
    "imswitch-global": Reference(imswitch_whole_range, imswitch_lape, IMSWITCH_SETTLE_S,
                                 "global: ImSwitch scan over the whole range", None),
}


@dataclass(frozen=True)
class ReferenceRun:
    method: str
    status: str
    z_um: float | None
    frames: int
    hardware_s: float
    confidence: float
    reason: str = ""


def run_reference(method: str, microscope: Microscope, space: SearchSpace) -> ReferenceRun:
    """Run a reference from where the stage is now (``space.start_um`` should say so)."""
    ref = REFERENCES[method]
    probe = LiveProbe(microscope, space, ref.measure, ref.settle_s)
    began = microscope.clock.now()
    try:
        peak = ref.search(probe, space)
    except FocusNotFound as exc:
        return ReferenceRun(method, "not_found", None, probe.frames,
                            microscope.clock.now() - began, 0.0, exc.reason)
    return ReferenceRun(method, "focused", peak.z_um, probe.frames,
                        microscope.clock.now() - began, peak.confidence)
