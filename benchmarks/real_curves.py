"""Every strategy on real recorded focus curves, replayed as plain ``score(z)`` callables.

The series: the 71 recorded focus curves of a whole-slide scanner (``wsi_focus_curves``: the
dataset authors' in-focus position ``pos_peak_idx`` is the truth), and the scores of the default
measure on every plane of the recorded stacks of ``../shared/data/real`` (their README's
in-focus planes are the truth). Each series is replayed as ``score(z)`` by linear interpolation
between positions, z in position units, step 1 position, range = the whole series, and given to
``find_focus`` with every strategy (the sweep is the reference). A plain callable has no coarse
score: the search sees one score only.

Per measure and strategy it prints: right (within 1 position of the truth), not found, wrong,
wrong with confidence >= 0.5, mean and max frames (the sweep takes one per position); then the
reliability table (confidence bins against the fraction right, over every focused answer), and
PASS/MISS lines for the acceptance targets of issue 11.

    python benchmarks/real_curves.py [--data DIR] [--no-stacks] [--measures M ...]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import itertools
import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autofocus.search import DEFAULT_STRATEGY, STRATEGIES, find_focus

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"
MEASURES = ("SQUARED_GRADIENT", "BRENNER")
STACKS = (  # the recorded stacks and their in-focus planes (as in benchmarks/real_data.py)
    ("zaber_tutorial", "zaber_tutorial/filtered_panel_stack.tif", (17,)),
    ("lightsheet_mitochondria", "lightsheet_mitochondria/mitochondria_stack.tif", (19,)),
    ("brightfield_cells_set1", "brightfield_cells_set1/set1_stack.tif", (2, 3)),
    ("bead_psf", "bead_psf/BIL113_zstack_z300nm_current.tif", (9, 10)),
)
BINS = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0001)
RIGHT_POSITIONS = 1.0


@dataclass(frozen=True)
class Series:
    name: str
    scores: np.ndarray
    truth: tuple[int, ...]

    def score(self) -> Callable[[float], float]:
        positions = np.arange(len(self.scores), dtype=float)
        return lambda z: float(np.interp(z, positions, self.scores))


@dataclass(frozen=True)
class Outcome:
    series: str
    strategy: str
    status: str
    error: float | None
    confidence: float
    frames: int
    reason_code: str

    @property
    def right(self) -> bool:
        return self.error is not None and self.error <= RIGHT_POSITIONS

    @property
    def wrong(self) -> bool:
        return self.status == "focused" and not self.right


def wsi_series(data: Path, measure: str) -> list[Series]:
    folder = data / "wsi_focus_curves"
    truth = {(r["version"], r["group"]): int(r["pos_peak_idx"])
             for r in csv.DictReader((folder / "groups.csv").open())}
    rows: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
    for version in ("v2019", "v2020"):
        with (folder / f"focus_curves_{version}.csv").open() as f:
            for r in csv.DictReader(f):
                rows[(version, r["group"])].append((int(r["pos_idx"]), float(r[measure])))
    series = []
    for key in sorted(rows, key=lambda k: (k[0], int(k[1].removeprefix("group")))):
        ordered = sorted(rows[key])
        series.append(Series(f"{key[0]}/{key[1]}", np.array([v for _, v in ordered]), (truth[key],)))
    return series


def stack_series(data: Path) -> list[Series]:
    """The default measure's score of every plane (as ``autofocus stack`` computes it)."""
    from autofocus.cli import run_cli

    series = []
    for name, file, in_focus in STACKS:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            run_cli(["stack", str(data / file), "--json"])
        series.append(Series(name, np.array(json.loads(out.getvalue())["scores"]), in_focus))
    return series


def run(series: Series, strategy: str) -> Outcome:
    hi = float(len(series.scores) - 1)
    result = find_focus(series.score(), 0.0, hi, 1.0, strategy)
    error = None
    if result.best_z_um is not None:
        error = min(abs(result.best_z_um - t) for t in series.truth)
    return Outcome(series.name, strategy, result.status, error, result.confidence, result.frames,
                   result.reason_code)


def strategy_rows(outcomes: list[Outcome], strategies: list[str]) -> list[list[str]]:
    sweep = [o for o in outcomes if o.strategy == "sweep"]
    sweep_frames = float(np.mean([o.frames for o in sweep])) if sweep else float("nan")
    rows = []
    for name in strategies:
        mine = [o for o in outcomes if o.strategy == name]
        frames = [o.frames for o in mine]
        rows.append([
            name, str(len(mine)), str(sum(o.right for o in mine)),
            str(sum(o.status != "focused" for o in mine)), str(sum(o.wrong for o in mine)),
            str(sum(o.wrong and o.confidence >= 0.5 for o in mine)),
            f"{np.mean(frames):.1f}", str(max(frames)), f"{100 * np.mean(frames) / sweep_frames:.0f} %",
        ])
    return rows


def reliability_rows(outcomes: list[Outcome]) -> list[list[str]]:
    focused = [o for o in outcomes if o.status == "focused"]
    rows = []
    for lo, hi in itertools.pairwise(BINS):
        inside = [o for o in focused if lo <= o.confidence < hi]
        share = f"{100 * np.mean([o.right for o in inside]):.1f} %" if inside else "-"
        rows.append([f"{lo:.2f}..{min(hi, 1.0):.2f}", str(len(inside)), share])
    return rows


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def verdict(ok: bool, text: str) -> str:
    return f"{'PASS' if ok else 'MISS'}  {text}"


def checks(outcomes: list[Outcome], measure: str) -> list[str]:
    def of(name: str) -> list[Outcome]:
        return [o for o in outcomes if o.strategy == name]

    sweep, default, continuous = of("sweep"), of(DEFAULT_STRATEGY), of("continuous")
    sweep_right = sum(o.right for o in sweep)
    sweep_frames = float(np.mean([o.frames for o in sweep]))
    lines = [
        verdict(sum(o.right for o in default) >= sweep_right - 2,
                f"{measure}: default right on >= sweep's right - 2 ({sweep_right - 2})"),
        verdict(not any(o.wrong and o.confidence >= 0.5 for o in default),
                f"{measure}: default never wrong at confidence >= 0.5"),
        verdict(float(np.mean([o.frames for o in default])) <= 0.45 * sweep_frames,
                f"{measure}: default mean frames <= 45 % of the sweep's"),
        verdict(not any(o.wrong and o.confidence >= 0.5 for o in continuous),
                f"{measure}: continuous never wrong at confidence >= 0.5"),
        verdict(all(o.frames <= sw.frames for o in outcomes for sw in sweep if sw.series == o.series),
                f"{measure}: no strategy takes more frames than the sweep on any series"),
    ]
    wrong_confident = [o for o in outcomes if o.wrong and o.confidence >= 0.5]
    lines.append(verdict(not wrong_confident, f"{measure}: every strategy's wrong answers have "
                                              f"confidence < 0.5 ({len(wrong_confident)} not)"))
    confident = [o for o in outcomes if o.status == "focused" and o.confidence >= 0.9]
    share = float(np.mean([o.right for o in confident])) if confident else 1.0
    lines.append(verdict(share >= 0.97, f"{measure}: confidence >= 0.9 right in >= 97 % "
                                        f"({100 * share:.1f} % of {len(confident)})"))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--measures", nargs="+", default=list(MEASURES))
    parser.add_argument("--strategies", nargs="+", default=["sweep", *sorted(set(STRATEGIES) - {"sweep"})])
    parser.add_argument("--no-stacks", action="store_true", help="the wsi curves only")
    parser.add_argument("--failures", action="store_true", help="list every answer that is not right")
    args = parser.parse_args(argv)
    if not (args.data / "wsi_focus_curves").is_dir():
        print(f"no real data at {args.data}", file=sys.stderr)
        return 2
    began = time.perf_counter()
    verdicts: list[str] = []
    everything: list[Outcome] = []
    for measure in args.measures:
        outcomes = [run(s, name) for s in wsi_series(args.data, measure) for name in args.strategies]
        everything += outcomes
        print(f"## wsi_focus_curves, {measure}: 71 series, 1 position per step\n")
        print(table(["strategy", "series", "right", "not found", "wrong", "wrong conf>=0.5",
                     "mean frames", "max frames", "vs sweep"], strategy_rows(outcomes, args.strategies)))
        print()
        verdicts += checks(outcomes, measure)
        if args.failures:
            for o in outcomes:
                if not o.right:
                    err = "-" if o.error is None else f"{o.error:.2f}"
                    print(f"  {o.strategy:15s} {o.series:12s} {o.status:9s} err {err:>6s} "
                          f"conf {o.confidence:.2f} frames {o.frames} {o.reason_code}")
            print()
    if not args.no_stacks:
        outcomes = [run(s, name) for s in stack_series(args.data) for name in args.strategies]
        everything += outcomes
        print("## recorded stacks of ../shared/data/real, default measure, 1 plane per step\n")
        rows = [[o.series, o.strategy, o.status, "-" if o.error is None else f"{o.error:.2f}",
                 f"{o.confidence:.2f}", str(o.frames), o.reason_code or "-"] for o in outcomes]
        print(table(["stack", "strategy", "status", "error (planes)", "confidence", "frames", "reason"],
                    rows))
        print()
        verdicts.append(verdict(not any(o.wrong and o.confidence >= 0.5 for o in outcomes),
                                "stacks: no strategy wrong at confidence >= 0.5"))
    print("## reliability: every focused answer above, by confidence\n")
    print(table(["confidence", "answers", "right"], reliability_rows(everything)))
    print()
    print("\n".join(verdicts))
    print(f"\nbenchmark wall time {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
