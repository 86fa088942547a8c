"""The command line. The main command keeps the tutorial's shape:

    autofocus START_MM END_MM STEP_MM PORT [--verbose] [--show-images] [--blur N]

Other jobs are subcommands (``autofocus demo``, ...). Exit codes: 0 focused, 1 focus not found
(stage back at its start), 2 bad input (nothing moved), 3 hardware error or budget used up, 4 output
failed, 130/143 interrupted by SIGINT/SIGTERM (see README.md).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from autofocus import cli_map, cli_recorded, cli_track
from autofocus.cli_checks import check_focus_words, check_output_folder, check_plot_path, check_tcp_port
from autofocus.cli_io import json_error, protect_negative_numbers, silence_stdout
from autofocus.cli_progress import progress_view
from autofocus.cli_tilt import LiveTilt, before_motion, describe, each_frame_to
from autofocus.connect import Connection, ConnectOptions, check_port, check_sim_camera, open_microscope
from autofocus.errors import (
    EXIT_BAD_INPUT,
    EXIT_FOCUSED,
    EXIT_HARDWARE,
    EXIT_INTERRUPTED,
    EXIT_NOT_FOUND,
    AutofocusError,
    InputError,
    OutputError,
    install_hint,
)
from autofocus.events import EventHandler, ProgressEvent
from autofocus.fieldtilt import FieldTilt, parse_regions
from autofocus.frames import parse_roi
from autofocus.hardware_probe import DEFAULT_MAX_FRAMES, DEFAULT_TIMEOUT_S
from autofocus.interrupt import Interrupted, annotate, signals_raise, stage_state_of
from autofocus.metrics import METRICS
from autofocus.modes import MODES, tutorial_metric_if_blur
from autofocus.report import StepImageWriter, plot_curve
from autofocus.result import FocusResult
from autofocus.runner import AutofocusSettings, run_autofocus
from autofocus.search import DEFAULT_STRATEGY, STRATEGIES
from autofocus.sim import DEFAULT_TRUE_FOCUS_UM, FAULT_NAMES, OBJECTIVES, SPECIMENS, FaultPlan, SimConfig
from autofocus.units import mm_to_um

__all__ = [
    "commands_app",
    "focus_app",
    "main",
    "run_cli",
]

DEFAULT_BLUR = 9  # the tutorial's

HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}
focus_app = typer.Typer(add_completion=False, rich_markup_mode=None, context_settings=HELP_OPTIONS)
commands_app = typer.Typer(add_completion=False, rich_markup_mode=None, no_args_is_help=True,
                           context_settings=HELP_OPTIONS)


@commands_app.callback()
def commands() -> None:
    """autofocus subcommands (a callback keeps Typer from collapsing a one-command group)."""


def guarded(view: EventHandler) -> EventHandler:
    """Progress lines go to stdout: a closed pipe or a full disk there is an output failure."""

    def show(event: ProgressEvent) -> None:
        with to_stdout():
            view(event)

    return show


def run_focus(
    port: str,
    settings: AutofocusSettings,
    options: ConnectOptions,
    *,
    verbose: bool,
    show_images: Path | None,
    as_json: bool,
    plot: Path | None,
    show_bar: bool,
    regions: tuple[int, int] | None = None,
) -> int:
    """Validate, connect, focus, report (with ``regions``, the field's tilt too). Returns the exit code."""
    settings.validate()
    check_port(port)
    check_sim_camera(port, options.camera, settings.strategy)
    if show_images is not None:
        check_output_folder(show_images, "--images-dir")
    if plot is not None:
        check_plot_path(plot)
    tilt = LiveTilt(regions, settings) if regions is not None else None
    with ExitStack() as stack:
        try:
            connection: Connection = open_microscope(port, options, check=before_motion(settings, tilt))
        except Interrupted as exc:
            if not stage_state_of(exc):
                annotate(exc, "the stage was not moved")
            raise
        stack.callback(connection.microscope.close)
        if tilt is not None:
            tilt.check(connection.microscope)  # a grid too fine for the frames: refused before any move
        writer = StepImageWriter(show_images, settings.blur) if show_images else None
        expected = max(1, round((settings.end_um - settings.start_um) / settings.step_um) + 1)
        view = stack.enter_context(progress_view("focusing", show_bar=show_bar and not as_json,
                                                 expected_frames=expected, unit="frames",
                                                 verbose=verbose and not as_json))
        result = run_autofocus(connection.microscope, settings, on_event=guarded(view),
                               on_frame=each_frame_to(writer, tilt.on_frame if tilt else None))
        try:
            stack.close()  # end the progress bar before printing
            if writer is not None:
                best_effort(writer.write_animation, "the animation")
            true_focus = connection.simulator.true_focus_um if connection.simulator else None
            if plot is not None:
                best_effort(lambda: plot_curve(result, plot, true_focus), f"the plot {plot}")
            field = tilt.result(result, connection.microscope) if tilt is not None else None
            with to_stdout():
                report(result, connection, as_json, field)
        except (Interrupted, AutofocusError) as exc:
            annotate(exc, where_result_left(result), result.final_z_um)
            raise
    if result.return_error:
        return EXIT_HARDWARE
    return EXIT_FOCUSED if result.focused else EXIT_NOT_FOUND


@contextmanager
def to_stdout() -> Iterator[None]:
    """Printing to a closed pipe or a full disk is an output failure (exit 4), not a traceback."""
    try:
        yield
        sys.stdout.flush()
    except OSError as exc:
        raise OutputError(f"cannot write to standard output: {exc.strerror or exc}") from None


def best_effort(write: Callable[[], object], what: str) -> None:
    """Extra output after the run (plot, animation): a failure to write it is said on one line
    and does not turn the run's result into a failure."""
    try:
        write()
    except (OSError, OutputError, ValueError) as exc:
        print(f"autofocus: warning: could not write {what}: {exc}", file=sys.stderr)


def where_result_left(result: FocusResult) -> str:
    """Where a finished run left the stage, for a line after it."""
    if result.final_z_um is None:
        return "the stage's position is unknown (it does not answer)"
    if result.focused:
        return f"stage at the focus found ({result.final_z_um / 1000:.6f} mm)"
    if result.return_error:
        return f"the stage could not be returned to its start; it is at {result.final_z_um / 1000:.6f} mm"
    return f"stage back at its start ({result.final_z_um / 1000:.6f} mm)"


def report(result: FocusResult, connection: Connection, as_json: bool, tilt: FieldTilt | None = None) -> None:
    data: dict[str, Any] = result.to_dict() | ({"field_tilt": tilt.to_dict()} if tilt else {})
    sim = connection.simulator
    if sim is not None:
        data["sim_true_focus_mm"] = sim.true_focus_um / 1000.0
        data["sim_depth_of_field_um"] = sim.depth_of_field_um()
        if result.best_z_um is not None:
            data["sim_error_um"] = result.best_z_um - sim.true_focus_um
    if as_json:
        print(json.dumps(data))
    elif result.focused and result.best_z_um is not None:
        print(f"focused at {result.best_z_um / 1000:.6f} mm (score {result.score:.6g}) "
              f"after {result.frames} frames, {result.hardware_s:.2f} s of hardware time")
    elif result.return_error:
        print(f"focus not found: {result.reason}")
    else:
        print(f"focus not found: {result.reason}; {where_result_left(result)}")
    if sim is not None and not as_json:
        line = f"simulator: true focus {sim.true_focus_um / 1000:.6f} mm"
        if "sim_error_um" in data:
            line += (f", error {data['sim_error_um']:+.2f} um "
                     f"(depth of field {sim.depth_of_field_um():.1f} um)")
        print(line)
    if tilt is not None and not as_json:
        print(describe(tilt))
    if result.return_error:
        # A failed return is a hardware failure: the one line on stderr says where the stage is.
        where = ("its position is unknown (the stage does not answer)" if result.final_z_um is None
                 else f"it is at {result.final_z_um / 1000:.6f} mm")
        print(f"autofocus: the stage could not be returned to its start ({result.return_error}); "
              f"{where}", file=sys.stderr)


def sim_config(focus_mm: float | None, specimen: str, objective: str, bits: int, seed: int,
               fault: str | None, fault_after: int, start_mm: float | None = None) -> SimConfig:
    """The simulator's options as the command line gives them; SimConfig and FaultPlan check them."""
    focus_um = DEFAULT_TRUE_FOCUS_UM if focus_mm is None else mm_to_um(focus_mm)
    config = SimConfig(specimen=specimen, objective=objective, bits=bits, seed=seed,
                       true_focus_um=focus_um, faults=FaultPlan(fault, fault_after))
    return config if start_mm is None else dataclasses.replace(config, start_um=mm_to_um(start_mm))


@focus_app.command(
    help="Bring the microscope into focus: search START_MM..END_MM (millimetres, as in Zaber's "
    "tutorial; the Python API uses micrometres) with STEP_MM between frames, on PORT: 'sim' for the "
    "simulated microscope, a serial port (COM3, /dev/ttyUSB0) or tcp://HOST:PORT for a Zaber stage. "
    "Exit codes: 0 focused, 1 focus not found (stage back at start), 2 bad input (nothing moved), "
    "3 hardware error or budget used up, 4 output failed, 130/143 interrupted (stage returned). "
    "Other commands: 'autofocus demo', 'autofocus COMMAND --help'.",
)
def focus(
    start_mm: Annotated[float, typer.Argument(help="where the search starts, mm")],
    end_mm: Annotated[float, typer.Argument(help="where the search ends, mm")],
    step_mm: Annotated[float, typer.Argument(help="step between frames, mm")],
    port: Annotated[str, typer.Argument(help="sim, a serial port, or tcp://HOST:PORT")],
    verbose: Annotated[bool, typer.Option("--verbose", help="print each step")] = False,
    show_images: Annotated[bool, typer.Option(
        "--show-images",
        help="write each step's frame, filtered frame and Laplacian, and an animation")] = False,
    images_dir: Annotated[Path, typer.Option(help="where --show-images writes")] = Path("autofocus-images"),
    blur: Annotated[int | None, typer.Option(
        help="median blur size in pixels (odd, default 9) of the tutorial's measure; "
        "giving it without --metric selects that measure (laplacian)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
    strategy: Annotated[str, typer.Option(help=f"search: {', '.join(STRATEGIES)}")] = DEFAULT_STRATEGY,
    metric: Annotated[str | None, typer.Option(
        help=f"focus measure: {', '.join(METRICS)} (default: the mode's)")] = None,
    mode: Annotated[str, typer.Option(
        help=f"imaging mode, picks the default measure: {', '.join(MODES)}")] = "auto",
    layer: Annotated[str, typer.Option(
        help="of several separated peaks (a section and dust): auto, nearest, lowest, highest, "
        "strongest")] = "auto",
    roi: Annotated[str | None, typer.Option(help="region of interest X,Y,WIDTH,HEIGHT (pixels)")] = None,
    settle_ms: Annotated[float, typer.Option(help="wait after each move, ms")] = 0.0,
    backlash_um: Annotated[float, typer.Option(help="final approach from below by this much, um")] = 0.0,
    timeout_s: Annotated[float | None, typer.Option(
        help=f"give up after this many seconds (default {DEFAULT_TIMEOUT_S:g})")] = None,
    max_frames: Annotated[int, typer.Option(
        help="frame budget: a range whose step grid needs more frames is refused")] = DEFAULT_MAX_FRAMES,
    near_mm: Annotated[float | None, typer.Option(
        help="refocus/brent: where focus is expected, mm (default: where the stage is)")] = None,
    dof_um: Annotated[float | None, typer.Option(
        help="the objective's depth of field, um (refocus sizes its frames by it)")] = None,
    on_miss: Annotated[str, typer.Option(
        help="refocus, when focus is not near: widen, search (whole range) or fail")] = "widen",
    no_pipeline: Annotated[bool, typer.Option(
        "--no-pipeline", help="score each streamed frame before grabbing the next")] = False,
    plot: Annotated[Path | None, typer.Option(help="write the focus-curve plot (PNG)")] = None,
    regions: Annotated[str | None, typer.Option(help="ROWSxCOLS: also report the field's tilt from the same "
                                                "frames, warning when it exceeds the depth of field")] = None,
    camera: Annotated[str, typer.Option(
        help="auto, sim, spinnaker, genicam:CTI_PATH or opencv:INDEX_OR_FILE")] = "auto",
    device: Annotated[int, typer.Option(help="Zaber device number")] = 3,
    axis: Annotated[int, typer.Option(help="Zaber axis number")] = 1,
    device_db: Annotated[Path | None, typer.Option(help="offline Zaber device database file")] = None,
    native_unit_um: Annotated[float | None, typer.Option(
        help="micrometres per native unit, when no device database is reachable")] = None,
    sim_focus_mm: Annotated[float | None, typer.Option(
        help=f"simulator: true focus, mm (default {DEFAULT_TRUE_FOCUS_UM / 1000:g})")] = None,
    sim_specimen: Annotated[str, typer.Option(
        help=f"simulator: {', '.join(SPECIMENS)}")] = "fluorescent-cells",
    sim_objective: Annotated[str, typer.Option(help=f"simulator: {', '.join(OBJECTIVES)}")] = "20x",
    sim_bits: Annotated[int, typer.Option(help="simulator: camera bit depth 8, 12 or 16")] = 8,
    sim_seed: Annotated[int, typer.Option(help="simulator: specimen and noise seed")] = 0,
    sim_fault: Annotated[str | None, typer.Option(help=f"simulator: inject {', '.join(FAULT_NAMES)}")] = None,
    sim_fault_after: Annotated[int, typer.Option(help="simulator: fault after this many operations")] = 3,
    sim_start_mm: Annotated[float | None, typer.Option(
        help="simulator: where the stage starts, mm (default 9; put it near focus for brent)")] = None,
) -> None:
    settings = AutofocusSettings(
        start_um=mm_to_um(start_mm),
        end_um=mm_to_um(end_mm),
        step_um=mm_to_um(step_mm),
        strategy=strategy,
        metric=tutorial_metric_if_blur(metric, blur),
        mode=mode,
        layer=layer,
        blur=DEFAULT_BLUR if blur is None else blur,
        roi=parse_roi(roi),
        settle_s=settle_ms / 1000.0,
        backlash_um=backlash_um,
        timeout_s=timeout_s,
        max_frames=max_frames,
        near_um=None if near_mm is None else mm_to_um(near_mm),
        dof_um=dof_um,
        on_miss=on_miss,  # type: ignore[arg-type]  # checked by settings.validate()
        pipeline=not no_pipeline,
    )
    options = ConnectOptions(
        camera=camera, device=device, axis=axis, device_db=device_db, native_unit_um=native_unit_um,
        sim=sim_config(sim_focus_mm, sim_specimen, sim_objective, sim_bits, sim_seed, sim_fault,
                       sim_fault_after, sim_start_mm),
    )
    check_focus_words(options, port, settings.roi, sim_seed)
    code = run_focus(port, settings, options, verbose=verbose, as_json=as_json, plot=plot,
                     show_images=images_dir if show_images else None, show_bar=sys.stderr.isatty(),
                     regions=parse_regions(regions) if regions is not None else None)
    raise typer.Exit(code)


@commands_app.command(help="Autofocus the simulated microscope with sensible defaults and plot the curve.")
def demo(
    out: Annotated[Path, typer.Option(help="folder for the focus-curve plot")] = Path("autofocus-demo"),
    specimen: Annotated[str, typer.Option(help=f"{', '.join(SPECIMENS)}")] = "fluorescent-cells",
    objective: Annotated[str, typer.Option(help=f"{', '.join(OBJECTIVES)}")] = "20x",
    strategy: Annotated[str, typer.Option(help=f"{', '.join(STRATEGIES)}")] = DEFAULT_STRATEGY,
    seed: Annotated[int, typer.Option(help="specimen and noise seed")] = 0,
) -> None:
    # The tutorial's own usage: a 1 mm range in 10 um steps around the simulator's focus.
    settings = AutofocusSettings(start_um=9_500.0, end_um=10_500.0, step_um=10.0, strategy=strategy)
    options = ConnectOptions(camera="sim", sim=sim_config(None, specimen, objective, 8, seed, None, 0))
    print(f"autofocus demo: simulated {specimen} under a {OBJECTIVES[objective].name} objective, "
          "searching 9.5..10.5 mm in 10 um steps")
    plot = out / "focus-curve.png"
    code = run_focus("sim", settings, options, verbose=False, show_images=None, as_json=False,
                     plot=plot, show_bar=True)
    print(f"focus-curve plot: {plot}")
    raise typer.Exit(code)


@commands_app.command("serve-zaber", help="Run a simulated Zaber controller (ASCII protocol) on "
                      "127.0.0.1 TCP or a pseudo-terminal, to try the Zaber path without hardware.")
def serve_zaber(
    port: Annotated[int, typer.Option(help="TCP port (0: any free one)")] = 0,
    pty: Annotated[bool, typer.Option("--pty", help="serve on a pseudo-terminal (a serial port)")] = False,
    device: Annotated[int, typer.Option(help="device number it answers to")] = 3,
    start_mm: Annotated[float, typer.Option(help="where the carriage starts, mm")] = 9.0,
    time_scale: Annotated[float, typer.Option(help="real seconds per simulated second")] = 1.0,
    homed: Annotated[bool, typer.Option("--homed", help="start with a reference position")] = False,
    fault: Annotated[str | None, typer.Option(help="inject stall, reject, silence or disconnect")] = None,
    fault_after: Annotated[int, typer.Option(help="fault after this many moves")] = 3,
    duration_s: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="print every command received")] = False,
) -> None:
    from autofocus.sim.zaber_protocol import ZaberFault
    from autofocus.sim.zaber_server import serve_forever

    check_tcp_port(port)
    serve_forever("pty" if pty else "tcp", port, device, mm_to_um(start_mm), time_scale,
                  homed, ZaberFault(fault, fault_after) if fault else None, duration_s, verbose)


@commands_app.command(help="Open the live autofocus panel on PORT (default: the simulated microscope).")
def gui(port: Annotated[str, typer.Argument(help="sim, a serial port, or tcp://HOST:PORT")] = "sim") -> None:
    check_port(port)
    try:  # Qt only when asked for: the panel is the optional extra [gui]
        from autofocus.gui.app import run_app
    except ImportError as exc:
        missing = exc.name or exc
        raise InputError(f"the panel needs Qt: {install_hint('gui')} (missing {missing})") from None
    raise typer.Exit(run_app(port))


# Jobs on recorded data, defined in cli_recorded.
commands_app.command("stack")(cli_recorded.stack)
commands_app.command("score")(cli_recorded.score)
commands_app.command("map")(cli_map.map_command)
commands_app.command("track")(cli_track.track_command)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``autofocus`` script; exits with the documented codes."""
    sys.exit(run_cli(list(sys.argv[1:] if argv is None else argv)))


def subcommand_names() -> list[str]:
    """Every registered subcommand (so one added elsewhere, e.g. ``gui``, is listed too)."""
    return sorted(typer.main.get_command(commands_app).commands)  # type: ignore[attr-defined]


def full_help() -> str:
    """The main command's help followed by the list of subcommands."""
    focus_command = typer.main.get_command(focus_app)
    with typer.Context(focus_command, info_name="autofocus") as ctx:
        text = focus_command.get_help(ctx)
    group = typer.main.get_command(commands_app)
    lines = ["", "Commands (autofocus COMMAND --help for each):"]
    for name in subcommand_names():
        sub = group.commands[name]  # type: ignore[attr-defined]
        lines.append(f"  {name:12} {sub.get_short_help_str(limit=90)}")
    lines.append("  help         this text; 'autofocus help COMMAND' for a command's help")
    return text + "\n".join(lines)


def run_cli(args: list[str]) -> int:
    """Parse and run; every failure becomes one line on stderr and its exit code."""
    # Libraries' own warnings (tifffile on a damaged file) would sit beside our one line.
    logging.getLogger("tifffile").setLevel(logging.ERROR)
    if not args:
        print(full_help(), file=sys.stderr)
        return EXIT_BAD_INPUT
    if args[0] in ("--version", "-V"):
        from autofocus import __version__

        print(f"autofocus {__version__}")
        return EXIT_FOCUSED
    if args[0] == "help" and len(args) > 1:
        args = [args[1], "--help"]
    if args in (["--help"], ["-h"], ["help"]):
        print(full_help())
        return EXIT_FOCUSED
    is_subcommand = args[0] in subcommand_names()
    app = commands_app if is_subcommand else focus_app
    command = typer.main.get_command(app)
    try:
        with signals_raise():  # SIGTERM, like Ctrl-C, unwinds through the code that owns the stage
            code = command.main(args=args if is_subcommand else protect_negative_numbers(args),
                                prog_name="autofocus", standalone_mode=False)
    except typer.TyperException as exc:  # the CLI library's usage errors (bad number, missing argument)
        print(f"autofocus: error: {exc.format_message()}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Interrupted as exc:
        print(f"autofocus: {exc.describe()}", file=sys.stderr)
        return exc.exit_code
    except OutputError as exc:
        silence_stdout()
        print(f"autofocus: {exc.describe()}", file=sys.stderr)
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt) as exc:
        state = stage_state_of(exc)
        print(f"autofocus: interrupted (SIGINT){'; ' + state if state else ''}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except AutofocusError as exc:
        if "--json" in args and not is_subcommand:
            print(json_error(exc))
        print(f"autofocus: {'error: ' if exc.exit_code == EXIT_BAD_INPUT else ''}{exc.describe()}",
              file=sys.stderr)
        return exc.exit_code
    return code if isinstance(code, int) else EXIT_FOCUSED
