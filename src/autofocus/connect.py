"""Open a microscope from command-line words: PORT (``sim``, a serial port, ``tcp://host:port``)
and a camera spec (``sim``, ``spinnaker``, ``genicam:CTI_PATH``, ``opencv:INDEX_OR_FILE``).

Backends are imported only when asked for, so ``import autofocus`` needs only the core.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from autofocus.clock import SystemClock
from autofocus.devices import ports
from autofocus.devices.base import Camera, Microscope, Stage, XYStage
from autofocus.errors import InputError, install_hint
from autofocus.sim.microscope import SimConfig, SimulatedMicroscope

__all__ = [
    "CAMERA_FAMILIES",
    "Closer",
    "ConnectOptions",
    "Connection",
    "check_port",
    "check_sim_camera",
    "load_backend",
    "open_camera",
    "open_microscope",
    "open_stage",
    "open_stage_xy",
    "opencv_file",
    "split_camera_spec",
]

CAMERA_FAMILIES = ("sim", "spinnaker", "genicam", "opencv")
Closer = Callable[[], None]


@dataclass
class ConnectOptions:
    """Everything the command line may say about hardware."""

    camera: str = "auto"
    device: int = 3
    axis: int = 1
    device_db: Path | None = None
    native_unit_um: float | None = None
    sim: SimConfig = field(default_factory=SimConfig)
    xy_devices: tuple[int, int] | None = None
    """Zaber X and Y device numbers in the same chain (a focus map needs them)."""


@dataclass
class Connection:
    """An open microscope, and the simulator behind it when there is one."""

    microscope: Microscope
    simulator: SimulatedMicroscope | None = None


def load_backend(module: str, extra: str) -> ModuleType:
    """Import an optional backend, or explain which extra installs it."""
    try:
        return importlib.import_module(f"autofocus.devices.{module}")
    except ModuleNotFoundError as exc:
        raise InputError(
            f"this needs the optional package {exc.name!r}: {install_hint(extra)}"
        ) from None


def check_port(port: str) -> None:
    """Raise InputError unless PORT is ``sim``, a serial port or ``tcp://HOST:PORT``."""
    if port != "sim":
        ports.check_port(port)


def check_sim_camera(port: str, camera_spec: str, strategy: str) -> None:
    """PORT ``sim`` moves a simulated stage that no real camera can see: a live camera's frames
    do not change with z, so a search that narrows in on a peak never settles. Allowed: a video
    file (a recorded sweep replayed frame by frame), and ``sweep``, which takes a fixed number of
    frames (a way to try a camera without a stage)."""
    family, _ = split_camera_spec(camera_spec)
    if port != "sim" or family in ("auto", "sim") or strategy == "sweep":
        return
    if opencv_file(camera_spec) is None:
        raise InputError(
            f"PORT sim moves a simulated stage, which camera {camera_spec!r} cannot see: use --camera sim "
            "with PORT sim, a real stage PORT with a real camera, --strategy sweep to try the camera, "
            "or opencv:VIDEO_FILE to replay a sweep"
        )


def open_microscope(port: str, options: ConnectOptions,
                    check: Callable[[Microscope], object] | None = None) -> Connection:
    """Open stage and camera. ``camera='auto'`` means the simulated camera on the simulated
    microscope, and the tutorial's FLIR camera (Spinnaker) with a real stage.

    ``check`` (the run's checks that need the devices but no motion: the range against the
    travel, the ROI on one frame, with Zaber X and Y the XY region against their travel: its
    microscope then has the XY stage) runs before a Zaber axis without a reference position
    homes, so a run refused for them never homes (the camera then opens before the axis homes)."""
    check_port(port)
    camera_spec = options.camera
    if port == "sim":
        simulator = SimulatedMicroscope(options.sim)
        if camera_spec in ("auto", "sim"):
            return Connection(simulator.devices(), simulator)
        real_camera, close_camera = open_camera(camera_spec)
        # A live camera grabs in real time: the run, and its time budget, are on the wall clock
        # (on the virtual one, --timeout-s 3 took 34 s of frames). A video file plays at once.
        clock = simulator.clock if opencv_file(camera_spec) is not None else SystemClock()
        scope = Microscope(simulator.stage, real_camera, clock, [close_camera],
                           description=f"simulated stage, camera {camera_spec}")
        return Connection(scope, simulator)

    xy: XYStage | None = None
    renderer = SimulatedMicroscope(options.sim) if camera_spec == "sim" else None
    opened: list[tuple[Camera, Closer]] = []

    def camera_for(stage: Stage) -> Camera:
        if renderer is not None:
            # A real (or device-simulated) stage with a simulated camera that renders at the
            # stage's reported position: lets a whole run be tested over a real connection.
            return renderer.camera_for_stage(stage, xy_stage=xy)
        if not opened:
            opened.append(open_camera("spinnaker" if camera_spec == "auto" else camera_spec))
        return opened[0][0]

    def before_homing(stage: Stage, xy_stage: XYStage | None = None) -> None:
        if check is not None:  # the camera opens here, so its frame is checked before homing too
            check(Microscope(stage, camera_for(stage), SystemClock(), description=port, xy_stage=xy_stage))

    try:
        if options.xy_devices is not None:
            stage, xy, close_stage = open_stage_xy(port, options, before_homing)
        else:
            stage, close_stage = open_stage(port, options, before_homing)
    except BaseException:
        for _, close_camera in opened:
            close_camera()
        raise
    closers = [close_stage]
    try:
        camera = camera_for(stage)
        closers.extend(close_camera for _, close_camera in opened)
        return Connection(Microscope(stage, camera, SystemClock(), closers, port, xy_stage=xy), renderer)
    except BaseException:
        close_stage()
        raise


def open_stage(port: str, options: ConnectOptions,
               before_homing: Callable[[Stage], None] | None = None) -> tuple[Stage, Closer]:
    """A Zaber stage on a serial port or ``tcp://host:port``."""
    zaber = load_backend("zaber", "zaber")
    stage, close = zaber.open_zaber_stage(
        port, device=options.device, axis=options.axis, device_db=options.device_db,
        native_unit_um=options.native_unit_um, before_homing=before_homing,
    )
    return stage, close


def open_stage_xy(port: str, options: ConnectOptions,
                  before_homing: Callable[[Stage, XYStage], None] | None = None,
                  ) -> tuple[Stage, XYStage, Closer]:
    """Focus drive and Zaber X and Y devices on one connection; ``before_homing`` gets the focus
    stage and the XY stage (both with their travel) before any of the three axes homes."""
    assert options.xy_devices is not None
    zaber_xy = load_backend("zaber_xy", "zaber")
    x_device, y_device = options.xy_devices
    stage, xy, close = zaber_xy.open_zaber_xyz(
        port, device=options.device, axis=options.axis, x_device=x_device, y_device=y_device,
        device_db=options.device_db, native_unit_um=options.native_unit_um, before_homing=before_homing,
    )
    return stage, xy, close


def opencv_file(spec: str) -> str | None:
    """The video file or image sequence an ``opencv:`` camera names; None for any other camera
    (an index, a ``/dev/`` device, a stream URL, another family)."""
    family, argument = split_camera_spec(spec)
    target = argument.partition("?")[0]
    if family != "opencv" or not target or target.isdigit() or target.startswith("/dev/") \
            or "://" in target:
        return None
    return target


def split_camera_spec(spec: str) -> tuple[str, str]:
    """``family``, ``family:argument`` or ``family?options`` -> (family, argument). The last form
    lets a camera that needs no target take options: ``spinnaker?exposure_ms=5``."""
    family, colon, argument = spec.partition(":")
    if "?" in family:
        family, _, options = family.partition("?")
        return family, "?" + options + colon + argument
    return family, argument


def open_camera(spec: str) -> tuple[Camera, Closer]:
    """A camera from ``family[:argument]``."""
    family, argument = split_camera_spec(spec)
    if family not in CAMERA_FAMILIES or family == "sim":
        raise InputError(
            f"unknown camera {spec!r}; use sim, spinnaker, genicam:CTI_PATH or opencv:INDEX_OR_FILE"
        )
    backend = load_backend(family, extra=family)  # opencv is core; its import cannot fail
    camera, close = backend.open_camera(argument)
    return camera, close

