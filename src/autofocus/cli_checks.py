"""Checks of command-line words that need no device: output paths, device numbers, seeds,
camera files, the ROI against the simulated camera. Run before anything connects or moves, each
raising one :class:`InputError` line."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from autofocus.connect import ConnectOptions, opencv_file
from autofocus.devices.ports import check_native_unit
from autofocus.errors import InputError
from autofocus.frames import Roi

__all__ = ["PLOT_SUFFIXES", "check_camera_file", "check_focus_words", "check_output_file",
           "check_output_folder", "check_plot_path", "check_tcp_port"]

PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".eps", ".ps")
"""What the plot writer (matplotlib) writes."""


def writable_folder(folder: Path) -> str:
    """Why ``folder`` cannot take new files ("" when it can). Tried for real (permission bits
    say nothing for root, or on read-only and special file systems): the folder is created, as
    the run would, and a scratch file written and removed."""
    if folder.exists() and not folder.is_dir():
        return f"{folder} is a file, not a folder"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return f"cannot write there ({exc.strerror or exc})"
    return ""


def check_output_folder(folder: Path, option: str) -> None:
    problem = writable_folder(folder)
    if problem:
        raise InputError(f"{option} {folder}: {problem}")


def check_plot_path(path: Path, option: str = "--plot") -> None:
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise InputError(f"{option} {path}: unknown image type {path.suffix or '(none)'!r}; "
                         f"use one of {', '.join(PLOT_SUFFIXES)}")
    check_output_file(path, option)


def check_output_file(path: Path, option: str) -> None:
    """A file the run will write: not a folder, writable when it exists, in a folder that takes
    new files."""
    if path.is_dir():
        raise InputError(f"{option} {path} is a folder; give a file name")
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"{option} {path} is not writable")
    problem = writable_folder(path.parent)
    if problem:
        raise InputError(f"{option} {path}: {problem}")


def check_tcp_port(port: int) -> None:
    if not 0 <= port <= 65_535:
        raise InputError(f"--port must be 0 (any free port) to 65535, got {port}")


def check_camera_file(spec: str) -> None:
    """An OpenCV camera that names a file must name one that exists (a GenTL producer's path is
    the genicam backend's to check, after it has said whether its extra is installed)."""
    target = opencv_file(spec)
    if target is not None and not Path(target).exists():
        raise InputError(f"--camera {spec}: no such file {target}")


def check_roi_on_sim(roi: Roi | None, options: ConnectOptions, port: str) -> None:
    """The simulated camera's frame size is known before anything opens."""
    if roi is None or options.camera not in ("sim", "auto") or (options.camera == "auto" and port != "sim"):
        return
    x, y, w, h = roi
    spec = options.sim.camera
    if x + w > spec.width or y + h > spec.height:
        raise InputError(f"roi {roi} does not fit the camera's {spec.width}x{spec.height} frame")


def check_focus_words(options: ConnectOptions, port: str, roi: Roi | None, seed: int) -> None:
    """Everything about the hardware words that can be checked without hardware."""
    if seed < 0:
        raise InputError(f"--sim-seed must be 0 or more, got {seed}")
    if port != "sim":
        if not 1 <= options.device <= 99:
            raise InputError(f"--device must be a Zaber device number 1..99, got {options.device}")
        if not 1 <= options.axis <= 9:
            raise InputError(f"--axis must be an axis number 1..9, got {options.axis}")
    if options.native_unit_um is not None:
        check_native_unit(options.native_unit_um)
    check_camera_file(options.camera)
    check_roi_on_sim(roi, options, port)
