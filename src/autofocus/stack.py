"""Offline focus: the best plane of z-stacks that were already recorded.

A stack is a multi-page TIFF/OME-TIFF (read with tifffile, one plane at a time) or a folder/glob of
single images ordered by name. Each plane is scored with a focus measure; the scores form a
:class:`~autofocus.curve.FocusCurve`, and the curve's own peak analysis (sub-plane fit and
confidence checks) gives the answer, so a stack is judged exactly as a live search would be.
"""

from __future__ import annotations

import csv
import glob
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import cv2
import numpy as np

from autofocus.curve import Expect, FocusCurve
from autofocus.devices.base import Frame
from autofocus.errors import FocusNotFound, InputError
from autofocus.metrics import Roi, make_metric
from autofocus.modes import expect_for_mode, metric_for_mode
from autofocus.runner import EventHandler, ProgressEvent

TIFF_SUFFIXES = (".tif", ".tiff")
IMAGE_SUFFIXES = (*TIFF_SUFFIXES, ".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm")
ZSource = Literal["metadata", "user", "none"]

# A live search can sample more densely when a peak is narrower than its steps; a recording
# cannot, and its planes are the only possible answers. So two neighbouring planes above the
# noise are enough to name the best one (a lone plane is still refused: a flash or a bad frame
# looks like that). Sparse stacks need this: brightfield_cells_set1 has 6 planes, 2 of them sharp.
STACK_MIN_POINTS = 2

# Length units as tifffile hands them over from ImageJ and OME metadata, in micrometres.
_UM_PER_UNIT = {
    "nm": 1e-3, "nanometer": 1e-3, "nanometre": 1e-3,
    "um": 1.0, "µm": 1.0, "μm": 1.0, "\\u00b5m": 1.0, "micron": 1.0, "microns": 1.0,
    "micrometer": 1.0, "micrometre": 1.0,
    "mm": 1e3, "millimeter": 1e3, "millimetre": 1e3,
}


# --- reading ---------------------------------------------------------------------------------------


class PlaneReader(Protocol):
    """Random access to the planes of one stack; planes are read only when asked for."""

    def __len__(self) -> int: ...

    def read(self, index: int) -> Frame: ...

    def close(self) -> None: ...


class TiffPlanes:
    """The planes of a multi-page TIFF, read page by page so a stack never has to fit in memory."""

    def __init__(self, path: Path) -> None:
        import tifffile

        try:
            self._tif = tifffile.TiffFile(path)
        except (OSError, ValueError, tifffile.TiffFileError) as exc:
            raise InputError(f"cannot read {path} as TIFF: {exc}") from None
        self.path = path
        try:
            self._open_series()
        except BaseException:
            self._tif.close()  # the caller never gets an object to close
            raise

    def _open_series(self) -> None:
        self.z_step_um = tiff_z_step_um(self._tif)
        series = self._tif.series[0]
        self._shape = plane_layout(self.path, series.shape, series.axes)
        pages = list(series.pages)
        # One page per plane is the common layout and reads lazily; anything else (planes split
        # over several pages, or packed in one) is read whole once, which is correct if not frugal.
        self._pages = pages if len(pages) == self._shape[0] and all(p is not None for p in pages) else []
        self._whole: np.ndarray | None = None
        if not self._pages:
            self._whole = np.asarray(series.asarray()).reshape(self._shape)

    def __len__(self) -> int:
        return self._shape[0]

    def read(self, index: int) -> Frame:
        if self._whole is not None:
            return self._whole[index]
        page = self._pages[index]
        assert page is not None  # checked when the reader was made
        return np.asarray(page.asarray()).reshape(self._shape[1:])

    def close(self) -> None:
        self._tif.close()


def plane_layout(path: Path, shape: Sequence[int], axes: str) -> tuple[int, ...]:
    """(planes, height, width[, samples]) of a TIFF series; singleton axes (C=1, T=1) are dropped,
    and what remains besides Y, X and colour samples must be one stacking axis (Z, T, I, Q...)."""
    kept = [(n, a) for n, a in zip(shape, axes, strict=True) if n > 1 or a in "YX"]
    samples = [n for n, a in kept if a == "S"]
    spatial = [n for n, a in kept if a in "YX"]
    stacking = [(n, a) for n, a in kept if a not in "YXS"]
    if len(spatial) != 2 or len(stacking) > 1:
        raise InputError(
            f"{path}: axes {axes} with shape {tuple(shape)} is not one z-stack "
            "(expected Z, Y, X and optionally colour samples)"
        )
    planes = stacking[0][0] if stacking else 1
    return (planes, *spatial, *samples)


def tiff_z_step_um(tif: Any) -> float | None:
    """The z spacing a TIFF declares (ImageJ ``spacing`` or OME ``PhysicalSizeZ``), in um."""
    if tif.is_imagej and tif.imagej_metadata:
        meta = tif.imagej_metadata
        return _to_um(meta.get("spacing"), str(meta.get("unit", "um")))
    if tif.is_ome and tif.ome_metadata:
        return ome_z_step_um(tif.ome_metadata)
    return None


def ome_z_step_um(xml_text: str) -> float | None:
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError:
        return None
    # OME namespaces change with schema versions: match the element by its local name.
    pixels = next((el for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "Pixels"), None)
    if pixels is None:
        return None
    return _to_um(pixels.get("PhysicalSizeZ"), pixels.get("PhysicalSizeZUnit", "µm"))


def _to_um(value: Any, unit: str) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    factor = _UM_PER_UNIT.get(unit.strip().lower())
    if factor is None or not math.isfinite(number) or number <= 0:
        return None
    return number * factor


class ImageFilesPlanes:
    """A stack stored as one image file per plane (TIFF, PNG, ...), in the given order."""

    def __init__(self, files: Sequence[Path]) -> None:
        self.files = list(files)

    def __len__(self) -> int:
        return len(self.files)

    def read(self, index: int) -> Frame:
        return read_image(self.files[index])

    def close(self) -> None:
        """Nothing stays open between reads."""


def read_image(path: Path) -> Frame:
    """One 2-D image at its own bit depth (16-bit PNGs stay 16-bit)."""
    if path.suffix.lower() in TIFF_SUFFIXES:
        import tifffile

        try:
            image = np.asarray(tifffile.imread(path, key=0))
        except (OSError, ValueError, tifffile.TiffFileError) as exc:
            raise InputError(f"cannot read {path}: {exc}") from None
    else:
        loaded = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if loaded is None:
            raise InputError(f"cannot read {path} as an image")
        image = loaded
    if image.ndim == 3 and image.shape[0] == 1:
        image = image[0]
    return image


def natural_key(path: Path) -> list[Any]:
    """Sort key that puts frame2 before frame10, as people number their files."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def image_files(folder_or_pattern: str) -> list[Path]:
    """Image files in a folder, or matching a glob pattern, in natural name order."""
    base = Path(folder_or_pattern)
    found = base.iterdir() if base.is_dir() else (Path(p) for p in glob.glob(folder_or_pattern))
    files = [p for p in found if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=natural_key)


@dataclass
class ZStack:
    """An open stack: its planes (read on demand), where each plane is, and where that came from.

    ``z_um`` holds positions in micrometres when the spacing is known; otherwise plane numbers
    (``z_source == "none"``), which still order the planes correctly for curve analysis.
    """

    path: str
    reader: PlaneReader
    z_um: np.ndarray
    z_source: ZSource

    def __len__(self) -> int:
        return len(self.reader)

    def plane(self, index: int) -> Frame:
        return self.reader.read(index)

    def planes(self) -> Iterator[Frame]:
        for index in range(len(self)):
            yield self.plane(index)

    @property
    def z_step_um(self) -> float | None:
        if self.z_source == "none" or len(self.z_um) < 2:
            return None
        return float(np.median(np.diff(self.z_um)))

    def close(self) -> None:
        self.reader.close()

    def __enter__(self) -> ZStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_stack(path: str | Path, z_step_um: float | None = None) -> ZStack:
    """Open a TIFF stack, a folder of images, or a glob of images as one z-stack.

    ``z_step_um`` overrides the file's metadata (users know their microscope better than a
    header written by some acquisition program).
    """
    if z_step_um is not None and not (math.isfinite(z_step_um) and z_step_um > 0):
        raise InputError(f"z step must be a positive number of micrometres, got {z_step_um}")
    text = str(path)
    reader: PlaneReader
    declared: float | None = None
    if Path(text).is_file():
        if Path(text).suffix.lower() not in TIFF_SUFFIXES:
            raise InputError(f"{text}: a single {Path(text).suffix} image is not a stack; "
                             "give a multi-page TIFF, a folder or a glob of images")
        tiff = TiffPlanes(Path(text))
        reader, declared = tiff, tiff.z_step_um
    else:
        files = image_files(text)
        if not files:
            raise InputError(f"{text}: no such file, and no images found there")
        reader = ImageFilesPlanes(files)
    step, source = _choose_step(z_step_um, declared)
    z = np.arange(len(reader), dtype=float) * (step if step is not None else 1.0)
    return ZStack(text, reader, z, source)


def _choose_step(user: float | None, declared: float | None) -> tuple[float | None, ZSource]:
    if user is not None:
        return user, "user"
    if declared is not None:
        return declared, "metadata"
    return None, "none"


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
    reason_code: str
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
                           confidence=0.0, reason=exc.reason, reason_code=exc.kind, **common)
    fractional = plane_at(z, peak.z_um)
    return StackResult(
        status="focused", best_index=round(fractional), best_plane=fractional,
        best_z_um=peak.z_um if known_z else None, confidence=float(peak.confidence), reason="",
        reason_code="",
        **common,
    )


def plane_at(z_um: np.ndarray, z: float) -> float:
    """The fractional plane number of position ``z`` (stacks may run up or down in z)."""
    indices = np.arange(len(z_um), dtype=float)
    order = np.argsort(z_um)
    return float(np.interp(z, z_um[order], indices[order]))


def resolve_metric(metric: str | None, mode: str, blur: int | None = None) -> str:
    """An explicit metric wins; a blur alone means the tutorial's measure (the only one with a
    blur setting, as on the main command line); otherwise the imaging mode's default measure."""
    if metric is not None:
        return metric
    return "laplacian" if blur is not None else metric_for_mode(mode)


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


# --- output ----------------------------------------------------------------------------------------


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


def plot_stack(result: StackResult, path: Path) -> Path:
    """Score against plane (and z when known), with the fitted best plane marked."""
    import matplotlib

    matplotlib.use("Agg")  # files only: servers and CI have no display
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot(range(result.planes), result.scores, "-o", ms=4, color="k", lw=1, label="planes")
    if result.best_plane is not None:
        ax.axvline(result.best_plane, color="tab:red", lw=1.5, label=f"best {result.best_plane:.2f}")
    step = f", {result.z_step_um:g} um per plane" if result.z_step_um else ""
    ax.set_xlabel(f"plane{step}")
    ax.set_ylabel(f"focus score ({result.metric})")
    title = f"{output_stem(result.path)}: {result.status}"
    ax.set_title(title if result.focused else f"{title}\n{result.reason}", fontsize=10)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def write_outputs(result: StackResult, folder: Path) -> tuple[Path, Path]:
    """``<stem>_curve.png`` and ``<stem>_scores.csv`` in ``folder``."""
    stem = output_stem(result.path)
    return plot_stack(result, folder / f"{stem}_curve.png"), write_csv(result, folder / f"{stem}_scores.csv")
