"""Time to render one simulated frame (render + noise + digitise), per objective x specimen x bits.

Run: ``.venv/bin/python benchmarks/sim_render.py [--frames N] [--width W --height H]``.
Each frame is grabbed at a new defocus (so the OTF cache never hides the profile computation),
with the stage settled. The table shows the median and the fastest of N frames in milliseconds
(the fastest is the render cost when no other process competes for the cores; the load average
is printed), plus the one-off construction time (specimen + spectrum) and the OTF-model build.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from autofocus.sim import OBJECTIVES, SPECIMENS, SimConfig, SimulatedMicroscope
from autofocus.sim.camera import CameraSpec
from autofocus.sim.optics import defocus_model

TARGET_MS = 60.0
"""Requirement: one 1920x1200 frame rendered in at most 60 ms on the 2-core machine."""


def time_frames(sim: SimulatedMicroscope, frames: int) -> list[float]:
    dof = sim.depth_of_field_um()
    out = []
    for i in range(frames + 1):
        # Settle the vibration before each frame: this times rendering, not blur sampling.
        sim.stage.move_to_um(sim.true_focus_um + (i - frames / 2) * dof / 3)
        sim.clock.sleep(0.5)
        start = time.perf_counter()
        sim.camera.grab()
        out.append((time.perf_counter() - start) * 1000)
    return out[1:]  # the first frame pays for FFT planning


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=7)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1200)
    args = parser.parse_args()
    camera = CameraSpec(width=args.width, height=args.height)
    load = os.getloadavg()[0]
    print(f"frame {args.width}x{args.height}, median / min of {args.frames} frames (ms), "
          f"{os.cpu_count()} cpus, load average {load:.1f}")
    print(f"{'objective':10} {'model':>6} {'specimen':18} {'build':>6} "
          f"{'8-bit':>13} {'12-bit':>13} {'16-bit':>13}")
    worst = 0.0
    for name in OBJECTIVES:
        start = time.perf_counter()
        defocus_model(OBJECTIVES[name], 0.55)
        model_ms = (time.perf_counter() - start) * 1000
        for specimen in SPECIMENS:
            cells = []
            build_ms = 0.0
            for bits in (8, 12, 16):
                start = time.perf_counter()
                sim = SimulatedMicroscope(SimConfig(specimen=specimen, objective=name, bits=bits,
                                                    camera=camera))
                build_ms = (time.perf_counter() - start) * 1000
                times = time_frames(sim, args.frames)
                median = statistics.median(times)
                worst = max(worst, median)
                cells.append(f"{median:5.1f} / {min(times):5.1f}")
            print(f"{name:10} {model_ms:6.0f} {specimen:18} {build_ms:6.0f} "
                  + " ".join(f"{c:>13}" for c in cells))
            model_ms = 0.0
    print(f"slowest median: {worst:.1f} ms per frame (requirement: <= 60 ms)")
    # The target lives here, not in the unit tests: wall-clock time depends on what else runs.
    print(f"{'PASS' if worst <= TARGET_MS else 'MISS'}: slowest median render {worst:.1f} ms "
          f"<= {TARGET_MS:g} ms per {args.width}x{args.height} frame")


if __name__ == "__main__":
    main()
