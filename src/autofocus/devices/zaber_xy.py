"""Zaber's X and Y axes as an :class:`~autofocus.devices.base.XYStage`.

On Zaber's microscopes X and Y are their own devices in the daisy chain (and the focus drive a
third), all behind one port: :func:`open_zaber_xyz` opens the one connection and gives the focus
stage and the XY stage on it. Each axis is a :class:`~autofocus.devices.zaber.ZaberStage`, so
units (identified or native), limits and error translation are the focus drive's.

Requires ``zaber-motion`` (``pip install -e '.[zaber]'`` in the clone).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from functools import partial
from pathlib import Path

from zaber_motion import MotionLibException
from zaber_motion.ascii import Connection

from autofocus.devices.base import Stage, TwoAxisXYStage, XYStage
from autofocus.devices.zaber import (
    ZaberStage,
    configure_library,
    database_choice,
    home_if_needed,
    identify,
    open_connection,
    plan_units,
)
from autofocus.devices.zaber_errors import translated

__all__ = ["ZaberXYStage", "open_zaber_xyz"]


class ZaberXYStage(TwoAxisXYStage):
    """Two single-axis Zaber devices moving as one XY stage: both targets checked against the
    limits before either moves, then X, then Y, each to the end of its move (the moves are
    short, and one axis at a time keeps every path inside the rectangle of the two end points)."""

    def __init__(self, x: ZaberStage, y: ZaberStage) -> None:
        super().__init__(x, y, "Zaber XY stage")


def _open_axis(connection: Connection, port: str, device: int, axis: int,
               database: Path | str | None, native_unit_um: float | None,
               label: str) -> tuple[ZaberStage, Callable[[], None]]:
    """One axis identified and with units, not yet homed, and what homes it if needed: homing
    waits until every axis answers and the caller's checks have passed."""
    zaber_device = connection.get_device(device)
    db_problem = identify(zaber_device, database, connection)
    zaber_axis = zaber_device.get_axis(axis)
    with translated(f"checking {label} (device {device} axis {axis})", connection):
        zaber_axis.generic_command("get pos")
    units = plan_units(zaber_device, zaber_axis, native_unit_um, db_problem, connection)
    stage = ZaberStage(connection, zaber_axis, units, f"Zaber {label}: device {device} axis {axis} "
                       f"on {port}, {units.how}")
    return stage, partial(home_if_needed, zaber_axis, connection, units)


def open_zaber_xyz(
    port: str,
    *,
    device: int = 3,
    axis: int = 1,
    x_device: int = 1,
    y_device: int = 2,
    device_db: Path | str | None = None,
    native_unit_um: float | None = None,
    before_homing: Callable[[Stage, XYStage], None] | None = None,
) -> tuple[ZaberStage, ZaberXYStage, Callable[[], None]]:
    """Focus stage, XY stage and one closer for their shared connection. The focus drive is
    homed (if needed) before X and Y, so the specimen never moves with the objective close.
    ``before_homing`` gets the focus stage and the XY stage once all three axes answer, before
    any of them homes (as in :func:`~autofocus.devices.zaber.open_zaber_stage`; every axis's
    travel limits are read as it opens, so both stages know their travel): what it raises ends
    the opening with nothing homed."""
    database = database_choice(device_db)
    configure_library(database)
    connection = open_connection(port)
    try:
        z, home_z = _open_axis(connection, port, device, axis, database, native_unit_um, "focus")
        x, home_x = _open_axis(connection, port, x_device, 1, database, native_unit_um, "X")
        y, home_y = _open_axis(connection, port, y_device, 1, database, native_unit_um, "Y")
        xy = ZaberXYStage(x, y)
        if before_homing is not None:
            before_homing(z, xy)  # homing travels far: whatever can be refused is refused first
        for home in (home_z, home_x, home_y):  # Z first: the objective is out of the way
            home()
    except BaseException:
        with contextlib.suppress(MotionLibException):
            connection.close()
        raise
    return z, xy, z.close
