"""Tile positions with z from a focus map: CSV, JSON, and a useq-schema ``MDASequence`` that
pymmcore-plus runs.

Tiles of ``tile_w_um`` x ``tile_h_um`` (one camera field) cover the region with ``overlap``
(a fraction of a tile) between neighbours; they are listed in serpentine order. Every tile's z is
the map's surface at its centre.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from autofocus.errors import InputError, install_hint
from autofocus.xy import Region

__all__ = [
    "MAX_TILES", "Tile", "cell_centres", "check_tiling", "serpentine_cells", "tile_centres", "tile_grid",
    "tiles_with_z", "useq_sequence", "write_csv", "write_json", "write_useq",
]

MAX_TILES = 1_000_000
"""More tiles than this is a typing error (a tile size in um given as mm): a list that fills memory."""


@dataclass(frozen=True)
class Tile:
    row: int
    col: int
    x_um: float
    y_um: float
    z_um: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def tiles_across(span_um: float, tile_um: float, overlap: float) -> int:
    """How many tiles cover ``span_um`` with the given overlap (pitch at most ``tile * (1 - overlap)``)."""
    if span_um <= tile_um:
        return 1
    return math.ceil((span_um - tile_um) / (tile_um * (1 - overlap)) - 1e-9) + 1


def tile_centres(lo: float, hi: float, tile_um: float, overlap: float) -> list[float]:
    """Centres of tiles covering ``lo..hi`` with the given overlap; the first and last tile
    touch the edges, the pitch is at most ``tile * (1 - overlap)``."""
    n = tiles_across(hi - lo, tile_um, overlap)
    if n == 1:
        return [(lo + hi) / 2]
    first, last = lo + tile_um / 2, hi - tile_um / 2
    return [first + (last - first) * i / (n - 1) for i in range(n)]


def tile_grid(region: Region, tile_w_um: float, tile_h_um: float,
              overlap: float = 0.1) -> list[tuple[int, int, float, float]]:
    """(row, col, x, y) of every tile, serpentine."""
    check_tiling(region, tile_w_um, tile_h_um, overlap)
    xs = tile_centres(region.x_min_um, region.x_max_um, tile_w_um, overlap)
    ys = tile_centres(region.y_min_um, region.y_max_um, tile_h_um, overlap)
    return serpentine_cells(xs, ys)


def check_tiling(region: Region, tile_w_um: float, tile_h_um: float, overlap: float) -> None:
    """A tiling that can be listed: a positive tile size, an overlap in [0, 1), at most
    ``MAX_TILES`` tiles (checked before anything moves, as well as when the tiles are listed)."""
    if not (math.isfinite(tile_w_um) and math.isfinite(tile_h_um) and tile_w_um > 0 and tile_h_um > 0):
        raise InputError("the tile size must be positive")
    if not 0 <= overlap < 1:
        raise InputError("the overlap must be a fraction in [0, 1)")
    count = (tiles_across(region.width_um, tile_w_um, overlap)
             * tiles_across(region.height_um, tile_h_um, overlap))
    if count > MAX_TILES:
        raise InputError(f"{count:,} tiles of {tile_w_um:g} x {tile_h_um:g} um cover the region: more "
                         f"than {MAX_TILES:,} (a tile size in um given as mm?)")


def cell_centres(region: Region, rows: int, cols: int) -> list[tuple[int, int, float, float]]:
    """(row, col, x, y) of the centres of a rows x cols division of the region, serpentine."""
    xs = [region.x_min_um + region.width_um * (i + 0.5) / cols for i in range(cols)]
    ys = [region.y_min_um + region.height_um * (j + 0.5) / rows for j in range(rows)]
    return serpentine_cells(xs, ys)


def serpentine_cells(xs: Sequence[float], ys: Sequence[float]) -> list[tuple[int, int, float, float]]:
    cells: list[tuple[int, int, float, float]] = []
    for row, y in enumerate(ys):
        cols = range(len(xs)) if row % 2 == 0 else range(len(xs) - 1, -1, -1)
        cells.extend((row, col, xs[col], y) for col in cols)
    return cells


def tiles_with_z(cells: Sequence[tuple[int, int, float, float]],
                 z_at: Callable[[float, float], float]) -> list[Tile]:
    return [Tile(row, col, x, y, float(z_at(x, y))) for row, col, x, y in cells]


def write_csv(tiles: Sequence[Tile], path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "col", "x_um", "y_um", "z_um"])
        for t in tiles:
            writer.writerow([t.row, t.col, f"{t.x_um:.3f}", f"{t.y_um:.3f}", f"{t.z_um:.3f}"])


def write_json(tiles: Sequence[Tile], path: Path) -> None:
    path.write_text(json.dumps([t.to_dict() for t in tiles], indent=1))


def useq_sequence(tiles: Sequence[Tile], **sequence_fields: Any) -> Any:
    """A ``useq.MDASequence`` visiting every tile at its z (extra fields, e.g. ``channels``,
    pass through). Needs ``useq-schema`` (``pip install -e '.[micromanager]'`` in the clone)."""
    try:
        import useq
    except ModuleNotFoundError:
        raise InputError(f"the useq export needs useq-schema: {install_hint('micromanager')}") from None
    positions = [useq.Position(x=t.x_um, y=t.y_um, z=t.z_um, name=f"r{t.row}c{t.col}") for t in tiles]
    return useq.MDASequence(stage_positions=positions, **sequence_fields)


def write_useq(tiles: Sequence[Tile], path: Path) -> None:
    sequence = useq_sequence(tiles)
    path.write_text(sequence.model_dump_json(exclude_defaults=True, indent=1))
