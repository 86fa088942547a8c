"""Offline focus: the best plane of z-stacks that were already recorded.

A stack is a multi-page TIFF/OME-TIFF or a folder/glob of single images ordered by name (read by
:mod:`autofocus.readers`). Each plane is scored with a focus measure; the scores form a
:class:`~autofocus.curve.FocusCurve`, and the curve's own peak analysis (sub-plane fit and
confidence checks) gives the answer, so a stack is judged exactly as a live search would be.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from autofocus.curve import Expect, FocusCurve
from autofocus.errors import FocusNotFound
from autofocus.events import EventHandler, ProgressEvent
from autofocus.frames import Frame
from autofocus.metrics import Roi, make_metric
from autofocus.modes import expect_for_mode, resolve_metric
from autofocus.readers import ZSource, ZStack, open_stack

__all__ = [
    "STACK_MIN_POINTS",
    "StackResult",
    "analyse_scores",
    "find_best_plane",
    "output_stem",
    "plane_at",
    "score_planes",
    "write_csv",
]

# A live search can sample more densely when a peak is narrower than its steps; a recording
# cannot, and its planes are the only possible answers. So two neighbouring planes above the
# noise are enough to name the best one (a lone plane is still refused: a flash or a bad frame
# looks like that). Sparse stacks need this: brightfield_cells_set1 has 6 planes, 2 of them sharp.
STACK_MIN_POINTS = 2


# --- scoring ---------------------------------------------------------------------------------------


@dataclass
class StackResult:
    """The best plane of one stack. ``best_plane`` is the fitted, fractional plane number;
    ``best_z_um`` the same position in micrometres (None when the spacing is unknown).
    ``sharpest_index`` is the plane with the highest score, reported even when the curve gives
    no trustworthy peak, so a user still sees what the measure preferred."""

    path: str
    status: Literal["focused", "not_found"]
    best_index: int | None
    best_plane: float | None
    best_z_um: float | None
    sharpest_index: int
    confidence: float
    reason: str
    metric: str
    planes: int
    dtype: str
    z_step_um: float | None
    z_source: ZSource
    z_um: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)

    @property
    def focused(self) -> bool:
        return self.status == "focused"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def score_planes(
    stack: ZStack, score: Callable[[Frame], float], on_event: EventHandler | None = None
) -> tuple[list[float], str]:
    """Score every plane, one in memory at a time. Returns the scores and the planes' dtype."""
    emit: EventHandler = on_event or (lambda event: None)
    scores: list[float] = []
    dtype = ""
    for index, frame in enumerate(stack.planes()):
        dtype = str(frame.dtype)
        scores.append(float(score(frame)))
        emit(ProgressEvent("frame", index + 1, float(stack.z_um[index]), scores[-1],
                           message=stack.path, expected_frames=len(stack)))
    return scores, dtype


def analyse_scores(stack: ZStack, scores: Sequence[float], metric: str, dtype: str,
                   expect: Expect = "peak") -> StackResult:
    """Hand the scores to the focus-curve analysis (the same checks a live search gets) and
    express its answer in planes. ``expect`` is what focus looks like on the curve (a peak, the
    dip of a transparent specimen, or either: see :mod:`autofocus.curve`)."""
    z = stack.z_um
    curve = FocusCurve()
    for index, value in enumerate(scores):
        curve.add(float(z[index]), value, t_s=float(index))
    known_z = stack.z_source != "none"
    common: dict[str, Any] = {
        "path": stack.path, "metric": metric, "planes": len(stack), "dtype": dtype,
        "z_step_um": stack.z_step_um, "z_source": stack.z_source,
        "z_um": [float(v) for v in z] if known_z else [],
        "scores": [float(s) for s in scores], "sharpest_index": int(np.argmax(scores)),
    }
    try:
        peak = curve.locate_peak(expect=expect, min_points=STACK_MIN_POINTS)
    except FocusNotFound as exc:
        return StackResult(status="not_found", best_index=None, best_plane=None, best_z_um=None,
                           confidence=0.0, reason=exc.reason, **common)
    fractional = plane_at(z, peak.z_um)
    return StackResult(
        status="focused", best_index=round(fractional), best_plane=fractional,
        best_z_um=peak.z_um if known_z else None, confidence=float(peak.confidence), reason="",
        **common,
    )


def plane_at(z_um: np.ndarray, z: float) -> float:
    """The fractional plane number of position ``z`` (stacks may run up or down in z)."""
    indices = np.arange(len(z_um), dtype=float)
    order = np.argsort(z_um)
    return float(np.interp(z, z_um[order], indices[order]))


def find_best_plane(
    path: str | Path,
    *,
    z_step_um: float | None = None,
    metric: str | None = None,
    mode: str = "auto",
    blur: int | None = None,
    roi: Roi | None = None,
    on_event: EventHandler | None = None,
) -> StackResult:
    """The best plane of the stack at ``path`` (TIFF, folder or glob of images).

    Status ``not_found`` comes with the curve analysis' reason (flat curve, peak at an end...).
    Bad input (unreadable files, unknown metric) raises InputError.
    """
    name = resolve_metric(metric, mode, blur)
    # Only pass blur when the caller chose one, so each measure keeps its own default otherwise.
    options: dict[str, Any] = {"roi": roi} if blur is None else {"roi": roi, "blur": blur}
    score = make_metric(name, **options)
    with open_stack(path, z_step_um) as stack:
        scores, dtype = score_planes(stack, score, on_event)
        return analyse_scores(stack, scores, name, dtype, expect_for_mode(mode))


# --- output (plots: autofocus.report) -------------------------------------------------------------


def output_stem(path: str) -> str:
    """A file-name-safe stem for one stack's outputs."""
    name = Path(path.rstrip("/\\")).name or "stack"
    stem = name.rsplit(".", 2)[0] if name.lower().endswith((".ome.tif", ".ome.tiff")) else Path(name).stem
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem) or "stack"


def write_csv(result: StackResult, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["plane", "z_um", "score", "best"])
        for index, value in enumerate(result.scores):
            z = result.z_um[index] if result.z_um else ""
            writer.writerow([index, z, repr(value), int(index == result.best_index)])
    return path
