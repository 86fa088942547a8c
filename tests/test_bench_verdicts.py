"""A benchmark that states a requirement ends with PASS or MISS and exits non-zero on MISS."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_sim_render(limit_ms: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "sim_render.py"), "--frames", "1", "--width", "64",
         "--height", "48", "--limit-ms", limit_ms],
        capture_output=True, text=True, env=env, check=False)


def test_sim_render_misses_an_impossible_requirement() -> None:
    done = run_sim_render("0.000001")
    assert done.returncode == 1, done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("MISS: slowest median render")


def test_sim_render_passes_a_generous_requirement() -> None:
    done = run_sim_render("1e9")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("PASS: slowest median render")
