"""Search strategies on the simulated microscope, in the tutorial's usage: 1 mm range, 10 um step.

For every strategy, and for reference methods of other projects run as their users run them, it
runs the same cases (specimen x objective x noise level x random true focus, plus empty fields)
on the live simulated microscope and prints: median and 95th-percentile |error| in um and in
depth-of-field units, frames, hardware seconds (the simulator's virtual clock), compute
seconds, failures; then the reliability of each method's confidence (confidence bins against
the fraction within 1 DOF), the targets as PASS/MISS lines, a small second table of the
harder slides (two layers; spherical aberration; see ``benchmarks/layered.py``), and ``wall_s``
of the default search on full frames with the scoring pipeline off and on
(``benchmarks/wall_time.py``).

Our strategies run through ``run_autofocus`` from the stage's start below the range (``brent``,
a local method, also from within 20 um of focus). The references (``benchmarks/references.py``,
each with its own defaults and measure) start where their users start them: OughtaFocus within
5 um of focus, ImSwitch and OpenFlexure within 20 um; the global row (ImSwitch's scan stretched
over the whole range) is labelled as such. The references report no confidence: every answer
of theirs counts as confidence 1.0 (they claim focus).

Run: ``.venv/bin/python benchmarks/search.py [--quick] [--workers N]``; ``--quick`` (about a
minute on two free cores) runs six of the bright specimen cases (every specimen and every
objective appear), two empty fields and one slide of each harder kind.
"""

from __future__ import annotations

import argparse
import math
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from autofocus.runner import AutofocusSettings, run_autofocus
from autofocus.sim import SimConfig, SimulatedMicroscope
from autofocus.sim.camera import CameraSpec
from autofocus.space import SearchSpace
from layered import (
    ABERRATED_METHODS,
    LAYER_METHODS,
    SpecialCase,
    SpecialOutcome,
    print_special,
    run_special,
    special_cases,
)
from references import REFERENCES, run_reference
from reliability import Answer
from reliability import print_table as print_reliability
from reliability import targets as reliability_targets
from wall_time import print_wall_table

START_UM, END_UM, STEP_UM = 9_500.0, 10_500.0, 10.0
FRAME_PX = 512  # a 512x512 crop of the sensor keeps rendering fast on 2 cores
SPECIMENS = ("fluorescent-cells", "beads", "stained-tissue")
OBJECTIVES = ("10x", "20x", "40x")
NOISE = {"bright": 0.6, "dim": 0.04}  # mean signal as a fraction of the full well
FOCI_PER_COMBINATION = 2
EMPTY_SEEDS = 2

# brent refines around where the stage starts. From the range's lower end (the stage's start in
# every other row of ours) focus is out of its window and "not found" is its right answer; the
# extra row starts it within NEAR_FOCUS_UM of focus, the refocusing it is for.
NEAR_BRENT = "brent (start near focus)"
NEAR_FOCUS_UM = 20.0
STRATEGY_METHODS = ("sweep", "coarse-to-fine", "continuous", "brent", NEAR_BRENT)
METHODS = STRATEGY_METHODS + tuple(REFERENCES)


def label(method: str) -> str:
    return REFERENCES[method].label if method in REFERENCES else method


@dataclass(frozen=True)
class Case:
    specimen: str
    objective: str
    noise: str
    true_focus_um: float
    seed: int


@dataclass
class Outcome:
    method: str
    case: Case
    error_um: float | None
    dof_um: float
    frames: int
    hardware_s: float
    compute_s: float
    confidence: float = 0.0
    reason: str = ""


QUICK_COMBINATIONS = {("fluorescent-cells", "20x"), ("fluorescent-cells", "40x"), ("beads", "10x"),
                      ("beads", "40x"), ("stained-tissue", "10x"), ("stained-tissue", "20x")}
QUICK_EMPTY = ("10x", "40x")


def cases(quick: bool) -> list[Case]:
    """The full set; ``quick`` keeps the same draws (so the same foci) for a subset: six
    specimen/objective pairs covering every specimen and objective, bright, two empty fields."""
    rng = np.random.default_rng(2024)
    found: list[Case] = []
    seed = 0
    for specimen in SPECIMENS:
        for objective in OBJECTIVES:
            for noise in NOISE:
                for repeat in range(FOCI_PER_COMBINATION):
                    seed += 1
                    focus = float(rng.uniform(START_UM + 50, END_UM - 50))
                    if not quick or ((specimen, objective) in QUICK_COMBINATIONS
                                     and noise == "bright" and repeat == 0):
                        found.append(Case(specimen, objective, noise, focus, seed))
    for objective in OBJECTIVES:
        for noise in NOISE:
            for repeat in range(EMPTY_SEEDS):
                seed += 1
                if not quick or (objective in QUICK_EMPTY and noise == "bright" and repeat == 0):
                    found.append(Case("empty", objective, noise, 10_000.0, seed))
    return found


def start_for(method: str, case: Case) -> float:
    """Where the stage is when the method starts: below the range for global methods, near
    focus (uniformly within the method's own window) for local ones, as their users start."""
    within = NEAR_FOCUS_UM if method == NEAR_BRENT else None
    if method in REFERENCES:
        within = REFERENCES[method].start_within_um
    if within is None:
        return SimConfig().start_um if method not in REFERENCES else 0.5 * (START_UM + END_UM)
    offset = np.random.default_rng([case.seed, len(method)]).uniform(-within, within)
    return case.true_focus_um + float(offset)


def run_case(job: tuple[str, Case]) -> Outcome:
    method, case = job
    start = start_for(method, case)
    config = SimConfig(specimen=case.specimen, objective=case.objective, seed=case.seed,
                       true_focus_um=case.true_focus_um, brightness=NOISE[case.noise],
                       camera=CameraSpec(width=FRAME_PX, height=FRAME_PX), start_um=start)
    sim = SimulatedMicroscope(config)
    dof = sim.depth_of_field_um()
    if method in REFERENCES:
        began = time.perf_counter()
        space = SearchSpace(START_UM, END_UM, STEP_UM, min(max(start, START_UM), END_UM))
        ref = run_reference(method, sim.devices(), space)
        compute = time.perf_counter() - began  # includes rendering: an upper bound
        error = None if ref.z_um is None else abs(ref.z_um - case.true_focus_um)
        return Outcome(method, case, error, dof, ref.frames, ref.hardware_s, compute,
                       ref.confidence, ref.reason)
    strategy = "brent" if method == NEAR_BRENT else method
    result = run_autofocus(sim.devices(), AutofocusSettings(START_UM, END_UM, STEP_UM,
                                                            strategy=strategy))
    error = None if result.best_z_um is None else abs(result.best_z_um - case.true_focus_um)
    # compute_s: the strategy's own time (fitting, bookkeeping) plus scoring, not rendering.
    return Outcome(method, case, error, dof, result.frames, result.hardware_s, result.compute_s,
                   float(result.confidence), result.reason)


def run_special_job(job: tuple[str, SpecialCase]) -> SpecialOutcome:
    method, case = job
    return run_special(method, case, START_UM, END_UM, STEP_UM, FRAME_PX, NEAR_FOCUS_UM)


@dataclass
class Row:
    method: str
    errors_um: list[float] = field(default_factory=list)
    errors_dof: list[float] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    hardware_s: list[float] = field(default_factory=list)
    compute_s: list[float] = field(default_factory=list)
    not_found: int = 0
    wrong: int = 0
    empty_ok: int = 0
    empty_total: int = 0


def summarise(outcomes: list[Outcome], methods: list[str]) -> dict[str, Row]:
    rows = {m: Row(m) for m in methods}
    for o in outcomes:
        row = rows[o.method]
        if o.case.specimen == "empty":
            row.empty_total += 1
            row.empty_ok += o.error_um is None
            continue
        row.frames.append(o.frames)
        row.hardware_s.append(o.hardware_s)
        row.compute_s.append(o.compute_s)
        if o.error_um is None:
            row.not_found += 1
            continue
        row.errors_um.append(o.error_um)
        row.errors_dof.append(o.error_um / o.dof_um)
        row.wrong += o.error_um > 2 * o.dof_um
    return rows


def answers(outcomes: list[Outcome], specials: list[SpecialOutcome],
            methods: list[str]) -> dict[str, list[Answer]]:
    """Every focused answer with its confidence and whether it lies within 1 DOF (a focused
    answer on an empty field is wrong; on a two-layer slide only the section is right)."""
    found: dict[str, list[Answer]] = {label(m): [] for m in methods}
    for o in outcomes:
        if o.error_um is not None:
            right = o.case.specimen != "empty" and o.error_um <= o.dof_um
            found[label(o.method)].append(Answer(o.confidence, right))
    for s in specials:
        if s.z_um is not None and label(s.method) in found:
            found[label(s.method)].append(Answer(s.confidence, s.right))
    return found


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else math.nan


def print_table(rows: dict[str, Row], n_cases: int, n_empty: int) -> None:
    print(f"\n{n_cases} specimen cases + {n_empty} empty fields; range {START_UM / 1000:g}.."
          f"{END_UM / 1000:g} mm, step {STEP_UM:g} um; {FRAME_PX}x{FRAME_PX} crop of the sensor, "
          "8-bit; errors over found cases; 'not found' and 'wrong' (> 2 DOF) count failures")
    header = (f"{'method':<46}{'med um':>8}{'p95 um':>8}{'med DOF':>8}{'p95 DOF':>8}"
              f"{'frames':>7}{'hw s':>6}{'cpu s':>7}{'not fnd':>8}{'wrong':>6}{'empty->nf':>10}")
    print(header)
    print("-" * len(header))
    for row in rows.values():
        print(f"{label(row.method):<46}{pct(row.errors_um, 50):8.2f}{pct(row.errors_um, 95):8.2f}"
              f"{pct(row.errors_dof, 50):8.3f}{pct(row.errors_dof, 95):8.3f}"
              f"{np.median(row.frames):7.0f}{np.median(row.hardware_s):6.2f}"
              f"{np.median(row.compute_s):7.3f}{row.not_found:8d}{row.wrong:6d}"
              f"{row.empty_ok:>6d}/{row.empty_total:<3d}")


def check_targets(rows: dict[str, Row]) -> list[tuple[str, bool]]:
    sweep, default, cont = rows["sweep"], rows["coarse-to-fine"], rows["continuous"]
    sweep_frames, sweep_hw = float(np.median(sweep.frames)), float(np.median(sweep.hardware_s))
    return [
        ("default median |error| <= 1/8 DOF", pct(default.errors_dof, 50) <= 0.125),
        ("default p95 |error| <= 1/4 DOF", pct(default.errors_dof, 95) <= 0.25),
        ("default frames <= 1/3 sweep", np.median(default.frames) <= sweep_frames / 3),
        ("default hardware <= 1/4 sweep", np.median(default.hardware_s) <= sweep_hw / 4),
        ("default: every empty field not found", default.empty_ok == default.empty_total),
        ("default: no failures on specimens", default.not_found + default.wrong == 0),
        ("continuous hardware <= 1/5 sweep", np.median(cont.hardware_s) <= sweep_hw / 5),
        ("continuous median <= 1/8 DOF, p95 <= 1/4 DOF",
         pct(cont.errors_dof, 50) <= 0.125 and pct(cont.errors_dof, 95) <= 0.25),
    ]


def print_details(outcomes: list[Outcome], specials: list[SpecialOutcome], every: bool) -> None:
    for o in outcomes:
        bad = (o.case.specimen == "empty") != (o.error_um is None) or (
            o.error_um is not None and o.error_um > 0.25 * o.dof_um)
        if bad or every:
            err = "not found" if o.error_um is None else f"{o.error_um:.2f} um"
            print(f"{label(o.method):<46}{o.case.specimen:<18}{o.case.objective:<5}"
                  f"{o.case.noise:<7}{err:>10}  dof {o.dof_um:.2f}  frames {o.frames}  "
                  f"conf {o.confidence:.2f}  {o.reason}")
    for s in specials:
        if every or not s.ok:
            z = "not found" if s.z_um is None else f"{s.z_um:.2f}"
            print(f"{s.method:<28}{s.case.kind:<10}{s.case.specimen:<18}{s.case.objective:<5}"
                  f"{s.case.detail:>7g}  truth {', '.join(f'{t:.2f}' for t in s.truth_um)}  "
                  f"answer {z}  {s.verdict}  conf {s.confidence:.2f}  {s.reason}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="about a minute: 6 specimen cases, 2 empty fields, 2 harder slides")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated")
    parser.add_argument("--no-special", action="store_true", help="skip the harder slides")
    parser.add_argument("--details", action="store_true", help="print every failure")
    parser.add_argument("--all", action="store_true", help="print every case")
    args = parser.parse_args()
    all_cases = cases(args.quick)
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown methods: {', '.join(unknown)}")
    jobs = [(m, c) for m in methods for c in all_cases]
    specials_todo = [] if args.no_special else special_cases(args.quick, START_UM, END_UM)
    special_jobs = [(m, c) for c in specials_todo
                    for m in (LAYER_METHODS if c.kind == "two-layer" else ABERRATED_METHODS)
                    if m in methods]
    began = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        outcomes = list(pool.map(run_case, jobs, chunksize=2))
        specials = list(pool.map(run_special_job, special_jobs, chunksize=1))
    rows = summarise(outcomes, methods)
    n_empty = sum(c.specimen == "empty" for c in all_cases)
    print_table(rows, len(all_cases) - n_empty, n_empty)
    checks: list[tuple[str, bool]] = []
    if {"sweep", "coarse-to-fine", "continuous"} <= set(methods):
        checks += check_targets(rows)
    checks += print_special(specials)
    per_method = answers(outcomes, specials, methods)
    print_reliability(per_method, "within 1 DOF; a focused empty field is wrong; references "
                      "report no confidence, so theirs is 1.0")
    for method in methods:
        if method in STRATEGY_METHODS:
            checks += reliability_targets(method, per_method[label(method)])
    print()
    for name, ok in checks:
        print(f"{'PASS' if ok else 'MISS'}  {name}")
    print("\nnote: beads at 40x/0.75 and 10 grey levels ('dim') stand out of the noise only within "
          "about +-3 um of focus (band-pass SNR 57 at 2 um, 2 at 4 um on a 4x4-binned frame), "
          "narrower than the user's 10 um step: even the 101-frame sweep can step over them, and "
          "any search with a third of its frames finds them only when a frame happens to fall "
          "that close.")
    if args.details or args.all:
        print_details(outcomes, specials, args.all)
    if not args.quick:
        # The rows above are on the hardware's clock (reproducible); what a real run takes on
        # full frames, with the scoring waited for, pipeline off and on (benchmarks/wall_time.py):
        print()
        print_wall_table()
    print(f"\nbenchmark wall time {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
