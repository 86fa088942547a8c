"""``autofocus track``: keep one or several positions in focus through a time-lapse.

    autofocus track START_MM END_MM STEP_MM PORT --every S --for S [--position X,Y ...] [--log PATH]

The four positionals are the main command's (the full search, used at the first time point and
whenever focus is lost); positions are millimetres too. On PORT ``sim`` the time-lapse runs on
the simulator's virtual clock (at once) with the drifts ``--sim-drift`` names; on hardware it
waits on the real clock between time points. Exit codes: 0 every time point focused, 1 some not
found (the log says which), 2 bad input (nothing moved), 3 hardware, 4 output, 130/143 signals.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from autofocus.cli_checks import check_focus_words, check_output_file
from autofocus.cli_io import AxisOption, FocusDeviceOption, NativeUnitOption, XDeviceOption, YDeviceOption
from autofocus.cli_map import parse_numbers, parse_region, read_points
from autofocus.errors import EXIT_FOCUSED, EXIT_NOT_FOUND, InputError, OutputError
from autofocus.hardware_probe import DEFAULT_MAX_FRAMES
from autofocus.search import DEFAULT_STRATEGY, STRATEGIES
from autofocus.sim import OBJECTIVES, SPECIMENS
from autofocus.sim.drift import DRIFT_PARTS
from autofocus.sim.slide import SLIDE_PRESETS
from autofocus.track import (
    DEFAULT_CLEARANCE_UM,
    TrackLog,
    TrackRow,
    TrackSettings,
    check_log_path,
    check_track_before_motion,
    depth_of_field,
    track,
    write_log,
)
from autofocus.units import mm_to_um

__all__ = ["describe_row", "summary", "track_command"]


Positions = tuple[tuple[float, float], ...]


def parse_positions(position: list[str] | None, points: Path | None) -> Positions | None:
    """``--position X,Y`` (mm, repeatable) or ``--points FILE`` (``x_mm,y_mm`` lines) -> um."""
    if position and points is not None:
        raise InputError("give --position or --points, not both")
    if points is not None:
        return read_points(points)
    if not position:
        return None
    return tuple((mm_to_um(x), mm_to_um(y)) for x, y in
                 (parse_numbers(p, 2, "--position X,Y (mm)") for p in position))


def parse_drift(text: str) -> list[str]:
    """``thermal,creep,steps,motion`` (any of them), or ``none``."""
    words = [w.strip() for w in text.split(",") if w.strip()]
    return [] if words == ["none"] else words


def describe_row(row: TrackRow, positions: int) -> str:
    minutes, seconds = divmod(round(row.time_s), 60)
    where = f"t {minutes // 60}:{minutes % 60:02d}:{seconds:02d}"
    if positions > 1:
        where += f" position {row.position + 1}/{positions}"
    if row.z_um is None:
        return f"{where}: not found ({row.reason})"
    correction = "" if row.correction_um is None else f", correction {row.correction_um:+.2f} um"
    jump = ", a jump" if row.jump else ""
    return f"{where}: z {row.z_um / 1000:.6f} mm ({row.method}, {row.frames} frames{correction}{jump})"


def summary(log: TrackLog) -> str:
    s = log.summary()
    rows = max(s["rows"], 1)
    methods = ", ".join(f"{n} {m}" for m, n in s["methods"].items())
    lines = [f"{s['time_points']} time points x {log.positions} position(s): {s['frames']} frames "
             f"({s['frames'] / rows:.2f} per time point and position), light dose "
             f"{s['light_dose_s']:.3f} s, {s['hardware_s']:.1f} s of hardware time; {methods}; "
             f"{s['jumps']} jump(s), {s['not_found']} not found"]
    if s["rms_error_um"] is not None:
        lines.append(f"simulator: error rms {s['rms_error_um']:.3f} um ({s['rms_error_um'] / log.dof_um:.3f} "
                     f"DOF), max {s['max_error_um']:.3f} um (depth of field {log.dof_um:.2f} um)")
    return "\n".join(lines)


def track_command(
    start_mm: Annotated[float, typer.Argument(help="the full search starts here, mm")],
    end_mm: Annotated[float, typer.Argument(help="the full search ends here, mm")],
    step_mm: Annotated[float, typer.Argument(help="step between frames of the full search, mm")],
    port: Annotated[str, typer.Argument(help="sim, a serial port, or tcp://HOST:PORT")],
    every: Annotated[float, typer.Option("--every", help="seconds between time points")],
    for_s: Annotated[float, typer.Option("--for", help="length of the time-lapse, seconds")],
    position: Annotated[list[str] | None, typer.Option(
        help="X,Y of a position, mm (repeat for several; default: where the stage is)")] = None,
    points: Annotated[Path | None, typer.Option(help="CSV of x_mm,y_mm positions")] = None,
    region: Annotated[str | None, typer.Option(
        help="X0,Y0,X1,Y1 in mm: where the XY stage may go (default: the positions' bounding box)")] = None,
    clearance_um: Annotated[float, typer.Option(
        help="before an XY move, lower focus this far below the next prediction, um")] = DEFAULT_CLEARANCE_UM,
    log: Annotated[Path | None, typer.Option(help="write the log: PATH.csv or PATH.json")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the log as JSON")] = False,
    strategy: Annotated[str, typer.Option(
        help=f"the full search: {', '.join(STRATEGIES)}")] = DEFAULT_STRATEGY,
    metric: Annotated[str | None, typer.Option(help="focus measure (default: the mode's)")] = None,
    mode: Annotated[str, typer.Option(help="imaging mode")] = "auto",
    dof_um: Annotated[float | None, typer.Option(
        help="the objective's depth of field, um (default: the microscope's when known)")] = None,
    settle_ms: Annotated[float, typer.Option(help="wait after each move, ms")] = 0.0,
    timeout_s: Annotated[float | None, typer.Option(help="time budget of each focusing, s")] = None,
    max_frames: Annotated[int, typer.Option(help="frame budget of each focusing")] = DEFAULT_MAX_FRAMES,
    camera: Annotated[str, typer.Option(
        help="auto, sim, spinnaker, genicam:CTI_PATH or opencv:INDEX")] = "auto",
    device: FocusDeviceOption = 3,
    axis: AxisOption = 1,
    x_device: XDeviceOption = 1,
    y_device: YDeviceOption = 2,
    native_unit_um: NativeUnitOption = None,
    sim_drift: Annotated[str, typer.Option(
        help=f"simulator: drifts, any of {','.join(DRIFT_PARTS)}, or none")] = "thermal,creep,steps",
    sim_specimen: Annotated[str, typer.Option(
        help=f"simulator: {', '.join(SPECIMENS)}")] = "fluorescent-cells",
    sim_objective: Annotated[str, typer.Option(help=f"simulator: {', '.join(OBJECTIVES)}")] = "20x",
    sim_slide: Annotated[str, typer.Option(help=f"simulator: {', '.join(SLIDE_PRESETS)}")] = "flat",
    sim_focus_mm: Annotated[float | None, typer.Option(help="simulator: true focus at the start, mm")] = None,
    sim_seed: Annotated[int, typer.Option(help="simulator: specimen, noise and drift seed")] = 0,
) -> None:
    """Keep one or several positions in focus through a time-lapse: at every time point predict
    focus from the drift so far, check it with two frames, refocus or search when it moved."""
    from autofocus.connect import ConnectOptions, check_port, open_microscope
    from autofocus.runner import AutofocusSettings
    from autofocus.sim import DEFAULT_TRUE_FOCUS_UM, SimConfig
    from autofocus.sim.drift import drift_preset
    from autofocus.sim.slide import slide_preset

    search = AutofocusSettings(start_um=mm_to_um(start_mm), end_um=mm_to_um(end_mm),
                               step_um=mm_to_um(step_mm), strategy=strategy, metric=metric,
                               mode=mode, dof_um=dof_um, settle_s=settle_ms / 1000.0,
                               timeout_s=timeout_s, max_frames=max_frames)
    positions = parse_positions(position, points)
    settings = TrackSettings(search, every, for_s, positions,
                             parse_region(region) if region is not None else None, clearance_um)
    settings.validate()
    if log is not None:
        check_log_path(log)
        check_output_file(log, "--log")  # a log that cannot be written fails now, not hours later
    if sim_slide not in SLIDE_PRESETS:
        raise InputError(f"unknown slide {sim_slide!r}; choose one of: {', '.join(SLIDE_PRESETS)}")
    check_port(port)
    start_xy = positions[0] if positions else (0.0, 0.0)
    sim = SimConfig(specimen=sim_specimen, objective=sim_objective, seed=sim_seed,
                    true_focus_um=DEFAULT_TRUE_FOCUS_UM if sim_focus_mm is None else mm_to_um(sim_focus_mm),
                    drift=drift_preset(parse_drift(sim_drift), for_s, sim_seed),
                    slide=slide_preset(sim_slide, sim_seed, origin_um=start_xy), xy_start_um=start_xy)
    options = ConnectOptions(camera=camera, device=device, axis=axis, native_unit_um=native_unit_um, sim=sim,
                             xy_devices=(x_device, y_device) if positions and port != "sim" else None)
    check_focus_words(options, port, None, sim_seed)
    # The range and the XY region against the travel, before an unhomed Zaber axis homes
    # (homing travels far).
    connection = open_microscope(port, options,
                                 check=lambda scope: check_track_before_motion(scope, settings))
    simulator = connection.simulator
    count = len(positions) if positions else 1
    rows: list[TrackRow] = []

    def on_row(row: TrackRow) -> None:
        rows.append(row)
        if not as_json:
            print(describe_row(row, count), flush=True)

    truth = None if simulator is None else (lambda: simulator.true_focus_um)
    try:
        result = track(connection.microscope, settings, on_row=on_row, truth=truth)
    except BaseException:
        if log is not None:  # what was logged before the failure is still worth keeping
            dof = depth_of_field(connection.microscope, search)
            partial = TrackLog(tuple(rows), every, for_s, dof, count, ("stopped early",))
            try:
                write_log(partial, log)
            except OSError as exc:
                print(f"autofocus: warning: could not write the log {log}: {exc}", file=sys.stderr)
        raise
    finally:
        connection.microscope.close()
    extra: dict[str, Any] = {}
    if simulator is not None:
        extra["sim_drift"] = simulator.config.drift.describe()
    try:
        if log is not None:
            write_log(result, log)
        print(json.dumps(result.to_dict() | extra) if as_json else summary(result), flush=True)
    except OSError as exc:
        raise OutputError(f"cannot write the log or the summary: {exc.strerror or exc}") from None
    focused = all(r.status == "focused" for r in result.rows)
    raise typer.Exit(EXIT_FOCUSED if focused else EXIT_NOT_FOUND)
