"""Reading recorded images: multi-page TIFF/OME-TIFF stacks (one plane at a time), folders and
globs of single images, and the z spacing their metadata declares.

Shared by offline focus (:mod:`autofocus.stack`), batch scoring (:mod:`autofocus.batch`) and the
replay backend (:mod:`autofocus.devices.replay`), so every one reads a file the same way.
"""

from __future__ import annotations

import glob
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from autofocus.errors import InputError
from autofocus.frames import Frame

__all__ = [
    "IMAGE_SUFFIXES",
    "TIFF_SUFFIXES",
    "ImageFilesPlanes",
    "PlaneReader",
    "TiffPlanes",
    "ZSource",
    "ZStack",
    "image_files",
    "is_image_file",
    "natural_key",
    "ome_z_step_um",
    "open_stack",
    "plane_layout",
    "read_image",
    "tiff_z_step_um",
]

TIFF_SUFFIXES = (".tif", ".tiff")
IMAGE_SUFFIXES = (*TIFF_SUFFIXES, ".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm")
ZSource = Literal["metadata", "user", "none"]


# Length units as tifffile hands them over from ImageJ and OME metadata, in micrometres.
_UM_PER_UNIT = {
    "nm": 1e-3, "nanometer": 1e-3, "nanometre": 1e-3,
    "um": 1.0, "µm": 1.0, "μm": 1.0, "\\u00b5m": 1.0, "micron": 1.0, "microns": 1.0,
    "micrometer": 1.0, "micrometre": 1.0,
    "mm": 1e3, "millimeter": 1e3, "millimetre": 1e3,
}


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
        except (OSError, ValueError, IndexError, tifffile.TiffFileError) as exc:
            self._tif.close()
            if isinstance(exc, InputError):
                raise
            raise InputError(f"cannot read {path} as a z-stack (truncated or damaged?): {exc}") from None
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
        self._whole: npt.NDArray[Any] | None = None
        if not self._pages:
            self._whole = np.asarray(series.asarray()).reshape(self._shape)

    def __len__(self) -> int:
        return self._shape[0]

    def read(self, index: int) -> Frame:
        if self._whole is not None:
            return self._whole[index]
        page = self._pages[index]
        assert page is not None  # checked when the reader was made
        try:
            return np.asarray(page.asarray()).reshape(self._shape[1:])
        except (OSError, ValueError) as exc:  # a file cut short, or damaged, past this page
            raise InputError(f"cannot read plane {index} of {self.path} (truncated or damaged?): "
                             f"{exc}") from None

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
        # Read the bytes ourselves and decode them: a file name that is not valid UTF-8 reaches
        # OpenCV's imread as surrogate escapes and crashes it (SIGSEGV); bytes have no name.
        try:
            data = np.fromfile(path, dtype=np.uint8)
        except OSError as exc:
            raise InputError(f"cannot read {path!r}: {exc.strerror or exc}") from None
        loaded = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
        if loaded is None:
            raise InputError(f"cannot read {path} as an image")
        image = loaded
    if image.ndim == 3 and image.shape[0] == 1:
        image = image[0]
    return image


def natural_key(path: Path) -> list[Any]:
    """Sort key that puts frame2 before frame10, as people number their files."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def is_image_file(path: Path) -> bool:
    """A file whose suffix is one of the readable image formats."""
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def image_files(folder_or_pattern: str, *, recursive: bool = False) -> list[Path]:
    """Image files in a folder, or matching a glob pattern, in natural name order.

    ``recursive`` also looks in sub-folders (ordered folder by folder: a/img2 < a/img10 < b/img1
    < top.tif) and lets ``**`` in a pattern cross folders.
    """
    base = Path(folder_or_pattern)
    if base.is_dir():
        found = base.rglob("*") if recursive else base.iterdir()
        return sorted((p for p in found if is_image_file(p)), key=lambda p: _tree_key(p, base))
    matches = (Path(p) for p in glob.glob(folder_or_pattern, recursive=recursive))
    return sorted((p for p in matches if is_image_file(p)), key=natural_key)


def _tree_key(path: Path, root: Path) -> list[list[Any]]:
    """Natural order, folder by folder."""
    return [natural_key(Path(part)) for part in path.relative_to(root).parts]


@dataclass
class ZStack:
    """An open stack: its planes (read on demand), where each plane is, and where that came from.

    ``z_um`` holds positions in micrometres when the spacing is known; otherwise plane numbers
    (``z_source == "none"``), which still order the planes correctly for curve analysis.
    """

    path: str
    reader: PlaneReader
    z_um: npt.NDArray[np.float64]
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
            kind = f"a single {Path(text).suffix} image" if Path(text).suffix else "a file that is not a TIFF"
            raise InputError(f"{text}: {kind} is not a stack; give a multi-page TIFF, a folder or a "
                             "glob of images")
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
