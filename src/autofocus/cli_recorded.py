"""Command-line jobs on recorded data: ``autofocus stack`` and ``autofocus score``.

Registered as subcommands by :mod:`autofocus.cli`; they follow its exit codes (0 focused, 1 focus
not found, 2 bad input) and print one line per failure through its error handling.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from autofocus.batch import DEFAULT_SCHEDULER, LOCAL_SCHEDULERS, FlagRule, MetricSpec, collect_files
from autofocus.batch import score_and_rank as run_batch
from autofocus.cli_checks import check_output_file, check_output_folder
from autofocus.cli_progress import progress_view
from autofocus.errors import EXIT_FOCUSED, EXIT_NOT_FOUND, InputError, OutputError
from autofocus.fieldtilt import parse_regions, stack_field_tilt
from autofocus.metrics import METRICS
from autofocus.modes import MODES, expect_for_mode, resolve_metric
from autofocus.report import write_stack_outputs
from autofocus.stack import StackResult, find_best_plane, output_stem

__all__ = [
    "describe_stack",
    "score",
    "stack",
]

MetricOption = Annotated[str | None, typer.Option(
    help=f"focus measure ({', '.join(METRICS)}); default: the mode's measure")]
ModeOption = Annotated[str, typer.Option(help=f"imaging mode: {', '.join(MODES)}")]
BlurOption = Annotated[int | None, typer.Option(
    help="median blur in pixels (odd, default 9) of the tutorial's measure; without --metric it selects "
    "that measure (laplacian)")]


def describe_stack(result: StackResult) -> str:
    if not result.focused or result.best_plane is None:
        return (f"{result.path}: focus not found: {result.reason} "
                f"(sharpest plane {result.sharpest_index} of {result.planes})")
    where = f"fitted plane {result.best_plane:.2f}"
    if result.best_z_um is not None:
        where += f", z {result.best_z_um:.4g} um"
    return (f"{result.path}: best plane {result.best_index} of {result.planes} ({where}), "
            f"confidence {result.confidence:.2f}, {result.metric}, {result.dtype}")


def stack(
    paths: Annotated[list[str], typer.Argument(
        help="multi-page TIFF/OME-TIFF files, folders of images, or quoted globs ('run1/*.png')")],
    z_step_um: Annotated[float | None, typer.Option(
        help="plane spacing in um (overrides the file's metadata)")] = None,
    metric: MetricOption = None,
    mode: ModeOption = "auto",
    blur: BlurOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object per stack")] = False,
    out: Annotated[Path | None, typer.Option(help="write each stack's curve plot (PNG) and scores (CSV) here")
                   ] = None,
    regions: Annotated[str | None, typer.Option(
        help="ROWSxCOLS: also give each region its best z and report the field's tilt")] = None,
    dof_um: Annotated[float | None, typer.Option(
        help="depth of field, um: warn when focus varies across the field by more")] = None,
) -> None:
    """Find the best-focused plane of recorded z-stacks. A folder or glob of single images is one
    stack, ordered by name. Exit code 0 when every stack has a trustworthy peak, 1 otherwise."""
    name = resolve_metric(metric, mode, blur)  # bad names fail before any file is read
    grid = parse_regions(regions) if regions is not None else None
    if out is not None:
        check_output_folder(out, "--out")
    code = EXIT_FOCUSED
    stems = unique_stems(paths)
    for path, stem in zip(paths, stems, strict=True):
        try:
            with progress_view(f"scoring {Path(path).name}", show_bar=sys.stderr.isatty()) as on_event:
                result = find_best_plane(path, z_step_um=z_step_um, metric=metric, mode=mode,
                                         blur=blur, on_event=on_event)
        except InputError as exc:
            if len(paths) == 1:
                raise
            # One unreadable stack must not cost the others their answer: say so, go on.
            print(f"autofocus: error: {exc}", file=sys.stderr)
            code = EXIT_NOT_FOUND
            continue
        if out is not None:
            for existing in (out / f"{stem}_curve.png", out / f"{stem}_scores.csv"):
                if existing.exists():
                    print(f"autofocus: replacing {existing}", file=sys.stderr)
            write_stack_outputs(result, out, stem)
        tilt = None if grid is None else stack_field_tilt(path, grid, z_step_um=z_step_um, metric=name,
                                                          dof_um=dof_um, expect=expect_for_mode(mode))
        text = (json.dumps(result.to_dict() | ({"field_tilt": tilt.to_dict()} if tilt else {}))
                if as_json else describe_stack(result) + (f"\n{tilt.describe()}" if tilt else ""))
        try:
            print(text, flush=True)
        except OSError as exc:
            raise OutputError(f"cannot write to standard output: {exc.strerror or exc}") from None
        if not result.focused:
            code = EXIT_NOT_FOUND
    raise typer.Exit(code)


def unique_stems(paths: list[str]) -> list[str]:
    """Output names, one per input: ``run1/stack.tif`` and ``run2/stack.tif`` must not write
    the same files, so a repeated name takes its folder's name in front (then a number)."""
    stems = [output_stem(path) for path in paths]
    result: list[str] = []
    for path, stem in zip(paths, stems, strict=True):
        if stems.count(stem) > 1:
            parent = output_stem(str(Path(path.rstrip("/\\")).parent.resolve()))
            stem = f"{parent}_{stem}"
        candidate, n = stem, 2
        while candidate in result:
            candidate, n = f"{stem}_{n}", n + 1
        result.append(candidate)
    return result


def score(
    paths: Annotated[list[str], typer.Argument(help="image files, folders (searched recursively) or globs")],
    metric: MetricOption = None,
    mode: ModeOption = "auto",
    blur: BlurOption = None,
    relative: Annotated[float, typer.Option(
        help="flag frames scoring below this fraction of the collection's median")] = 0.5,
    threshold: Annotated[float | None, typer.Option(
        help="flag frames scoring below this absolute score (instead of --relative)")] = None,
    per_plane: Annotated[bool, typer.Option(
        "--per-plane", help="rank every plane of multi-page files (default: a stack's best plane)")] = False,
    scheduler: Annotated[str, typer.Option(
        help=f"{', '.join(LOCAL_SCHEDULERS)} or a dask.distributed address (tcp://HOST:PORT)")
                         ] = DEFAULT_SCHEDULER,
    workers: Annotated[int | None, typer.Option(help="local workers (default: all cores)")] = None,
    chunk_size: Annotated[int, typer.Option(help="frames per Dask task")] = 4,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of CSV")] = False,
    out: Annotated[Path | None, typer.Option(help="write the results here (.json or .csv)")] = None,
) -> None:
    """Rank many images or stacks by focus quality and flag the out-of-focus ones, in parallel on
    Dask. Results (sharpest first) go to stdout as CSV or JSON, or to --out; a summary to stderr."""
    spec = MetricSpec(resolve_metric(metric, mode, blur), blur=blur)
    rule = FlagRule(relative=relative, absolute=threshold)
    if out is not None:  # before any file is scored: a batch can take hours
        check_output_file(out, "--out")
    sources = collect_files(paths)
    if not sources:
        raise InputError("no images found")
    with progress_view("scoring", show_bar=sys.stderr.isatty()) as on_event:
        report = run_batch(sources, spec, rule, scheduler=scheduler, workers=workers,
                           chunk_size=chunk_size, per_plane=per_plane, on_event=on_event)
    if len(report.errors) == len(report.rows):  # nothing to rank: not a result, a wrong input
        first = report.errors[0]
        raise InputError(f"none of the {len(report.rows)} file(s) could be read as images; "
                         f"the first: {first.error}")
    write = report.write_json if (out is not None and out.suffix.lower() == ".json") or (
        out is None and as_json) else report.write_csv
    if out is not None:
        try:
            with out.open("w", newline="") as handle:
                write(handle)
        except OSError as exc:
            raise OutputError(f"cannot write the results to {out}: {exc.strerror or exc}") from None
    else:
        try:
            write(sys.stdout)
            sys.stdout.flush()
        except OSError as exc:
            raise OutputError(f"cannot write to standard output: {exc.strerror or exc}") from None
    print(report.summary(), file=sys.stderr)
    raise typer.Exit(EXIT_FOCUSED)
