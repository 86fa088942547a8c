"""A virtual clock: simulated hardware advances it; nothing waits in real time."""

from __future__ import annotations


class VirtualClock:
    def __init__(self, start_s: float = 0.0) -> None:
        self._now = start_s

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._now += seconds

