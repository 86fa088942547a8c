"""The harder simulated slides of ``benchmarks/search.py``: two layers, and spherical aberration.

- two layers: a stained section with a sparse dust layer on the far side of the coverslip,
  150 um (or 400 um) above it, the dust peak 0.8 of the section's on the default measure
  (:mod:`autofocus.sim.layers`). Right: the section (within 1 DOF), or "not found" naming both
  layers; never the gap between them, never the dust.
- aberrated: 40x/0.75 under a cover glass 40 um thicker (or thinner) than its design: one flank
  of the curve broader. Right: within 1/4 DOF of the sharpest plane (the ground truth of
  :meth:`SimulatedMicroscope.sharpest_focus_um`).

Same range, step, frame size and runner as the main table; each strategy runs as the user would
run it (from the range's lower end; ``brent`` started near focus, as it is meant to be).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autofocus.runner import AutofocusSettings, run_autofocus
from autofocus.sim import SimConfig, SimulatedMicroscope
from autofocus.sim.camera import CameraSpec

LAYER_METHODS = ("sweep", "coarse-to-fine", "continuous")
ABERRATED_METHODS = ("sweep", "coarse-to-fine", "continuous", "brent (start near focus)")


@dataclass(frozen=True)
class SpecialCase:
    kind: str  # "two-layer" or "aberrated"
    specimen: str
    objective: str
    detail: float  # dust separation (um) or cover-glass error (um)
    true_focus_um: float
    seed: int


@dataclass(frozen=True)
class SpecialOutcome:
    method: str
    case: SpecialCase
    status: str
    z_um: float | None
    truth_um: tuple[float, ...]
    dof_um: float
    frames: int
    confidence: float
    reason: str
    reason_code: str

    @property
    def verdict(self) -> str:
        """two-layer: section / dust / gap / other / not found (both) / not found;
        aberrated: within 1/4 DOF / within 1 DOF / off / not found."""
        if self.case.kind == "two-layer":
            if self.z_um is None:
                names_both = self.reason_code == "two_layers" or "layer" in self.reason.lower()
                return "not found (both)" if names_both else "not found"
            section, dust = self.truth_um
            if abs(self.z_um - section) <= self.dof_um:
                return "section"
            if abs(self.z_um - dust) <= self.dof_um:
                return "dust"
            return "gap" if section < self.z_um < dust else "other"
        if self.z_um is None:
            return "not found"
        error = abs(self.z_um - self.truth_um[0])
        if error <= 0.25 * self.dof_um:
            return "within 1/4 DOF"
        return "within 1 DOF" if error <= self.dof_um else "off"

    @property
    def ok(self) -> bool:
        return self.verdict in ("section", "not found (both)", "within 1/4 DOF")

    @property
    def right(self) -> bool:
        """For the reliability table: a focused answer within 1 DOF of the right plane."""
        return self.verdict in ("section", "within 1/4 DOF", "within 1 DOF")


def special_cases(quick: bool, lo_um: float, hi_um: float) -> list[SpecialCase]:
    rng = np.random.default_rng(77)
    found: list[SpecialCase] = []
    seed = 500
    layered = [("10x", 150.0), ("20x", 150.0), ("20x", 400.0), ("40x", 150.0)]
    aberrated = [("fluorescent-cells", 40.0), ("beads", 40.0), ("stained-tissue", 40.0),
                 ("fluorescent-cells", -40.0)]
    repeats = 1 if quick else 2
    for objective, separation in layered[1:2] if quick else layered:
        for _ in range(repeats):
            seed += 1
            focus = float(rng.uniform(lo_um + 50, hi_um - 50 - separation))
            found.append(SpecialCase("two-layer", "stained-tissue", objective, separation,
                                     focus, seed))
    for specimen, error in aberrated[:1] if quick else aberrated:
        for _ in range(repeats):
            seed += 1
            found.append(SpecialCase("aberrated", specimen, "40x", error,
                                     float(rng.uniform(lo_um + 50, hi_um - 50)), seed))
    return found


def run_special(method: str, case: SpecialCase, lo_um: float, hi_um: float, step_um: float,
                frame_px: int, near_focus_um: float) -> SpecialOutcome:
    start = SimConfig().start_um
    if method.startswith("brent"):
        offset = np.random.default_rng(case.seed).uniform(-near_focus_um, near_focus_um)
        start = case.true_focus_um + float(offset)
    extra = ({"dust_separation_um": case.detail} if case.kind == "two-layer"
             else {"cover_glass_error_um": case.detail})
    config = SimConfig(specimen=case.specimen, objective=case.objective, seed=case.seed,
                       true_focus_um=case.true_focus_um, start_um=start,
                       camera=CameraSpec(width=frame_px, height=frame_px),
                       **extra)  # type: ignore[arg-type]
    sim = SimulatedMicroscope(config)
    truth = sim.layer_focus_um() if case.kind == "two-layer" else (sim.sharpest_focus_um(),)
    strategy = "brent" if method.startswith("brent") else method
    result = run_autofocus(sim.devices(), AutofocusSettings(lo_um, hi_um, step_um,
                                                            strategy=strategy))
    return SpecialOutcome(method, case, result.status, result.best_z_um, truth,
                          sim.depth_of_field_um(), result.frames, float(result.confidence),
                          result.reason, str(getattr(result, "reason_code", "") or ""))


def print_special(outcomes: list[SpecialOutcome]) -> list[tuple[str, bool]]:
    """A small table per kind; returns the PASS/MISS lines (default strategy first)."""
    checks: list[tuple[str, bool]] = []
    for kind, methods, verdicts in (
            ("two-layer", LAYER_METHODS,
             ("section", "not found (both)", "dust", "gap", "other", "not found")),
            ("aberrated", ABERRATED_METHODS,
             ("within 1/4 DOF", "within 1 DOF", "off", "not found"))):
        mine = [o for o in outcomes if o.case.kind == kind]
        if not mine:
            continue
        n_cases = len({o.case for o in mine})
        what = ("stained section + dust layer above it (separation um, objective): "
                + ", ".join(sorted({f"{o.case.detail:g} {o.case.objective}" for o in mine}))
                if kind == "two-layer" else
                "40x/0.75, cover glass off design (um, specimen): "
                + ", ".join(sorted({f"{o.case.detail:+g} {o.case.specimen}" for o in mine})))
        print(f"\n{kind}: {n_cases} simulated cases, {what}")
        header = f"{'method':<28}" + "".join(f"{v:>18}" for v in verdicts) + f"{'frames':>8}"
        print(header)
        print("-" * len(header))
        for method in methods:
            rows = [o for o in mine if o.method == method]
            if not rows:
                continue
            counts = "".join(f"{sum(o.verdict == v for o in rows):>18d}" for v in verdicts)
            frames = float(np.median([o.frames for o in rows]))
            print(f"{method:<28}{counts}{frames:>8.0f}")
            if method in ("coarse-to-fine", "continuous"):
                bad = sum(not o.ok for o in rows)
                rule = ("the section or 'not found' naming both, never the gap or the dust"
                        if kind == "two-layer" else "within 1/4 DOF of the sharpest plane")
                checks.append((f"{method}: {kind}: {rule} ({len(rows) - bad}/{len(rows)})",
                               bad == 0))
    return checks
