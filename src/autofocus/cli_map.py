"""``autofocus map``: a focus map over a region, and the tile list it gives.

    autofocus map START_MM END_MM STEP_MM PORT --region X0,Y0,X1,Y1 [--grid 5x5 | --points FILE]

The four positionals are the main command's (the first point's search); the region and points
are millimetres too. Writes ``map.json``, ``map.png`` and, with a tile size (the simulated
camera's field by default on PORT ``sim``), ``tiles.csv``, ``tiles.json`` and ``tiles-useq.json``
to ``--out``. Exit codes: 0 a surface was fitted, 1 no point was found, 2 bad input, 3 hardware.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from autofocus.cli_checks import check_output_folder
from autofocus.cli_io import AxisOption, FocusDeviceOption, NativeUnitOption, XDeviceOption, YDeviceOption
from autofocus.errors import EXIT_FOCUSED, EXIT_NOT_FOUND, InputError
from autofocus.focusmap import (
    DEFAULT_OUTLIER_FLOOR_UM,
    DEFAULT_WINDOW_UM,
    FocusMap,
    MapPoint,
    MapSettings,
    check_map_before_motion,
    measure_map,
)
from autofocus.search import DEFAULT_STRATEGY, STRATEGIES
from autofocus.sim.slide import SLIDE_PRESETS
from autofocus.surface import SURFACE_MODELS
from autofocus.tiles import Tile, check_tiling, tile_grid, tiles_with_z, write_csv, write_json, write_useq
from autofocus.units import mm_to_um
from autofocus.xy import Region

__all__ = ["map_command", "parse_grid", "parse_numbers", "parse_region", "read_points"]

GRID = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def parse_numbers(text: str, count: int, what: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != count:
        raise InputError(f"{what} takes {count} comma-separated numbers, got {text!r}")
    return values


def parse_region(text: str) -> Region:
    x0, y0, x1, y1 = (v * 1000 for v in parse_numbers(text, 4, "--region X0,Y0,X1,Y1 (mm)"))
    return Region(x0, y0, x1, y1)


def parse_grid(text: str) -> tuple[int, int]:
    match = GRID.match(text)
    if not match or min(int(match[1]), int(match[2])) < 1:
        raise InputError(f"--grid takes ROWSxCOLS, e.g. 5x5, got {text!r}")
    return int(match[1]), int(match[2])


def read_points(path: Path) -> tuple[tuple[float, float], ...]:
    """``x_mm,y_mm`` per line (a header line is skipped)."""
    if not path.is_file():
        raise InputError(f"no such point file: {path}")
    points = []
    with path.open(newline="") as handle:
        for number, row in enumerate(csv.reader(handle), 1):
            if not row or row[0].strip().startswith("#"):
                continue
            try:
                x, y = float(row[0]), float(row[1])
            except (ValueError, IndexError):
                if number == 1:
                    continue  # a header
                raise InputError(f"{path}:{number}: expected x_mm,y_mm") from None
            points.append((x * 1000, y * 1000))
    return tuple(points)


def describe_point(point: MapPoint, total: int) -> str:
    where = f"point {point.index + 1}/{total} at ({point.x_um / 1000:.3f}, {point.y_um / 1000:.3f}) mm"
    if point.z_um is None:
        return f"{where}: not found ({point.reason})"
    return f"{where}: z {point.z_um / 1000:.6f} mm, {point.frames} frames"


def write_outputs(focus_map: FocusMap, out: Path, tile_um: tuple[float, float] | None,
                  overlap: float, extra: dict[str, Any]) -> list[Tile]:
    from autofocus.focusmap_plot import plot_map

    out.mkdir(parents=True, exist_ok=True)
    data = focus_map.to_dict() | extra
    (out / "map.json").write_text(json.dumps(data, indent=1))
    plot_map(focus_map, out / "map.png")
    if tile_um is None or not focus_map.ok:
        return []
    tiles = tiles_with_z(tile_grid(focus_map.region, tile_um[0], tile_um[1], overlap), focus_map.z_at)
    write_csv(tiles, out / "tiles.csv")
    write_json(tiles, out / "tiles.json")
    try:
        write_useq(tiles, out / "tiles-useq.json")
    except InputError as exc:  # useq-schema is optional: the CSV and JSON lists still stand
        print(f"note: {exc}")
    return tiles


def map_command(
    start_mm: Annotated[float, typer.Argument(help="first point's search starts here, mm")],
    end_mm: Annotated[float, typer.Argument(help="first point's search ends here, mm")],
    step_mm: Annotated[float, typer.Argument(help="step between frames, mm")],
    port: Annotated[str, typer.Argument(help="sim, a serial port, or tcp://HOST:PORT")],
    region: Annotated[str, typer.Option(help="X0,Y0,X1,Y1 in mm: corners of the region to map")],
    grid: Annotated[str, typer.Option(help="ROWSxCOLS of points over the region, edges included")] = "5x5",
    points: Annotated[Path | None, typer.Option(help="CSV of x_mm,y_mm points instead of a grid")] = None,
    model: Annotated[str, typer.Option(help=f"surface: auto, {', '.join(SURFACE_MODELS)}")] = "auto",
    window_um: Annotated[float, typer.Option(
        help="later points search this far either side of the predicted surface, um")] = DEFAULT_WINDOW_UM,
    z_clearance_um: Annotated[float | None, typer.Option(
        help="focus height for XY moves, um (default: last good focus minus the window)")] = None,
    strategy: Annotated[str, typer.Option(help=f"first point's search: {', '.join(STRATEGIES)}")
                        ] = DEFAULT_STRATEGY,
    later_strategy: Annotated[str | None, typer.Option(
        help="later points' search (default: refocus if available, else the default)")] = None,
    outlier_floor_um: Annotated[float, typer.Option(
        help="never set a point apart for disagreeing by less than this, um (about one depth of "
        "field)")] = DEFAULT_OUTLIER_FLOOR_UM,
    tile_mm: Annotated[str | None, typer.Option(
        help="W,H of one tile, mm (default on sim: the camera's field)")] = None,
    overlap: Annotated[float, typer.Option(help="tile overlap, fraction")] = 0.1,
    out: Annotated[Path, typer.Option(help="folder for map.json, map.png and the tile lists")
                   ] = Path("autofocus-map"),
    as_json: Annotated[bool, typer.Option("--json", help="print the map as JSON")] = False,
    device: FocusDeviceOption = 3,
    axis: AxisOption = 1,
    x_device: XDeviceOption = 1,
    y_device: YDeviceOption = 2,
    native_unit_um: NativeUnitOption = None,
    sim_slide: Annotated[str, typer.Option(help=f"simulator: {', '.join(SLIDE_PRESETS)}")] = "tilted",
    sim_empty_fraction: Annotated[float, typer.Option(help="simulator: fraction of empty tiles")] = 0.0,
    sim_specimen: Annotated[str, typer.Option(help="simulator: specimen")] = "fluorescent-cells",
    sim_objective: Annotated[str, typer.Option(help="simulator: objective")] = "20x",
    sim_seed: Annotated[int, typer.Option(help="simulator: slide, specimen and noise seed")] = 0,
) -> None:
    """Measure focus at a grid or list of points, fit the slide's surface (robustly: points that
    fail or disagree are set apart and reported), and write the map and a tile list with z."""
    from autofocus.connect import ConnectOptions, check_port, open_microscope
    from autofocus.runner import AutofocusSettings
    from autofocus.sim import SimConfig
    from autofocus.sim.slide import slide_preset

    where = parse_region(region)
    search = AutofocusSettings(start_um=mm_to_um(start_mm), end_um=mm_to_um(end_mm),
                               step_um=mm_to_um(step_mm), strategy=strategy)
    settings = MapSettings(where, search, grid=None if points else parse_grid(grid),
                           points=read_points(points) if points else None, window_um=window_um,
                           later_strategy=later_strategy, model=model,
                           z_clearance_um=z_clearance_um, outlier_floor_um=outlier_floor_um)
    if model != "auto" and model not in SURFACE_MODELS:
        raise InputError(f"unknown surface model {model!r}; choose one of: auto, {', '.join(SURFACE_MODELS)}")
    if sim_slide not in SLIDE_PRESETS:
        raise InputError(f"unknown slide {sim_slide!r}; choose one of: {', '.join(SLIDE_PRESETS)}")
    tile_um: tuple[float, float] | None = None
    if tile_mm is not None:
        width_mm, height_mm = parse_numbers(tile_mm, 2, "--tile-mm")
        tile_um = (width_mm * 1000, height_mm * 1000)
    if not 0 <= overlap < 1:
        raise InputError("--overlap must be a fraction in [0, 1)")
    if tile_um is not None:
        check_tiling(where, tile_um[0], tile_um[1], overlap)
    check_output_folder(out, "--out")
    settings.validate()
    check_port(port)
    centre = ((where.x_min_um + where.x_max_um) / 2, (where.y_min_um + where.y_max_um) / 2)
    sim = SimConfig(specimen=sim_specimen, objective=sim_objective, seed=sim_seed,
                    slide=slide_preset(sim_slide, sim_seed, sim_empty_fraction, origin_um=centre),
                    xy_start_um=(where.x_min_um, where.y_min_um))
    options = ConnectOptions(camera="sim", device=device, axis=axis, native_unit_um=native_unit_um,
                             sim=sim, xy_devices=None if port == "sim" else (x_device, y_device))
    # The range and the XY region against the travel, before an unhomed Zaber axis homes
    # (homing travels far).
    connection = open_microscope(port, options, check=lambda scope: check_map_before_motion(scope, settings))
    try:
        total = len(settings.targets())
        on_point = None if as_json else (lambda p: print(describe_point(p, total), flush=True))
        focus_map = measure_map(connection.microscope, settings, on_point=on_point)
        extra: dict[str, Any] = {}
        simulator = connection.simulator
        if simulator is not None:
            extra["sim_true_focus_um"] = [simulator.true_focus_at_xy(p.x_um, p.y_um)
                                          for p in focus_map.points]
            if tile_um is None:
                tile_um = simulator.field_of_view_um()
        tiles = write_outputs(focus_map, out, tile_um, overlap, extra)
    finally:
        connection.microscope.close()
    if as_json:
        print(json.dumps(focus_map.to_dict() | extra))
    else:
        print(summary(focus_map, len(tiles), out))
    raise typer.Exit(EXIT_FOCUSED if focus_map.ok else EXIT_NOT_FOUND)


def summary(focus_map: FocusMap, tiles: int, out: Path) -> str:
    lines = []
    for p in focus_map.set_apart:
        lines.append(f"set apart: point {p.index + 1} at ({p.x_um / 1000:.3f}, {p.y_um / 1000:.3f}) mm: "
                     f"{p.reason}")
    if focus_map.fit is None:
        lines.append("no point was found: no surface")
    else:
        s = focus_map.fit.surface
        lines.append(f"surface: {s.model} through {len(focus_map.fit.inliers)} points, leave-one-out "
                     f"error {s.loo_rms_um:.2f} um; {focus_map.frames} frames, "
                     f"{focus_map.hardware_s:.1f} s of hardware time")
    lines.append(f"wrote {out}/map.json, map.png" + (f" and {tiles} tiles (tiles.csv, tiles.json, "
                                                     "tiles-useq.json)" if tiles else ""))
    return "\n".join(lines)
