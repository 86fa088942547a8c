"""Focus drift through time, as real stands show it over a long time-lapse.

The true focus at time ``t`` is the slide's focus plus :meth:`Drift.offset_um` (``t`` in
seconds on the microscope's clock). Four parts, each off by default and each deterministic
(the random one from ``seed``), so a drifting run is reproducible and its ground truth can be
asked for at any time:

- **thermal**: the stand and objective expand and contract with the room's temperature, which
  follows the day: a 24-hour cycle whose steepest slope is ``thermal_um_h`` micrometres per
  hour (a few um/h is typical of a stand without a focus lock);
- **creep**: evaporation of the immersion or the medium, and the slide settling into its
  holder: slow, one-way, levelling off (``creep_um`` in total, ``1 - exp(-t / creep_tau_h)``);
- **steps**: sudden jumps at given times (someone bumps the table, a door slams, the stage
  slips): ``steps`` are ``(t_s, um)`` pairs, each adding ``um`` from ``t_s`` on;
- **specimen motion**: cells and beads in liquid wander in z: a random walk whose spread grows
  as ``wander_um_per_sqrt_h * sqrt(hours)``, drawn at knots ``WANDER_KNOT_S`` apart (linear in
  between) up to ``horizon_h``, held beyond it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from autofocus.errors import InputError

__all__ = ["DRIFT_PARTS", "Drift", "drift_preset"]

HOUR_S = 3600.0
DAY_S = 24 * HOUR_S
WANDER_KNOT_S = 60.0
"""Knot spacing of the random walk: far below any time-lapse interval, far above an exposure."""
DRIFT_PARTS = ("thermal", "creep", "steps", "motion")
"""The words of :func:`drift_preset` (and of ``--sim-drift``)."""
# The preset's values: a stand without a focus lock in an ordinary room.
PRESET_THERMAL_UM_H = 3.0
PRESET_CREEP_UM = 6.0
PRESET_CREEP_TAU_H = 3.0
PRESET_STEP_UM = 10.0
PRESET_WANDER_UM_PER_SQRT_H = 0.3


@dataclass(frozen=True)
class Drift:
    """How far focus has moved ``t`` seconds after the start: ``offset_um(t)`` (0 at t = 0)."""

    thermal_um_h: float = 0.0
    """Steepest slope of the daily cycle, um per hour (its amplitude is this over 2 pi / 24 h)."""
    thermal_phase_h: float = 0.0
    """Where in the day the run starts, hours after the cycle's zero crossing on the way up."""
    creep_um: float = 0.0
    creep_tau_h: float = 3.0
    steps: tuple[tuple[float, float], ...] = ()
    """``(t_s, um)``: focus jumps by ``um`` at ``t_s``."""
    wander_um_per_sqrt_h: float = 0.0
    seed: int = 0
    horizon_h: float = 48.0

    def __post_init__(self) -> None:
        """The one owner of these checks: InputError, before anything is built or moves."""
        numbers = (self.thermal_um_h, self.thermal_phase_h, self.creep_um, self.creep_tau_h,
                   self.wander_um_per_sqrt_h, self.horizon_h)
        if not all(math.isfinite(v) for v in numbers):
            raise InputError("drift parameters must be finite numbers")
        if self.creep_tau_h <= 0 or self.horizon_h <= 0:
            raise InputError("the creep's time constant and the horizon must be positive")
        if self.wander_um_per_sqrt_h < 0:
            raise InputError("the specimen's wander must not be negative")
        for step in self.steps:
            if len(step) != 2 or not all(math.isfinite(v) for v in step) or step[0] < 0:
                raise InputError(f"a drift step is (t_s >= 0, um), got {step!r}")

    @property
    def active(self) -> bool:
        return bool(self.thermal_um_h or self.creep_um or self.steps or self.wander_um_per_sqrt_h)

    def thermal_um(self, t_s: float) -> float:
        omega = 2 * math.pi / DAY_S
        amplitude = self.thermal_um_h / HOUR_S / omega
        phase = omega * self.thermal_phase_h * HOUR_S
        return amplitude * (math.sin(omega * t_s + phase) - math.sin(phase))

    def creep_at(self, t_s: float) -> float:
        return self.creep_um * -math.expm1(-max(t_s, 0.0) / (self.creep_tau_h * HOUR_S))

    def steps_um(self, t_s: float) -> float:
        return sum(um for at_s, um in self.steps if t_s >= at_s)

    @cached_property
    def _knots(self) -> npt.NDArray[np.float64]:
        # Drawn once per object (a cached_property writes past the frozen dataclass's guard).
        n = math.ceil(self.horizon_h * HOUR_S / WANDER_KNOT_S)
        rng = np.random.default_rng([self.seed, 0xD21F7])
        sigma = self.wander_um_per_sqrt_h * math.sqrt(WANDER_KNOT_S / HOUR_S)
        walk: npt.NDArray[np.float64] = np.concatenate([[0.0], np.cumsum(rng.normal(0.0, sigma, n))])
        return walk

    def wander_um(self, t_s: float) -> float:
        if not self.wander_um_per_sqrt_h:
            return 0.0
        knots = self._knots
        position = min(max(t_s, 0.0) / WANDER_KNOT_S, len(knots) - 1.0)
        i = min(int(position), len(knots) - 2)
        frac = position - i
        return float(knots[i] * (1 - frac) + knots[i + 1] * frac)

    def offset_um(self, t_s: float) -> float:
        """Ground truth: how far focus has moved at ``t_s`` (seconds on the run's clock)."""
        if not self.active:
            return 0.0
        return (self.thermal_um(t_s) + self.creep_at(t_s) + self.steps_um(t_s)
                + self.wander_um(t_s))

    def describe(self, rate_um_s: float = 0.0) -> str:
        """The active parts in words; ``rate_um_s``: a steady drift beside them (the simulator's
        ``drift_um_s``)."""
        parts = [f"{rate_um_s:g} um/s"] if rate_um_s else []
        if self.thermal_um_h:
            parts.append(f"thermal {self.thermal_um_h:g} um/h")
        if self.creep_um:
            parts.append(f"creep {self.creep_um:g} um")
        if self.steps:
            parts.append("steps " + ", ".join(f"{um:+g} um at {t / HOUR_S:g} h"
                                              for t, um in self.steps))
        if self.wander_um_per_sqrt_h:
            parts.append(f"wander {self.wander_um_per_sqrt_h:g} um/sqrt(h)")
        return ", ".join(parts) or "none"


def drift_preset(parts: Iterable[str], duration_s: float, seed: int = 0) -> Drift:
    """A stand without a focus lock: the named parts (:data:`DRIFT_PARTS`) at typical sizes.
    ``steps`` are two bumps of ``PRESET_STEP_UM``, up at a third of ``duration_s`` and down at
    two thirds, so a run of any length sees both."""
    names = [p.strip() for p in parts if p.strip()]
    unknown = [p for p in names if p not in DRIFT_PARTS]
    if unknown:
        raise InputError(f"unknown drift {unknown[0]!r}; choose from: {', '.join(DRIFT_PARTS)}")
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise InputError("the drift's run length must be a positive number of seconds")
    steps = ((duration_s / 3, PRESET_STEP_UM), (2 * duration_s / 3, -PRESET_STEP_UM))
    return Drift(
        thermal_um_h=PRESET_THERMAL_UM_H if "thermal" in names else 0.0,
        creep_um=PRESET_CREEP_UM if "creep" in names else 0.0,
        creep_tau_h=PRESET_CREEP_TAU_H,
        steps=steps if "steps" in names else (),
        wander_um_per_sqrt_h=PRESET_WANDER_UM_PER_SQRT_H if "motion" in names else 0.0,
        seed=seed,
        horizon_h=max(48.0, 2 * duration_s / HOUR_S),
    )
