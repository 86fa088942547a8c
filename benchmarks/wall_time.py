"""What a real run takes: ``wall_s`` beside ``hardware_s`` and ``compute_s`` of the default
search on full 1920x1200 frames, with the scoring pipeline off and on.

Without the pipeline each streamed frame is scored before the next is grabbed, so a scorer
slower than the frame period spaces the frames further apart and the run waits; with it frame n
is scored while frame n+1 is exposed (``autofocus.pipeline``). Stepped frames are always scored
before the next move: the strategy needs the score to choose it.

``hw s``: the simulator's virtual clock less the waits for computing; ``wall s``: the clock with
them (measured scoring and strategy time on this machine); ``cpu s``: all computing.

Run: ``.venv/bin/python benchmarks/wall_time.py [--cases N]``.
"""

from __future__ import annotations

import argparse

import numpy as np

from autofocus.runner import AutofocusSettings, run_autofocus
from autofocus.sim import SimConfig, SimulatedMicroscope

SPECIMENS = ("fluorescent-cells", "stained-tissue", "beads")


def print_wall_table(cases: int = 3, strategy: str = "coarse-to-fine") -> None:
    """The table: medians over ``cases`` full-frame runs, pipeline off and on."""
    rng = np.random.default_rng(5)
    foci = [float(rng.uniform(9_600, 10_400)) for _ in range(cases)]
    print(f"{strategy} on full 1920x1200 frames, 1 mm range, 10 um step, {cases} cases; medians")
    header = (f"{'pipeline':<10}{'frames':>7}{'hw s':>8}{'wall s':>8}{'cpu s':>8}"
              f"{'wall/hw':>9}{'max err um':>11}")
    print(header)
    print("-" * len(header))
    for pipeline in (False, True):
        rows = []
        for i, focus in enumerate(foci):
            sim = SimulatedMicroscope(SimConfig(specimen=SPECIMENS[i % len(SPECIMENS)], seed=i,
                                                true_focus_um=focus))
            settings = AutofocusSettings(9_500, 10_500, 10, strategy=strategy,
                                         pipeline=pipeline, compute_waits=True)
            r = run_autofocus(sim.devices(), settings)
            err = abs(r.best_z_um - focus) if r.best_z_um is not None else np.inf
            rows.append((r.frames, r.hardware_s, r.wall_s, r.compute_s, err))
        a = np.array(rows)
        med = np.median(a, axis=0)
        print(f"{'on' if pipeline else 'off':<10}{med[0]:7.0f}{med[1]:8.3f}{med[2]:8.3f}{med[3]:8.3f}"
              f"{med[2] / med[1]:9.2f}{a[:, 4].max():11.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=3)
    parser.add_argument("--strategy", default="coarse-to-fine")
    args = parser.parse_args()
    print_wall_table(args.cases, args.strategy)


if __name__ == "__main__":
    main()
