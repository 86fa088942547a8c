"""An exact median filter for every depth, built as a min/max sorting network.

Internal to :func:`autofocus.metrics.median_blur`, which chooses between this network, OpenCV
and scipy by frame depth and filter size.


A median is a rank selection, so it can be computed with nothing but min and max: a sorting
network. The 2-D network is *separable* and *shared* between neighbouring windows:
  1. every k-tall column is sorted once (pairs, then merged runs of 4, 8, ...: each run is a
     whole image, computed once and reused, shifted, by every window containing it);
  2. runs of sorted columns are merged the same way (Batcher's odd-even merge) along x;
  3. the median is *selected* from the last two sorted runs A and B with
     rank_j(A u B) = min_i max(A[i-1], B[j-i]), which costs O(len) instead of a full merge;
  4. only the min/max operations that the median depends on are kept (dead-code elimination).
For 9x9 this is 394 whole-image min/max operations (a naive 81-sorter needs thousands). Each
runs in numpy's SIMD loops on horizontal stripes that fit in cache, two stripes at a time in
threads (numpy releases the GIL). Being pure min/max it is exact for any dtype; borders are
replicated, as in cv2.medianBlur. 8-bit frames use cv2.medianBlur itself (bit-identical to
the tutorial), split into threaded stripes since OpenCV runs that kernel on one core.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["NETWORK_MAX_SIZE", "WORKERS", "cv2_median_stripe", "median_program", "run_program", "striped"]

Array = npt.NDArray[Any]

_Wire = tuple[int, tuple[int, int]]  # (node id, (dy, dx) shift)


class _Network:
    """A shift-invariant min/max network built symbolically, then pruned and compiled."""

    def __init__(self) -> None:
        # node: (op, a, shift_a, b, shift_b, span); op "in" is the padded input
        self.nodes: list[tuple[str, int, tuple[int, int], int, tuple[int, int], tuple[int, int]]]
        self.nodes = [("in", -1, (0, 0), -1, (0, 0), (1, 1))]
        self._memo: dict[tuple[str, int, tuple[int, int], int, tuple[int, int]], int] = {}

    def _op(self, op: str, u: _Wire, v: _Wire) -> _Wire:
        if u > v:  # min and max commute: one canonical order makes duplicates share a node
            u, v = v, u
        (a, sa), (b, sb) = u, v
        origin = (min(sa[0], sb[0]), min(sa[1], sb[1]))
        sa = (sa[0] - origin[0], sa[1] - origin[1])
        sb = (sb[0] - origin[0], sb[1] - origin[1])
        key = (op, a, sa, b, sb)
        node = self._memo.get(key)
        if node is None:
            spa, spb = self.nodes[a][5], self.nodes[b][5]
            span = (max(sa[0] + spa[0], sb[0] + spb[0]), max(sa[1] + spa[1], sb[1] + spb[1]))
            self.nodes.append((op, a, sa, b, sb, span))
            node = self._memo[key] = len(self.nodes) - 1
        return node, origin

    def exchange(self, u: _Wire, v: _Wire) -> tuple[_Wire, _Wire]:
        return self._op("min", u, v), self._op("max", u, v)

    def merge(self, a: Sequence[_Wire], b: Sequence[_Wire]) -> list[_Wire]:
        """Batcher's odd-even merge of two sorted runs of any lengths."""
        if not a or not b:
            return [*a, *b]
        if len(a) == 1 and len(b) == 1:
            return list(self.exchange(a[0], b[0]))
        even = self.merge(a[0::2], b[0::2])
        odd = self.merge(a[1::2], b[1::2])
        out = [even[0]]
        i = 0
        while i + 1 < len(even) and i < len(odd):
            out.extend(self.exchange(odd[i], even[i + 1]))
            i += 1
        return out + even[i + 1 :] + odd[i:]

    def select(self, a: Sequence[_Wire], b: Sequence[_Wire], rank: int) -> _Wire:
        """The element of 0-based ``rank`` in the union of two sorted runs."""
        terms: list[_Wire] = []
        for i in range(rank + 2):  # i elements taken from a, rank + 1 - i from b
            ia, ib = i - 1, rank - i
            if ia >= len(a) or ib >= len(b):
                continue
            if ia < 0:
                terms.append(b[ib])
            elif ib < 0:
                terms.append(a[ia])
            else:
                terms.append(self._op("max", a[ia], b[ib]))
        while len(terms) > 1:  # balanced reduction: same count, shallower dependency chains
            paired = [self._op("min", terms[i], terms[i + 1]) for i in range(0, len(terms) - 1, 2)]
            terms = paired + terms[len(terms) - len(terms) % 2 :]
        return terms[0]


def _shifted(run: Sequence[_Wire], dy: int, dx: int) -> list[_Wire]:
    return [(n, (s[0] + dy, s[1] + dx)) for n, s in run]


def _split(n: int) -> int:
    """Largest power of two below n: such runs are shared by the most windows."""
    p = 1
    while p * 2 < n:
        p *= 2
    return p


_Step = tuple[int, Callable[..., Array], int, tuple[int, int], int, tuple[int, int], tuple[int, int]]


@dataclass(frozen=True)
class _Program:
    steps: tuple[_Step, ...]
    frees: tuple[tuple[int, ...], ...]  # nodes whose last use is the step at the same index
    output: _Wire


@lru_cache(maxsize=8)
def median_program(size: int) -> _Program:
    net = _Network()
    pixel: _Wire = (0, (0, 0))
    columns: dict[int, list[_Wire]] = {1: [pixel]}
    rows: dict[int, list[_Wire]] = {}

    def column(n: int) -> list[_Wire]:  # sorted run of n vertically adjacent pixels
        if n not in columns:
            p = _split(n)
            columns[n] = net.merge(column(p), _shifted(column(n - p), p, 0))
        return columns[n]

    def block(n: int) -> list[_Wire]:  # sorted run of n horizontally adjacent sorted columns
        if n == 1:
            return column(size)
        if n not in rows:
            p = _split(n)
            rows[n] = net.merge(block(p), _shifted(block(n - p), 0, p))
        return rows[n]

    # The last split 1 + (size - 1) columns measured cheapest for sizes 5 to 11.
    median = net.select(block(1), _shifted(block(size - 1), 0, 1), (size * size - 1) // 2)
    live: set[int] = set()
    stack = [median[0]]
    while stack:
        node = stack.pop()
        if node not in live:
            live.add(node)
            if node:
                stack += [net.nodes[node][1], net.nodes[node][3]]
    order = sorted(live - {0})  # nodes are created after their inputs: already topological
    last_use: dict[int, int] = {}
    for node in order:
        _, a, _, b, _, _ = net.nodes[node]
        last_use[a] = last_use[b] = node
    steps: list[_Step] = []
    frees: list[tuple[int, ...]] = []
    for node in order:
        op, a, sa, b, sb, span = net.nodes[node]
        steps.append((node, np.minimum if op == "min" else np.maximum, a, sa, b, sb, span))
        frees.append(tuple(x for x in {a, b} if last_use[x] == node and x != median[0]))
    return _Program(tuple(steps), tuple(frees), median)


NETWORK_MAX_SIZE = 11  # beyond this the op count (~k^2 log k) loses to scipy's histogram
_STRIPE_ROWS = 32  # ~80 kB uint16 planes for 1920-px rows: they stay in L2 cache (measured)
WORKERS = min(8, os.cpu_count() or 1)
_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _threads() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="metrics")
        return _pool


def run_program(program: _Program, padded: Array, out: Array) -> None:
    """Evaluate the network on one padded stripe, writing the median into ``out``."""
    rows, cols = padded.shape
    planes: dict[int, Array] = {0: padded}
    for (node, func, a, sa, b, sb, span), frees in zip(program.steps, program.frees, strict=True):
        h, w = rows - span[0] + 1, cols - span[1] + 1
        pa, pb = planes[a], planes[b]
        planes[node] = func(
            pa[sa[0] : sa[0] + h, sa[1] : sa[1] + w], pb[sb[0] : sb[0] + h, sb[1] : sb[1] + w]
        )
        for gone in frees:
            del planes[gone]
    node, (dy, dx) = program.output
    out[...] = planes[node][dy : dy + out.shape[0], dx : dx + out.shape[1]]


def striped(
    frame: Array, pad: int, work: Callable[[Array, Array], None], stripe: int = _STRIPE_ROWS
) -> Array:
    """Apply ``work(padded_stripe, out_stripe)`` to replicate-padded horizontal stripes."""
    padded = cv2.copyMakeBorder(frame, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    out = np.empty_like(frame)
    starts = range(0, frame.shape[0], stripe)
    jobs = [(padded[y : y + stripe + 2 * pad], out[y : y + stripe]) for y in starts]
    if len(jobs) == 1:
        work(*jobs[0])
    else:
        for future in [_threads().submit(work, *job) for job in jobs]:
            future.result()
    return out


def cv2_median_stripe(padded: Array, out: Array, size: int) -> None:
    pad = size // 2
    out[...] = cv2.medianBlur(padded, size)[pad : pad + out.shape[0], pad : pad + out.shape[1]]
