"""Refocusing through a pymmcore-plus MDA: per-position memory and autofocus results in frame metadata.

Most autofocus calls of a multi-dimensional acquisition return to a position whose focus was found
a time point ago. :class:`PositionFocus` remembers, per MDA position, the focus found there, so the
:class:`~autofocus.micromanager.SoftwareAutofocus` device can run ``refocus`` near it (a few frames)
instead of the full search. :class:`AutofocusEngine` is pymmcore-plus's ``MDAEngine`` with two
additions: it tells the device which position each ``HardwareAutofocus`` event is for, and it puts
each autofocus result into the frame metadata (``meta["extra"]["autofocus"]``, see
:meth:`AutofocusRecord.to_metadata`) of the images taken at that position until the next one.

The engine talks to the device only through :class:`PositionFocus`, so this module needs nothing
from :mod:`autofocus.micromanager` (which installs the engine).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from autofocus.errors import AutofocusError, install_hint
from autofocus.result import FocusResult
from autofocus.strategies import refocus

try:
    from pymmcore_plus.mda import MDAEngine
    from useq import HardwareAutofocus, MDAEvent, MDASequence
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"autofocus.mm_refocus needs pymmcore-plus: {install_hint('micromanager')}"
    ) from exc

__all__ = [
    "METADATA_KEY",
    "AutofocusEngine",
    "AutofocusRecord",
    "PositionFocus",
    "SoftwareAutofocusEngine",
    "Spot",
    "answered_by",
    "spot_of",
]

METADATA_KEY = "autofocus"
"""The key under the frame metadata's ``extra`` dict (pymmcore-plus's place for user data)."""

logger = logging.getLogger(__name__)

PositionKey = tuple[Any, ...]


@dataclass(frozen=True)
class Spot:
    """Where in an MDA an autofocus runs: which position (index, grid tile and planned XY, so
    a generated sequence without indices still tells positions apart) and the z the MDA planned
    there (a position whose planned z changes carries its remembered focus along)."""

    key: PositionKey
    p_index: int | None
    planned_z_um: float | None
    index: tuple[tuple[str, int], ...]
    """The autofocus event's whole index (``p``, ``t``, ...), for the record."""


def spot_of(event: MDAEvent) -> Spot:
    index: Mapping[str, int] = event.index
    # Rounded XY: the same planned position must give the same key whatever float noise a
    # sub-sequence's offsets add.
    xy = tuple(None if v is None else round(float(v), 3) for v in (event.x_pos, event.y_pos))
    p = index.get("p")
    z = None if event.z_pos is None else float(event.z_pos)
    return Spot((p, index.get("g"), *xy), p, z, tuple((str(k), int(v)) for k, v in index.items()))


def answered_by(result: FocusResult) -> str:
    """Which search placed the answer: ``refocus`` itself, or the search it handed over to
    when focus was not near its prior; "" when focus was not found."""
    if not result.focused:
        return ""
    if result.strategy == "refocus" and result.method not in refocus.METHODS:
        return refocus.HANDED_OVER_TO
    return result.strategy


@dataclass(frozen=True)
class AutofocusRecord:
    """One autofocus of an MDA, as the frames after it carry it."""

    status: str
    z_um: float | None
    """The focus found (before the device's offset); None when not found."""
    correction_um: float | None
    """``z_um`` minus ``start_z_um``: how far focus had moved from where the MDA stood."""
    start_z_um: float
    prior_um: float | None
    """The remembered focus refocus started from; None for a first (full) search."""
    strategy: str
    answered_by: str
    method: str
    frames: int
    confidence: float
    reason_code: str
    reason: str
    hardware_s: float
    wall_s: float
    index: tuple[tuple[str, int], ...]
    attempt: int
    """1 for the first try; the MDA engine retries a failed autofocus (``max_retries``)."""

    @classmethod
    def of(cls, result: FocusResult, start_z_um: float, prior_um: float | None, spot: Spot,
           attempt: int) -> AutofocusRecord:
        z = result.best_z_um if result.focused else None
        return cls(
            status=result.status, z_um=z, correction_um=None if z is None else z - start_z_um,
            start_z_um=start_z_um, prior_um=prior_um, strategy=result.strategy,
            answered_by=answered_by(result), method=result.method, frames=result.frames,
            confidence=float(result.confidence), reason_code=result.reason_code,
            reason=result.reason, hardware_s=result.hardware_s, wall_s=result.wall_s,
            index=spot.index, attempt=attempt,
        )

    def to_metadata(self) -> dict[str, Any]:
        """Plain JSON-ready values; these keys are a contract (see the README)."""
        return {
            "status": self.status,
            "z_um": self.z_um,
            "correction_um": self.correction_um,
            "start_z_um": self.start_z_um,
            "prior_um": self.prior_um,
            "strategy": self.strategy,
            "answered_by": self.answered_by,
            "method": self.method,
            "frames": self.frames,
            "confidence": self.confidence,
            "reason_code": self.reason_code,
            "reason": self.reason,
            "hardware_s": self.hardware_s,
            "wall_s": self.wall_s,
            "event_index": dict(self.index),
            "attempt": self.attempt,
        }


@dataclass(frozen=True)
class Remembered:
    z_um: float
    planned_z_um: float | None


class PositionFocus:
    """The device's memory of the focus found at each MDA position, and the records of the
    autofocus running now. Outside an MDA (a plain ``core.fullFocus()``) there is no position:
    no prior, nothing recorded."""

    def __init__(self) -> None:
        self._found: dict[PositionKey, Remembered] = {}
        self._spot: Spot | None = None
        self._records: list[AutofocusRecord] = []

    @contextmanager
    def at(self, spot: Spot) -> Iterator[list[AutofocusRecord]]:
        """While the MDA's autofocus event at ``spot`` runs: yields the list its tries are
        recorded in."""
        records: list[AutofocusRecord] = []
        self._spot, self._records = spot, records
        try:
            yield records
        finally:
            self._spot, self._records = None, []

    def prior_um(self) -> float | None:
        """Where focus is expected at the current position: the focus found there last, moved
        by as much as the MDA's planned z moved since. None outside an MDA or at a first visit."""
        spot = self._spot
        found = None if spot is None else self._found.get(spot.key)
        if spot is None or found is None:
            return None
        if spot.planned_z_um is None or found.planned_z_um is None:
            return found.z_um
        return found.z_um + (spot.planned_z_um - found.planned_z_um)

    def record(self, result: FocusResult, start_z_um: float, prior_um: float | None) -> None:
        """Keep one try's result; a focus found becomes the position's memory (a miss leaves
        the last good one, which later time points still refocus from)."""
        spot = self._spot
        if spot is None:
            return
        self._records.append(AutofocusRecord.of(result, start_z_um, prior_um, spot,
                                                len(self._records) + 1))
        if result.focused and result.best_z_um is not None and math.isfinite(result.best_z_um):
            self._found[spot.key] = Remembered(result.best_z_um, spot.planned_z_um)

    def forget(self) -> None:
        """Forget every position (a new MDA starts with full searches)."""
        self._found.clear()

    def __len__(self) -> int:
        return len(self._found)


class AutofocusEngine(MDAEngine):  # type: ignore[misc]  # pymmcore-plus is opaque to mypy here
    """pymmcore-plus's ``MDAEngine``, telling the software autofocus where each autofocus event
    runs and writing each result into the frame metadata that follows.

    ``find`` returns the current software autofocus device's :class:`PositionFocus` (None when
    the current AutoFocus device is not ours: then this engine is the stock one). Results are
    kept per position index, as the engine keeps its z correction: an image carries the result
    of the last autofocus at its position, whose correction its z includes.
    """

    def __init__(self, mmc: Any, find: Callable[[], PositionFocus | None], **kwargs: Any) -> None:
        super().__init__(mmc, **kwargs)
        self._find = find
        self._results: dict[int | None, dict[str, Any]] = {}

    def setup_sequence(self, sequence: MDASequence) -> Any:
        self._results.clear()
        if (memory := self._find()) is not None:
            memory.forget()
        return super().setup_sequence(sequence)

    def exec_event(self, event: MDAEvent) -> Iterator[Any]:
        memory = self._find() if isinstance(event.action, HardwareAutofocus) else None
        if memory is None:
            yield from super().exec_event(event)
            return
        spot = spot_of(event)
        # The stock engine runs core.fullFocus() (with its retries) while this generator is
        # iterated, so the device sees the spot for exactly this event's tries.
        with memory.at(spot) as records:
            yield from super().exec_event(event)
        if records:
            self._results[spot.p_index] = records[-1].to_metadata()

    def get_frame_metadata(self, event: MDAEvent, *args: Any, **kwargs: Any) -> Any:
        meta = super().get_frame_metadata(event, *args, **kwargs)
        found = self._results.get(event.index.get("p"))
        if found is not None:
            # A copy per frame: a consumer editing one frame's metadata must not edit the next.
            extra = meta.setdefault("extra", {})
            extra[METADATA_KEY] = {**found, "event_index": dict(found["event_index"])}
        return meta


class SoftwareFocus(Protocol):
    """What :class:`SoftwareAutofocusEngine` needs of the device (``SoftwareAutofocus``)."""

    positions: PositionFocus

    def full_focus(self, core: Any) -> FocusResult: ...

    def set_offset_um(self, offset: float) -> None: ...


class SoftwareAutofocusEngine(AutofocusEngine):
    """The engine for a core that cannot hold the Python device (any ``CMMCorePlus``, such as
    the one ``mmcore run`` makes): each autofocus event runs ``device.full_focus(core)`` itself,
    whether or not the core has an AutoFocus device, with the stock engine's offset, retries and
    z correction per position, and the per-position refocus and frame metadata of
    :class:`AutofocusEngine`.
    """

    def __init__(self, mmc: Any, device: SoftwareFocus, **kwargs: Any) -> None:
        super().__init__(mmc, lambda: device.positions, **kwargs)
        self.device = device

    def exec_event(self, event: MDAEvent) -> Iterator[Any]:
        if not isinstance(event.action, HardwareAutofocus):
            yield from super().exec_event(event)
            return
        # The stock engine skips an autofocus event when the core has no AutoFocus device (a
        # C++ core never lists ours), so the event is run here, as the stock engine runs it.
        spot = spot_of(event)
        with self.device.positions.at(spot) as records:
            try:
                correction = self._execute_autofocus(event.action)
            except RuntimeError as exc:
                logger.warning("Software autofocus failed. %s", exc)
                self._af_succeeded = False
            else:
                self._af_succeeded = True
                p = event.index.get("p")
                self._z_correction[p] = correction + self._z_correction.get(p, 0.0)
        if records:
            self._results[spot.p_index] = records[-1].to_metadata()

    def _execute_autofocus(self, action: HardwareAutofocus) -> float:
        if action.autofocus_motor_offset is not None:
            self.device.set_offset_um(float(action.autofocus_motor_offset))
        core = self.mmcore
        before = float(core.getZPosition())
        tries = max(1, int(action.max_retries))
        for attempt in range(1, tries + 1):
            try:
                self.device.full_focus(core)
            except AutofocusError as exc:
                if attempt == tries:
                    raise RuntimeError(f"software autofocus: {exc.describe()}") from exc
                logger.warning("Software autofocus failed (try %d of %d): %s", attempt, tries, exc)
                continue
            break
        return float(core.getZPosition()) - before
