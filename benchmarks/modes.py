"""Which focus measure each imaging mode should use by default: every registered measure, measured.

For each imaging mode of :mod:`autofocus.modes` (``fluorescence``, ``brightfield`` for stained
specimens, ``transparent`` for unstained cells, and ``auto`` over all of them), every measure in
``autofocus.metrics.METRICS`` is forced as the fine measure and judged two ways:

- the real search: ``run_autofocus`` with the default strategy and the mode's curve shape on the
  simulated microscope (10x/20x/40x, random true foci, specimen seeds and brightness, 8-bit,
  512x512 frames), in the tutorial's usage (1 mm range, 10 um step, as ``benchmarks/search.py``);
  |error| median and p95 in um and in depth-of-field units, failures = not found or > 2 DOF off;
- the focus curves of the real recorded series that fit the mode (``../shared/data/real``),
  judged as ``autofocus stack`` judges them: failure = not found or more than one plane off.

A table per mode, then one line per mode: ``chosen: X (reason)``. The winner has the fewest
failures (simulated and real together), then the smallest p95 error in DOF, then the smallest
median. ``src/autofocus/modes.py`` holds these winners; ``tests/test_modes.py`` pins them.

Run: ``.venv/bin/python benchmarks/modes.py [--workers N] [--quick]`` (about 2-3 minutes).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autofocus.curve import FocusCurve
from autofocus.metrics import METRICS, make_metric
from autofocus.modes import expect_for_mode, metric_for_mode
from autofocus.readers import open_stack
from autofocus.runner import AutofocusSettings, run_autofocus
from autofocus.sim import SimConfig, SimulatedMicroscope
from autofocus.sim.camera import CameraSpec
from autofocus.stack import STACK_MIN_POINTS, plane_at

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The real data sets are defined once, in benchmarks/real_data.py.
from real_data import DATASETS, DEFAULT_DATA, DataSet

START_UM, END_UM, STEP_UM = 9_500.0, 10_500.0, 10.0
FRAME_PX = 512
OBJECTIVES = ("10x", "20x", "40x")
FOCI_PER_COMBINATION = 2
# Brightness (fraction of the full well) is drawn log-uniformly between the search benchmark's
# "dim" and "bright" levels, so each case has its own noise.
BRIGHTNESS = (0.04, 0.6)
WRONG_DOF = 2.0

MODE_SPECIMENS: dict[str, tuple[str, ...]] = {
    "fluorescence": ("fluorescent-cells", "beads"),
    "brightfield": ("stained-tissue", "reticle"),
    "transparent": ("transparent-cells",),
}
MODE_SPECIMENS["auto"] = tuple(s for specimens in MODE_SPECIMENS.values() for s in specimens)

# Real series per mode (names of benchmarks/real_data.py's DATASETS).
MODE_DATA: dict[str, tuple[str, ...]] = {
    "fluorescence": ("lightsheet_mitochondria", "bead_psf"),
    "brightfield": ("zaber_tutorial",),
    "transparent": ("brightfield_cells_set1",),
}
MODE_DATA["auto"] = tuple(name for names in MODE_DATA.values() for name in names)


@dataclass(frozen=True)
class Case:
    specimen: str
    objective: str
    true_focus_um: float
    seed: int
    brightness: float


@dataclass(frozen=True)
class Job:
    mode: str
    metric: str
    case: Case


@dataclass(frozen=True)
class Outcome:
    job: Job
    error_um: float | None
    dof_um: float


def sim_cases(specimens: tuple[str, ...], quick: bool, seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    found = []
    for specimen in specimens:
        for objective in OBJECTIVES:
            for _ in range(1 if quick else FOCI_PER_COMBINATION):
                focus = float(rng.uniform(START_UM + 50, END_UM - 50))
                brightness = float(np.exp(rng.uniform(*np.log(BRIGHTNESS))))
                found.append(Case(specimen, objective, focus, int(rng.integers(1000)), brightness))
    return found


def run_job(job: Job) -> Outcome:
    case = job.case
    config = SimConfig(specimen=case.specimen, objective=case.objective, seed=case.seed,
                       true_focus_um=case.true_focus_um, brightness=case.brightness,
                       camera=CameraSpec(width=FRAME_PX, height=FRAME_PX))
    sim = SimulatedMicroscope(config)
    settings = AutofocusSettings(START_UM, END_UM, STEP_UM, metric=job.metric, mode=job.mode)
    result = run_autofocus(sim.devices(), settings)
    error = None if result.best_z_um is None else abs(result.best_z_um - case.true_focus_um)
    return Outcome(job, error, sim.depth_of_field_um())


def real_errors(data: Path, mode: str) -> dict[str, dict[str, float | None]]:
    """metric -> data set -> error in planes of the stack analysis (None: not found)."""
    errors: dict[str, dict[str, float | None]] = {name: {} for name in METRICS}
    sets: list[DataSet] = [ds for ds in DATASETS if ds.name in MODE_DATA[mode]]
    for ds in sets:
        with open_stack(data / ds.file) as stack:
            planes = list(stack.planes())
            for name in METRICS:
                score = make_metric(name)
                curve = FocusCurve()
                for index, frame in enumerate(planes):
                    curve.add(float(stack.z_um[index]), score(frame))
                try:
                    peak = curve.locate_peak(expect=expect_for_mode(mode), min_points=STACK_MIN_POINTS)
                    errors[name][ds.name] = ds.error(round(plane_at(stack.z_um, peak.z_um)))
                except Exception:  # FocusNotFound: the curve gives no answer
                    errors[name][ds.name] = None
    return errors


@dataclass
class Row:
    metric: str
    errors_um: list[float] = field(default_factory=list)
    errors_dof: list[float] = field(default_factory=list)
    not_found: int = 0
    wrong: int = 0
    real: dict[str, float | None] = field(default_factory=dict)

    @property
    def real_failures(self) -> int:
        return sum(e is None or e > 1 for e in self.real.values())

    @property
    def failures(self) -> int:
        return self.not_found + self.wrong + self.real_failures

    def p(self, q: float) -> float:
        return float(np.percentile(self.errors_dof, q)) if self.errors_dof else math.inf

    def rank(self) -> tuple[int, float, float]:
        return (self.failures, round(self.p(95), 3), round(self.p(50), 3))


def rows_for(mode: str, outcomes: list[Outcome], real: dict[str, dict[str, float | None]]) -> list[Row]:
    rows = {name: Row(name, real=real[name]) for name in METRICS}
    for o in outcomes:
        if o.job.mode != mode:
            continue
        row = rows[o.job.metric]
        if o.error_um is None:
            row.not_found += 1
            continue
        row.errors_um.append(o.error_um)
        row.errors_dof.append(o.error_um / o.dof_um)
        row.wrong += o.error_um > WRONG_DOF * o.dof_um
    return sorted(rows.values(), key=Row.rank)


def real_cell(error: float | None) -> str:
    return "nf" if error is None else f"{error:g}"


def print_mode(mode: str, rows: list[Row], n_cases: int) -> None:
    sets = list(rows[0].real)
    print(f"\n## {mode}: {', '.join(MODE_SPECIMENS[mode])} ({n_cases} simulated cases); "
          f"real: {', '.join(sets)} (error in planes, nf = not found)")
    header = (f"{'metric':<20}{'med um':>8}{'p95 um':>8}{'med DOF':>8}{'p95 DOF':>8}"
              f"{'not fnd':>8}{'wrong':>6}" + "".join(f"{s[:14]:>15}" for s in sets) + f"{'failures':>9}")
    print(header)
    print("-" * len(header))
    for row in rows:
        um = np.percentile(row.errors_um, [50, 95]) if row.errors_um else (math.nan, math.nan)
        print(f"{row.metric:<20}{um[0]:8.2f}{um[1]:8.2f}{row.p(50):8.3f}{row.p(95):8.3f}"
              f"{row.not_found:8d}{row.wrong:6d}"
              + "".join(f"{real_cell(row.real[s]):>15}" for s in sets) + f"{row.failures:9d}")


def reason(rows: list[Row]) -> str:
    best, runner_up = rows[0], rows[1]
    text = (f"{best.failures} failures, p95 {best.p(95):.3f} DOF, median {best.p(50):.3f} DOF; "
            f"next {runner_up.metric}: {runner_up.failures} failures, p95 {runner_up.p(95):.3f} DOF")
    return text


# A measure replaces the mode's current default only when it is clearly better: fewer
# failures, or a p95 error lower by more than this fraction (a median 0.001 DOF apart is noise).
CLEARLY_BETTER = 0.2


def choose(mode: str, rows: list[Row]) -> tuple[str, str]:
    """The mode's measure: the best-ranked one, unless the current default is as good within
    ``CLEARLY_BETTER`` (then it is kept, and the line says so)."""
    best = rows[0]
    current = next((r for r in rows if r.metric == metric_for_mode(mode)), best)
    if current is not best and current.failures == best.failures and (
            current.p(95) <= (1 + CLEARLY_BETTER) * best.p(95)):
        return current.metric, (f"kept: {best.metric} ranks first but is not clearly better; "
                                + reason([current, best]))
    return best.metric, reason(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="one focus per specimen and objective")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of the real data sets")
    parser.add_argument("--modes", default=",".join(MODE_SPECIMENS))
    args = parser.parse_args()
    began = time.perf_counter()
    modes = args.modes.split(",")
    cases = {mode: sim_cases(MODE_SPECIMENS[mode], args.quick, seed=7) for mode in modes}
    jobs = [Job(mode, name, case) for mode in modes for case in cases[mode] for name in METRICS]
    with ProcessPoolExecutor(args.workers) as pool:
        outcomes = list(pool.map(run_job, jobs, chunksize=2))
    have_data = args.data.is_dir()
    if not have_data:
        print(f"real data not found at {args.data}: simulated cases only", file=sys.stderr)
    chosen = {}
    for mode in modes:
        real = real_errors(args.data, mode) if have_data else {name: {} for name in METRICS}
        rows = rows_for(mode, outcomes, real)
        print_mode(mode, rows, len(cases[mode]))
        chosen[mode] = choose(mode, rows)
    print()
    for mode, (name, why) in chosen.items():
        print(f"{mode}: chosen: {name} ({why})")
    print(f"\nrange {START_UM / 1000:g}..{END_UM / 1000:g} mm, step {STEP_UM:g} um, default strategy, "
          f"{FRAME_PX}x{FRAME_PX} 8-bit frames; failures = not found + wrong (> {WRONG_DOF:g} DOF) "
          f"+ real series not found or > 1 plane off; wall time {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
