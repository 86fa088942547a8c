"""Zaber focus stages through the Zaber Motion Library (``pip install -e '.[zaber]'`` in the clone).

PORT is a serial port (``/dev/ttyUSB0``, ``COM3``) or ``tcp://HOST:PORT``. The stage is axis
``--axis`` (default 1) of device ``--device`` (default 3: the Z stage of a Zaber MVR microscope,
as in Zaber's autofocus tutorial). It is homed when it has no reference position.

Converting micrometres needs Zaber's Device Database, normally fetched from a web service. For
instrument PCs without internet: ``--device-db FILE`` loads an offline copy; otherwise the stage
is driven in native units, with the micrometres per native unit given by ``--native-unit-um``,
known for the device, or learned from an earlier identification on this PC. ``--device-db offline``
skips the database altogether. The library's database store and what we learn live in our own
cache folder (``AUTOFOCUS_ZABER_STORE`` overrides it), never in the library's global one.

Every Zaber Motion Library exception becomes a :class:`StageError` saying what to check.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zaber_motion import (
    ConnectionFailedException,
    DeviceDbFailedException,
    DeviceDbSourceType,
    Library,
    MotionLibException,
    NoDeviceFoundException,
    RequestTimeoutException,
    Units,
)
from zaber_motion.ascii import Axis, Connection, Device

from autofocus.devices.ports import check_native_unit, tcp_address
from autofocus.devices.zaber_errors import stage_error, translated
from autofocus.errors import InputError, LimitError, StageError
from autofocus.interrupt import annotate, signals_deferred

if TYPE_CHECKING:
    from autofocus.devices.base import Stage

__all__ = ["KNOWN_NATIVE_UNIT_UM", "ZaberStage", "open_zaber_stage", "store_dir"]

OFFLINE_WORDS = ("offline", "none")
SQLITE_MAGIC = b"SQLite format 3\x00"

KNOWN_NATIVE_UNIT_UM: dict[str, float] = {
    # "deviceid:peripheralid" -> micrometres per native unit. Only values we can vouch for belong
    # here: a wrong factor would drive the stage to the wrong place. Real products are learned
    # from an online identification (see learn_native_unit) or given with --native-unit-um.
    "1000001:0": 0.1,  # autofocus.sim.zaber_protocol, the simulated controller
}

NATIVE_SPEED_PER_UNIT_S = 1.6384
"""Zaber ASCII speeds: the data value is native units per second times 1.6384."""

def store_dir() -> Path:
    """Our cache folder for the Device Database store and learned native units."""
    override = os.environ.get("AUTOFOCUS_ZABER_STORE")
    if override:
        return Path(override)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "autofocus" / "zaber"


# ----- the stage -----

@dataclass(frozen=True)
class UnitPlan:
    """How positions travel to the library: micrometres (identified) or native units."""

    unit: Units
    um_per_unit: float
    how: str
    """For the description: identified, or where the native-unit factor came from."""


class ZaberStage:
    """A :class:`~autofocus.devices.base.Stage` on one axis of a Zaber device."""

    def __init__(self, connection: Connection, axis: Axis, units: UnitPlan, description: str) -> None:
        self._connection = connection
        self._axis = axis
        self._units = units
        self.description = description
        with translated("reading the travel limits", connection):
            lo = axis.settings.get("limit.min", units.unit)
            hi = axis.settings.get("limit.max", units.unit)
        self._device_limits = (min(lo, hi), max(lo, hi))
        """In the library's unit: every target is checked against them before it is sent."""
        self._limits = (self._device_limits[0] * units.um_per_unit,
                        self._device_limits[1] * units.um_per_unit)

    @property
    def limits_um(self) -> tuple[float, float]:
        return self._limits

    def position_um(self) -> float:
        with translated("reading the position", self._connection):
            return float(self._axis.get_position(self._units.unit)) * self._units.um_per_unit

    def move_to_um(self, z_um: float) -> None:
        doing = f"the move to {z_um / 1000:.6f} mm"
        target = z_um / self._units.um_per_unit
        self._check_target(target, z_um)
        if self._units.unit == Units.NATIVE:
            target = round(target)  # positions are whole native units; 100122.99999 is BADDATA
        self._check_target(target, z_um)
        with translated(doing, self._connection):
            self._axis.move_absolute(target, self._units.unit, wait_until_idle=True)

    def stop(self) -> None:
        with translated("stopping", self._connection):
            self._axis.stop(wait_until_idle=True)

    def start_move_to_um(self, z_um: float, speed_um_s: float) -> None:
        """Begin a move at ``speed_um_s`` and return at once (for continuous sweeps)."""
        units = self._units
        target: float = z_um / units.um_per_unit
        self._check_target(target, z_um)
        speed: float = speed_um_s
        speed_unit = Units.VELOCITY_MICROMETRES_PER_SECOND
        if units.unit == Units.NATIVE:
            target = round(target)
            # Zaber's native speed counts native units per 1/1.6384 s; 0 would mean "default".
            speed = max(1, round(speed_um_s / units.um_per_unit * NATIVE_SPEED_PER_UNIT_S))
            speed_unit = Units.NATIVE
        self._check_target(target, z_um)
        with translated(f"the move to {z_um / 1000:.6f} mm", self._connection):
            self._axis.move_absolute(target, units.unit, wait_until_idle=False,
                                     velocity=speed, velocity_unit=speed_unit)

    def _check_target(self, target: float, z_um: float) -> None:
        """Never send a position outside the device's own limits (or not a number at all)."""
        lo, hi = self._device_limits
        if not (math.isfinite(target) and lo <= target <= hi):
            raise LimitError(
                f"Zaber stage: refusing to send {target:g} (for {z_um / 1000:.6f} mm): outside the "
                f"device's limits {lo:g}..{hi:g}"
            )

    def is_moving(self) -> bool:
        """Busy or not; a move that ended on a fault flag (stall, ...) raises StageError."""
        with translated("watching the move", self._connection):
            if self._axis.is_busy():
                return True
            faults = sorted(flag for flag in self._axis.warnings.get_flags() if flag.startswith("F"))
        if faults:
            raise StageError(
                f"Zaber stage: the move ended with fault flag {', '.join(faults)}; check that "
                "nothing blocks the stage and clear the fault in Zaber Launcher if it persists"
            )
        return False

    def close(self) -> None:
        with contextlib.suppress(MotionLibException):
            self._connection.close()


# ----- connecting -----

def open_connection(port: str) -> Connection:
    """A serial port or ``tcp://host:port``; a failure becomes one clear StageError."""
    address = tcp_address(port)
    try:
        if address is not None:
            return Connection.open_tcp(*address)
        return Connection.open_serial_port(port)
    except ConnectionFailedException as exc:
        if address is not None:
            raise StageError(
                f"cannot connect to {port}: {exc.message}; check the host and port number and "
                "that the device (or serve-zaber) is running and reachable"
            ) from None
        raise StageError(
            f"cannot open serial port {port}: {exc.message}; check the port name (Linux: ls "
            "/dev/ttyUSB* /dev/ttyACM*, Windows: Device Manager > Ports), that the controller is "
            "powered and connected, and that Zaber Launcher is closed"
        ) from None
    except MotionLibException as exc:
        raise stage_error(exc, f"opening {port}") from None


def database_choice(device_db: Path | str | None) -> Path | str | None:
    """Where device data comes from: an offline database file (Path), ``'offline'`` for none at
    all, a web-service URL (a mirror; from ``AUTOFOCUS_ZABER_DEVICE_DB`` only), or None for
    Zaber's own web service."""
    chosen = device_db or os.environ.get("AUTOFOCUS_ZABER_DEVICE_DB") or None
    if chosen is None:
        return None
    text = str(chosen)
    if text.lower() in OFFLINE_WORDS and not Path(text).exists():
        return "offline"
    if isinstance(chosen, str) and re.match(r"^https?://", chosen):
        return chosen
    return Path(chosen)


def configure_library(database: Path | str | None) -> None:
    """Point the library at our store folder and the chosen database source."""
    store = store_dir() / "device-db"
    try:
        store.mkdir(parents=True, exist_ok=True)
        Library.enable_device_db_store(str(store))
    except (OSError, MotionLibException):
        Library.disable_device_db_store()  # an unwritable cache must not stop the stage
    if isinstance(database, Path):
        check_database_file(database)
        Library.set_device_db_source(DeviceDbSourceType.FILE, str(database.resolve()))
    elif database not in (None, "offline"):
        Library.set_device_db_source(DeviceDbSourceType.WEB_SERVICE, database)
    else:
        Library.set_device_db_source(DeviceDbSourceType.WEB_SERVICE)


def check_database_file(path: Path) -> None:
    """Refuse files that cannot be a Device Database before the library opens them."""
    try:
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise InputError(f"cannot read the Zaber device database {path}: {exc.strerror}") from None
    if head != SQLITE_MAGIC:
        raise InputError(
            f"{path} is not a Zaber device database (expected an SQLite file such as "
            "devices-public.sqlite, unpacked from Zaber's .lzma download)"
        )


def identify(device: Device, database: Path | str | None, connection: Connection) -> str | None:
    """Identify through the database; returns None when identified, else why not (then the
    stage runs in native units, and the error for a missing factor quotes this)."""
    try:
        if database == "offline":
            device.generic_command("get deviceid")  # still prove that the device answers
            return "the device database is switched off (--device-db offline)"
        device.identify()
        return None
    except DeviceDbFailedException as exc:
        if isinstance(database, Path):
            raise InputError(f"the Zaber device database {database} cannot be used: {exc.message}") from None
        return f"Zaber's online device database is not reachable ({exc.message})"
    except (RequestTimeoutException, NoDeviceFoundException):
        raise StageError(
            f"device {device.device_address} does not answer on this port; check the device "
            "number (--device; Zaber Launcher lists the chain), its power, and that the port is "
            "the one the device is connected to"
        ) from None
    except MotionLibException as exc:
        raise stage_error(exc, f"talking to device {device.device_address}", connection) from None


def product_key(device: Device, axis: Axis) -> str:
    """``deviceid:peripheralid``: what a native unit depends on."""
    device_id = device.generic_command("get deviceid").data.split()[0]
    peripheral = axis.generic_command("get peripheralid").data.split()[0]
    return f"{device_id}:{peripheral}"


def learned_units_file() -> Path:
    return store_dir() / "native-units.json"


def load_learned() -> dict[str, float]:
    with contextlib.suppress(OSError, ValueError):
        data: Any = json.loads(learned_units_file().read_text())
        if isinstance(data, dict):
            return {str(k): float(v) for k, v in data.items() if isinstance(v, int | float) and v > 0}
    return {}


def learn_native_unit(key: str, um_per_native: float) -> None:
    """Remember an identified product's native unit, for later runs without the database."""
    learned = load_learned()
    if learned.get(key) == um_per_native:
        return
    learned[key] = um_per_native
    with contextlib.suppress(OSError):
        path = learned_units_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(learned, indent=1, sort_keys=True))


def plan_units(device: Device, axis: Axis, native_unit_um: float | None, db_problem: str | None,
               connection: Connection) -> UnitPlan:
    """Micrometres when identified; otherwise native units with a factor from somewhere."""
    with translated("reading the device's identity", connection):
        key = product_key(device, axis)
        if db_problem is None:
            per_um = axis.settings.convert_to_native_units("pos", 1.0, Units.LENGTH_MICROMETRES)
            if per_um > 0:
                learn_native_unit(key, 1.0 / per_um)
            return UnitPlan(Units.LENGTH_MICROMETRES, 1.0, f"identified as {device.name}")
    known = KNOWN_NATIVE_UNIT_UM.get(key) or load_learned().get(key)
    if native_unit_um is not None:
        check_native_unit(native_unit_um)
        if known is not None and not math.isclose(native_unit_um, known, rel_tol=0.01):
            # A wrong factor drives the stage to the wrong place: the known one wins, loudly.
            raise InputError(
                f"--native-unit-um {native_unit_um:g} contradicts the {known:g} um per native unit "
                f"known for this device (product {key}); leave the option out to use the known one"
            )
        return UnitPlan(Units.NATIVE, native_unit_um, "native units (--native-unit-um)")
    if known is not None:
        return UnitPlan(Units.NATIVE, known, f"native units ({known:g} um each, known for {key})")
    raise InputError(
        f"cannot convert micrometres for device {device.device_address} (product {key}): "
        f"{db_problem}. Give --device-db FILE (an offline copy of Zaber's device database) or "
        "--native-unit-um UM (the stage's native unit in micrometres: 'microstep size' or "
        "'encoder resolution' on its datasheet)"
    )


def home_if_needed(axis: Axis, connection: Connection, units: UnitPlan) -> None:
    """Home an axis without a reference position. Homing travels far (to the home sensor), so
    when it fails or is interrupted (Ctrl-C, SIGTERM) the axis is stopped and driven back to
    where it was, with signals deferred, and the exception says where the stage is."""
    with translated("homing", connection):
        if axis.is_homed():
            return
        before = axis.get_position(Units.NATIVE)
    try:
        with translated("homing", connection):
            axis.home(wait_until_idle=True)
    except BaseException as exc:
        with signals_deferred():
            annotate(exc, undo_homing(axis, before, units))
        raise


def undo_homing(axis: Axis, before_native: float, units: UnitPlan) -> str:
    """Stop an interrupted or failed homing and move back to where it began; say where it is."""
    factor = native_um(axis, units)

    def where(native: float) -> str:
        return f"{native * factor / 1000:.6f} mm" if factor else f"{native:g} native units"

    try:
        axis.stop(wait_until_idle=True)
        axis.move_absolute(before_native, Units.NATIVE, wait_until_idle=True)
        return f"homing stopped; stage returned to where it was ({where(before_native)}, not homed)"
    except MotionLibException as exc:
        problem = exc.message
    try:
        axis.stop(wait_until_idle=True)
        here = f"it is at {where(axis.get_position(Units.NATIVE))}"
    except MotionLibException:
        here = "its position is unknown (the stage does not answer)"
    return (f"homing stopped; the stage could not be returned to where it was "
            f"({where(before_native)}: {problem}); {here}, not homed")


def native_um(axis: Axis, units: UnitPlan) -> float | None:
    """Micrometres per native unit, for messages during homing; None when unknown."""
    if units.unit == Units.NATIVE:
        return units.um_per_unit
    try:
        per_um = axis.settings.convert_to_native_units("pos", 1.0, Units.LENGTH_MICROMETRES)
    except MotionLibException:
        return None
    return 1.0 / per_um if per_um > 0 else None


def open_zaber_stage(
    port: str,
    *,
    device: int = 3,
    axis: int = 1,
    device_db: Path | str | None = None,
    native_unit_um: float | None = None,
    before_homing: Callable[[Stage], None] | None = None,
) -> tuple[Stage, Callable[[], None]]:
    """Connect, identify (or fall back to native units), home if needed; returns stage and closer.

    ``port`` is a serial port or ``tcp://host:port``; ``device`` and ``axis`` are the Zaber
    device address and axis number; ``device_db`` an offline device database (see
    :func:`database_choice`); ``native_unit_um`` the size of one native unit, used when the
    device cannot be identified. ``before_homing`` gets the stage (its travel limits known, not
    yet homed) for the checks that need no motion: what it raises ends the opening unhomed.
    """
    database = database_choice(device_db)
    configure_library(database)
    connection = open_connection(port)
    try:
        zaber_device = connection.get_device(device)
        db_problem = identify(zaber_device, database, connection)
        zaber_axis = zaber_device.get_axis(axis)
        with translated(f"checking axis {axis}", connection):
            zaber_axis.generic_command("get pos")  # a missing axis answers BADAXIS here, before we move
        units = plan_units(zaber_device, zaber_axis, native_unit_um, db_problem, connection)
        stage = ZaberStage(connection, zaber_axis, units,
                           f"Zaber device {device} axis {axis} on {port}, {units.how}")
        if before_homing is not None:
            before_homing(stage)  # homing travels far: whatever can be refused is refused first
        home_if_needed(zaber_axis, connection, units)
    except BaseException:
        with contextlib.suppress(MotionLibException):
            connection.close()
        raise
    return stage, stage.close
