"""Does a method's confidence mean something? The reliability table and issue 11's two checks.

Importable by every benchmark that scores answers: give it, per method, the confidence of each
*focused* answer and whether that answer was right (within 1 DOF on the simulator, within 1
position on recorded curves); it prints, per confidence bin, how many answers fell there and
what fraction of them were right, and the two targets of issue 11:

- among focused answers with confidence >= 0.9, at least 97 % are right;
- every wrong answer has confidence below 0.5.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

BINS: tuple[tuple[float, float], ...] = ((0.0, 0.5), (0.5, 0.7), (0.7, 0.9), (0.9, 1.0001))
HIGH_CONFIDENCE = 0.9
HIGH_CONFIDENCE_RIGHT = 0.97
WRONG_BELOW = 0.5


@dataclass(frozen=True)
class Answer:
    confidence: float
    right: bool


def binned(answers: Sequence[Answer]) -> list[tuple[int, float]]:
    """(count, fraction right) per bin of :data:`BINS`; the fraction is nan for an empty bin."""
    out = []
    for lo, hi in BINS:
        inside = [a for a in answers if lo <= a.confidence < hi]
        right = sum(a.right for a in inside)
        out.append((len(inside), right / len(inside) if inside else float("nan")))
    return out


def print_table(per_method: Mapping[str, Sequence[Answer]], right_means: str) -> None:
    labels = [f"[{lo:.1f},{min(hi, 1.0):.1f}{']' if hi > 1 else ')'}" for lo, hi in BINS]
    print(f"\nreliability: focused answers per confidence bin, n and fraction right "
          f"({right_means})")
    header = f"{'method':<48}" + "".join(f"{label:>16}" for label in labels)
    print(header)
    print("-" * len(header))
    for method, answers in per_method.items():
        cells = "".join(f"{n:>6d} {frac:>8.1%} " if n else f"{0:>6d} {'-':>8} "
                        for n, frac in binned(answers))
        print(f"{method:<48}{cells}")


def targets(method: str, answers: Iterable[Answer]) -> list[tuple[str, bool]]:
    """Issue 11's two checks on one method's answers, as (PASS/MISS line, ok)."""
    answers = list(answers)
    high = [a for a in answers if a.confidence >= HIGH_CONFIDENCE]
    right = sum(a.right for a in high)
    frac = right / len(high) if high else float("nan")
    ok_high = not high or frac >= HIGH_CONFIDENCE_RIGHT
    wrong = [a for a in answers if not a.right]
    worst = max((a.confidence for a in wrong), default=0.0)
    return [
        (f"{method}: confidence >= 0.9 -> >= 97 % right ({right}/{len(high)})", ok_high),
        (f"{method}: wrong answers have confidence < 0.5 ({len(wrong)} wrong, highest "
         f"{worst:.2f})", worst < WRONG_BELOW),
    ]
