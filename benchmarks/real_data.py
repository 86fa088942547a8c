"""Accuracy on real recorded focus series (../shared/data/real, see its README).

1. Every data set through ``autofocus stack`` with default settings: known plane, found plane,
   error in planes.
2. Every data set replayed as a microscope (``autofocus.devices.replay``) and focused with the
   default live strategy: frames used, hardware time it would have cost, error in planes.
3. With ``--metrics``: the best plane each registered focus measure picks on each data set.

    python benchmarks/real_data.py [--data DIR] [--metrics]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"


@dataclass(frozen=True)
class DataSet:
    name: str
    file: str
    in_focus: tuple[int, ...]
    """Every plane the data's README calls in focus (some sets have two)."""

    def error(self, plane: float) -> float:
        """Distance in planes to the nearest in-focus plane."""
        return min(abs(plane - known) for known in self.in_focus)

    @property
    def known(self) -> str:
        return " or ".join(str(k) for k in self.in_focus)


DATASETS = (
    DataSet("zaber_tutorial", "zaber_tutorial/filtered_panel_stack.tif", (17,)),
    DataSet("lightsheet_mitochondria", "lightsheet_mitochondria/mitochondria_stack.tif", (19,)),
    DataSet("brightfield_cells_set1", "brightfield_cells_set1/set1_stack.tif", (2, 3)),
    DataSet("bead_psf", "bead_psf/BIL113_zstack_z300nm_current.tif", (9, 10)),
)


def run_stack_cli(path: Path, *extra: str) -> dict[str, Any]:
    """``autofocus stack PATH --json`` exactly as a user runs it, parsed."""
    from autofocus.cli import run_cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run_cli(["stack", str(path), "--json", *extra])
    if code not in (0, 1):
        raise RuntimeError(f"autofocus stack {path} failed with exit code {code}: {err.getvalue().strip()}")
    result: dict[str, Any] = json.loads(out.getvalue())
    return result


@dataclass(frozen=True)
class ReplayRun:
    status: str
    found_plane: float | None
    frames: int
    hardware_s: float
    reason: str


def replay_default(path: Path) -> ReplayRun:
    """Focus the replayed stack as the command line would a microscope: default strategy and
    mode, the whole recorded range, one plane per step."""
    from autofocus.devices.replay import open_replay
    from autofocus.readers import open_stack
    from autofocus.runner import AutofocusSettings, run_autofocus
    from autofocus.search import DEFAULT_STRATEGY
    from autofocus.stack import plane_at

    with open_stack(path) as stack:
        z = stack.z_um.copy()
        step = stack.z_step_um or 1.0
    with open_replay(path) as scope:
        lo, hi = scope.stage.limits_um
        settings = AutofocusSettings(start_um=lo, end_um=hi, step_um=step, strategy=DEFAULT_STRATEGY,
                                     mode="auto")
        result = run_autofocus(scope, settings)
    found = None if result.best_z_um is None else plane_at(z, result.best_z_um)
    return ReplayRun(result.status, found, result.frames, result.hardware_s, result.reason)


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A Markdown table (pastes into issues and READMEs as is)."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def stack_table(data: Path) -> tuple[str, bool]:
    rows, all_ok = [], True
    for ds in DATASETS:
        began = time.perf_counter()
        result = run_stack_cli(data / ds.file)
        seconds = time.perf_counter() - began
        found = result["best_index"]
        error = None if found is None else ds.error(found)
        all_ok &= error is not None and error <= 1
        rows.append([
            ds.name, result["dtype"], str(result["planes"]), ds.known,
            "-" if found is None else str(found),
            "-" if result["best_plane"] is None else f"{result['best_plane']:.2f}",
            "-" if error is None else f"{error:g}",
            f"{result['confidence']:.2f}", result["status"], result["metric"], f"{seconds:.1f}",
        ])
    headers = ["data set", "dtype", "planes", "known plane", "found plane", "fitted", "error (planes)",
               "confidence", "status", "metric", "time (s)"]
    return table(headers, rows), all_ok


def replay_table(data: Path) -> str:
    from autofocus.search import DEFAULT_STRATEGY

    rows = []
    for ds in DATASETS:
        run = replay_default(data / ds.file)
        found = run.found_plane
        rows.append([
            ds.name, DEFAULT_STRATEGY, ds.known, "-" if found is None else f"{found:.2f}",
            "-" if found is None else f"{ds.error(found):.2f}", str(run.frames),
            f"{run.hardware_s:.2f}", run.status if not run.reason else f"{run.status}: {run.reason}",
        ])
    headers = ["data set", "strategy", "known plane", "found plane", "error (planes)", "frames",
               "hardware (s)", "status"]
    return table(headers, rows)


def metrics_table(data: Path) -> str:
    """Error in planes of every focus measure's answer (``*`` = within one plane)."""
    from autofocus.metrics import METRICS

    rows = []
    for name in METRICS:
        cells = [name]
        for ds in DATASETS:
            result = run_stack_cli(data / ds.file, "--metric", name)
            found = result["best_index"]
            if found is None:
                cells.append(f"not found (sharpest {result['sharpest_index']})")
            else:
                error = ds.error(found)
                cells.append(f"{found} ({error:g}){' *' if error <= 1 else ''}")
        rows.append(cells)
    return table(["metric", *(f"{ds.name} [{ds.known}]" for ds in DATASETS)], rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of the real data sets")
    parser.add_argument("--metrics", action="store_true", help="also compare every focus measure")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"real data not found at {args.data}", file=sys.stderr)
        return 2
    stacks, all_ok = stack_table(args.data)
    print("## autofocus stack, default settings\n")
    print(stacks)
    print("\n## replayed through autofocus.devices.replay, default live strategy\n")
    print(replay_table(args.data))
    if args.metrics:
        print("\n## every focus measure (found plane, (error in planes), * = within one plane)\n")
        print(metrics_table(args.data))
    print(f"\ndefault settings within one plane on every data set: {'yes' if all_ok else 'NO'}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
