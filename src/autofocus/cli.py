"""The command line. The main command keeps the tutorial's shape:

    autofocus START_MM END_MM STEP_MM PORT [--verbose] [--show-images] [--blur N]

Other jobs are subcommands (``autofocus demo``, ...). Exit codes: 0 focused, 1 focus not found
(stage back at its start), 2 bad input (nothing moved), 3 hardware error.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer

from autofocus import cli_map, cli_recorded
from autofocus.cli_progress import progress_view
from autofocus.connect import Connection, ConnectOptions, check_port, check_sim_camera, open_microscope
from autofocus.errors import (
    EXIT_BAD_INPUT,
    EXIT_FOCUSED,
    EXIT_HARDWARE,
    EXIT_NOT_FOUND,
    AutofocusError,
    InputError,
)
from autofocus.metrics import METRICS, Roi
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


def parse_roi(text: str | None) -> Roi | None:
    if text is None:
        return None
    parts = text.split(",")
    try:
        x, y, w, h = (int(p) for p in parts)
    except ValueError:
        raise InputError(f"--roi takes X,Y,WIDTH,HEIGHT in pixels, got {text!r}") from None
    return (x, y, w, h)


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
) -> int:
    """Validate, connect, focus, report. Returns the exit code."""
    settings.validate()
    check_port(port)
    check_sim_camera(port, options.camera, settings.strategy)
    with ExitStack() as stack:
        connection: Connection = open_microscope(port, options)
        stack.callback(connection.microscope.close)
        writer = StepImageWriter(show_images, settings.blur) if show_images else None
        expected = max(1, round((settings.end_um - settings.start_um) / settings.step_um) + 1)
        view = stack.enter_context(progress_view("focusing", show_bar=show_bar and not as_json,
                                                 expected_frames=expected, unit="frames",
                                                 verbose=verbose and not as_json))
        result = run_autofocus(connection.microscope, settings, on_event=view, on_frame=writer)
        stack.close()  # end the progress bar before printing
        if writer is not None:
            writer.write_animation()
        true_focus = connection.simulator.true_focus_um if connection.simulator else None
        if plot is not None:
            plot_curve(result, plot, true_focus)
        report(result, connection, as_json)
    return EXIT_FOCUSED if result.focused else EXIT_NOT_FOUND


def report(result: FocusResult, connection: Connection, as_json: bool) -> None:
    data: dict[str, Any] = result.to_dict()
    sim = connection.simulator
    if sim is not None:
        data["sim_true_focus_mm"] = sim.true_focus_um / 1000.0
        data["sim_depth_of_field_um"] = sim.depth_of_field_um()
        if result.best_z_um is not None:
            data["sim_error_um"] = result.best_z_um - sim.true_focus_um
    if as_json:
        print(json.dumps(data))
        return
    if result.focused and result.best_z_um is not None:
        print(f"focused at {result.best_z_um / 1000:.6f} mm (score {result.score:.6g}) "
              f"after {result.frames} frames, {result.hardware_s:.2f} s of hardware time")
    else:
        print(f"focus not found: {result.reason}; stage back at its start "
              f"({(result.final_z_um or 0) / 1000:.6f} mm)")
    if sim is not None:
        line = f"simulator: true focus {sim.true_focus_um / 1000:.6f} mm"
        if "sim_error_um" in data:
            line += (f", error {data['sim_error_um']:+.2f} um "
                     f"(depth of field {sim.depth_of_field_um():.1f} um)")
        print(line)


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
    "Exit codes: 0 focused, 1 focus not found (stage back at start), 2 bad input, 3 hardware error. "
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
    timeout_s: Annotated[float | None, typer.Option(help="give up after this many seconds")] = None,
    near_mm: Annotated[float | None, typer.Option(
        help="refocus/brent: where focus is expected, mm (default: where the stage is)")] = None,
    dof_um: Annotated[float | None, typer.Option(
        help="the objective's depth of field, um (refocus sizes its frames by it)")] = None,
    on_miss: Annotated[str, typer.Option(
        help="refocus, when focus is not near: widen, search (whole range) or fail")] = "widen",
    no_pipeline: Annotated[bool, typer.Option(
        "--no-pipeline", help="score each streamed frame before grabbing the next")] = False,
    plot: Annotated[Path | None, typer.Option(help="write the focus-curve plot (PNG)")] = None,
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
    code = run_focus(port, settings, options, verbose=verbose, as_json=as_json, plot=plot,
                     show_images=images_dir if show_images else None, show_bar=sys.stderr.isatty())
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

    serve_forever("pty" if pty else "tcp", port, device, mm_to_um(start_mm), time_scale,
                  homed, ZaberFault(fault, fault_after) if fault else None, duration_s, verbose)


@commands_app.command(help="Open the live autofocus panel on PORT (default: the simulated microscope).")
def gui(port: Annotated[str, typer.Argument(help="sim, a serial port, or tcp://HOST:PORT")] = "sim") -> None:
    check_port(port)
    try:  # Qt only when asked for: the panel is the optional extra [gui]
        from autofocus.gui.app import run_app
    except ImportError as exc:
        missing = exc.name or exc
        raise InputError(f"the panel needs Qt: pip install 'autofocus[gui]' (missing {missing})") from None
    raise typer.Exit(run_app(port))


# Jobs on recorded data, defined in cli_recorded.
commands_app.command("stack")(cli_recorded.stack)
commands_app.command("score")(cli_recorded.score)
commands_app.command("map")(cli_map.map_command)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``autofocus`` script; exits with the documented codes."""
    sys.exit(run_cli(list(sys.argv[1:] if argv is None else argv)))


NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def protect_negative_numbers(args: list[str]) -> list[str]:
    """Let ``autofocus -0.05 0.05 0.01 sim`` work without ``--``: the CLI library reads any word
    that starts with ``-`` as an option, and no option of ours is named like a number. A leading
    space keeps the word a value; Python's float() and int() ignore it."""
    return [f" {a}" if NEGATIVE_NUMBER.match(a) else a for a in args]


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


def json_error(exc: AutofocusError) -> str:
    """What ``--json`` prints when the run fails, so a script always gets one object."""
    stage = exc.stage_state or ("nothing moved" if exc.exit_code == EXIT_BAD_INPUT else "")
    return json.dumps({"status": "error", "reason": str(exc), "stage": stage, "exit_code": exc.exit_code})


def run_cli(args: list[str]) -> int:
    """Parse and run; every failure becomes one line on stderr and its exit code."""
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
        code = command.main(args=args if is_subcommand else protect_negative_numbers(args),
                            prog_name="autofocus", standalone_mode=False)
    except typer.TyperException as exc:  # the CLI library's usage errors (bad number, missing argument)
        print(f"autofocus: error: {exc.format_message()}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (typer.Abort, KeyboardInterrupt):
        print("autofocus: interrupted", file=sys.stderr)
        return EXIT_HARDWARE
    except AutofocusError as exc:
        if "--json" in args and not is_subcommand:
            print(json_error(exc))
        print(f"autofocus: {'error: ' if exc.exit_code == EXIT_BAD_INPUT else ''}{exc.describe()}",
              file=sys.stderr)
        return exc.exit_code
    return code if isinstance(code, int) else EXIT_FOCUSED
