"""Procedural specimens, deterministic from a seed. Placeholder: random texture only."""

from __future__ import annotations

import numpy as np

SPECIMENS = ("fluorescent-cells", "beads", "stained-tissue", "reticle", "transparent-cells", "empty")


def make_specimen(kind: str, shape: tuple[int, int], pixel_um: float, seed: int) -> np.ndarray:
    """Object-plane intensity (fluorophore density or transmittance), float32 in 0..1."""
    if kind not in SPECIMENS:
        raise ValueError(f"unknown specimen {kind!r}; choose one of: {', '.join(SPECIMENS)}")
    if kind == "empty":
        return np.full(shape, 0.5, dtype=np.float32)
    rng = np.random.default_rng(seed)
    return rng.random(shape, dtype=np.float32)
