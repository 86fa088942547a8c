"""Search strategies on the simulated microscope, in the tutorial's usage: 1 mm range, 10 um step.

For every strategy, and for two reference methods reimplemented here, it runs the same cases
(specimen x objective x noise level x random true focus, plus empty fields) through
``run_autofocus`` and prints: median and 95th-percentile |error| in um and in depth-of-field
units, frames, hardware seconds (the simulator's virtual clock), compute seconds, failures.

References (reimplemented from their descriptions, not their code):
- ``oughtafocus``: Micro-Manager's OughtaFocus: a bounded Brent search of the fine score over
  the range, absolute tolerance 1 um (its default), no confidence checks.
- ``scan-gauss``: the step scan of the best open Python controllers: 11 evenly spaced frames, a
  Gaussian fit, "not found" when the curve is flat or peaks at an edge.

Run: ``.venv/bin/python benchmarks/search.py [--quick] [--workers N]``.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from autofocus.curve import Peak
from autofocus.errors import FocusNotFound
from autofocus.runner import AutofocusSettings, run_autofocus
from autofocus.search import STRATEGIES, Probe, SearchSpace
from autofocus.sim import SimConfig, SimulatedMicroscope
from autofocus.sim.camera import CameraSpec

START_UM, END_UM, STEP_UM = 9_500.0, 10_500.0, 10.0
FRAME_PX = 512  # a 512x512 crop of the 1920x1200 sensor keeps rendering fast on 2 cores
SPECIMENS = ("fluorescent-cells", "beads", "stained-tissue")
OBJECTIVES = ("10x", "20x", "40x")
NOISE = {"bright": 0.6, "dim": 0.04}  # mean signal as a fraction of the full well
FOCI_PER_COMBINATION = 2
EMPTY_SEEDS = 2


def oughtafocus(probe: Probe, space: SearchSpace) -> Peak:
    """Brent on the fine score over the whole range, 1 um tolerance, best point wins."""
    result = optimize.minimize_scalar(lambda z: -probe.sample(space.clamp(z)),
                                      bounds=(space.lo_um, space.hi_um), method="bounded",
                                      options={"xatol": 1.0})
    return Peak(float(result.x), -float(result.fun), 1.0, "brent")


def scan_gauss(probe: Probe, space: SearchSpace) -> Peak:
    """11-frame scan, Gaussian fit, flat and edge checks."""
    z = np.linspace(space.lo_um, space.hi_um, 11)
    scores = np.array([probe.sample(float(v)) for v in z])
    if scores.max() - scores.min() < 0.05 * abs(scores.min()) + 1e-12:
        raise FocusNotFound("flat")
    best = int(np.argmax(scores))
    if best in (0, len(z) - 1):
        raise FocusNotFound("edge")

    def gauss(x: np.ndarray, a: float, mu: float, sigma: float, c: float) -> np.ndarray:
        return a * np.exp(-0.5 * ((x - mu) / sigma) ** 2) + c

    try:
        params, _ = optimize.curve_fit(
            gauss, z, scores, p0=(scores.max() - scores.min(), z[best], 100.0, scores.min()),
            maxfev=2000)
        mu = float(params[1])
    except RuntimeError:
        mu = float(z[best])
    if not space.lo_um <= mu <= space.hi_um:
        mu = float(z[best])
    return Peak(mu, float(scores[best]), 1.0, "gauss")


REFERENCES: dict[str, Callable[[Probe, SearchSpace], Peak]] = {
    "oughtafocus": oughtafocus,
    "scan-gauss": scan_gauss,
}
# brent refines around where the stage starts. From the range's lower end (the stage's start in
# every other row) focus is out of its window and "not found" is its right answer; the extra row
# starts it within NEAR_FOCUS_UM of focus, the refocusing it is for.
NEAR_BRENT = "brent (start near focus)"
NEAR_FOCUS_UM = 20.0
METHODS = ("sweep", "coarse-to-fine", "continuous", "brent", NEAR_BRENT, "oughtafocus", "scan-gauss")


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
    reason: str = ""


def cases(quick: bool) -> list[Case]:
    rng = np.random.default_rng(2024)
    found: list[Case] = []
    seed = 0
    for specimen in SPECIMENS:
        for objective in OBJECTIVES:
            for noise in NOISE:
                for _ in range(1 if quick else FOCI_PER_COMBINATION):
                    seed += 1
                    focus = float(rng.uniform(START_UM + 50, END_UM - 50))
                    found.append(Case(specimen, objective, noise, focus, seed))
    for objective in OBJECTIVES:
        for noise in NOISE:
            for _ in range(1 if quick else EMPTY_SEEDS):
                seed += 1
                found.append(Case("empty", objective, noise, 10_000.0, seed))
    return found


def run_case(job: tuple[str, Case]) -> Outcome:
    method, case = job
    STRATEGIES.update(REFERENCES)  # each worker process registers the references for itself
    start = SimConfig().start_um
    if method == NEAR_BRENT:
        offset = np.random.default_rng(case.seed).uniform(-NEAR_FOCUS_UM, NEAR_FOCUS_UM)
        start = case.true_focus_um + float(offset)
    config = SimConfig(specimen=case.specimen, objective=case.objective, seed=case.seed,
                       true_focus_um=case.true_focus_um, brightness=NOISE[case.noise],
                       camera=CameraSpec(width=FRAME_PX, height=FRAME_PX), start_um=start)
    sim = SimulatedMicroscope(config)
    strategy = "brent" if method == NEAR_BRENT else method
    settings = AutofocusSettings(START_UM, END_UM, STEP_UM, strategy=strategy)
    began = time.perf_counter()
    result = run_autofocus(sim.devices(), settings)
    wall = time.perf_counter() - began
    error = None if result.best_z_um is None else abs(result.best_z_um - case.true_focus_um)
    # compute_s: the strategy's own time (fitting, bookkeeping) plus scoring, not rendering.
    del wall
    return Outcome(method, case, error, sim.depth_of_field_um(), result.frames, result.hardware_s,
                   result.compute_s, result.reason)


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


def summarise(outcomes: list[Outcome]) -> dict[str, Row]:
    rows = {m: Row(m) for m in METHODS}
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


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else math.nan


def print_table(rows: dict[str, Row], n_cases: int, n_empty: int) -> None:
    print(f"\n{n_cases} specimen cases + {n_empty} empty fields; range {START_UM / 1000:g}.."
          f"{END_UM / 1000:g} mm, step {STEP_UM:g} um; {FRAME_PX}x{FRAME_PX} crop of the sensor, "
          "8-bit; errors over found cases; 'not found' and 'wrong' (> 2 DOF) count failures")
    header = (f"{'method':<25}{'med um':>8}{'p95 um':>8}{'med DOF':>8}{'p95 DOF':>8}{'frames':>8}"
              f"{'hw s':>7}{'cpu s':>7}{'not fnd':>8}{'wrong':>6}{'empty->nf':>10}")
    print(header)
    print("-" * len(header))
    for row in rows.values():
        print(f"{row.method:<25}{pct(row.errors_um, 50):8.2f}{pct(row.errors_um, 95):8.2f}"
              f"{pct(row.errors_dof, 50):8.3f}{pct(row.errors_dof, 95):8.3f}"
              f"{np.median(row.frames):8.0f}{np.median(row.hardware_s):7.2f}"
              f"{np.median(row.compute_s):7.3f}{row.not_found:8d}{row.wrong:6d}"
              f"{row.empty_ok:>6d}/{row.empty_total:<3d}")


def check_targets(rows: dict[str, Row]) -> None:
    sweep, default, cont = rows["sweep"], rows["coarse-to-fine"], rows["continuous"]
    sweep_frames, sweep_hw = float(np.median(sweep.frames)), float(np.median(sweep.hardware_s))
    checks = [
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
    print()
    for name, ok in checks:
        print(f"{'PASS' if ok else 'MISS'}  {name}")
    print("\nnote: beads at 40x/0.75 and 10 grey levels ('dim') stand out of the noise only within "
          "about +-3 um of focus (band-pass SNR 57 at 2 um, 2 at 4 um on a 4x4-binned frame), "
          "narrower than the user's 10 um step: even the 101-frame sweep can step over them, and "
          "any search with a third of its frames finds them only when a frame happens to fall "
          "that close.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one focus per combination")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated")
    parser.add_argument("--details", action="store_true", help="print every failure")
    parser.add_argument("--all", action="store_true", help="print every case")
    args = parser.parse_args()
    all_cases = cases(args.quick)
    methods = args.methods.split(",")
    jobs = [(m, c) for m in methods for c in all_cases]
    began = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        outcomes = list(pool.map(run_case, jobs, chunksize=4))
    rows = summarise(outcomes)
    rows = {m: r for m, r in rows.items() if m in methods}
    n_empty = sum(c.specimen == "empty" for c in all_cases)
    print_table(rows, len(all_cases) - n_empty, n_empty)
    if {"sweep", "coarse-to-fine", "continuous"} <= set(methods):
        check_targets(rows)
    if args.details:
        for o in outcomes:
            bad = (o.case.specimen == "empty") != (o.error_um is None) or (
                o.error_um is not None and o.error_um > 0.25 * o.dof_um)
            if bad or args.all:
                err = "not found" if o.error_um is None else f"{o.error_um:.2f} um"
                print(f"{o.method:<25}{o.case.specimen:<18}{o.case.objective:<5}{o.case.noise:<7}"
                      f"{err:>10}  dof {o.dof_um:.2f}  frames {o.frames}  hw {o.hardware_s:.2f}  "
                      f"{o.reason}")
    print(f"\nbenchmark wall time {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
