"""Several peaks on one curve: which one is focus, or why none can be named.

A curve may peak more than once: a stained section and dust on the coverslip (or slide) 100 um
to 1 mm from it, two cell layers, a side lobe. The answer is always one peak's position, never
one between two separated peaks. Peaks at least ``LAYER_FRACTION`` as high as the strongest are
*layers*; the ``layer`` setting picks among them:

- ``auto`` (default): the strongest, when clearly stronger (every other layer below
  ``CLEARLY_STRONGER`` of its height above the baseline); otherwise "not found" naming both
  positions (reason code ``two_layers``), so that a person (or ``layer``) decides;
- ``strongest``: the highest peak; ``lowest`` / ``highest``: the layer at the lowest / highest z;
  ``nearest``: the layer nearest the position the search started from.

Transparent specimens show two humps around a dip at focus; those humps lie as close together
as a few depths of field (``TRANSPARENT_DOFS``), so two peaks farther apart than that are two
layers, never a transparent specimen's humps (:func:`close_as_humps`). Without a known depth of
field the narrower hump's own width stands in for it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from autofocus.confidence import half_widths
from autofocus.errors import FocusNotFound, InputError

__all__ = ["LAYER_FRACTION", "Layer", "check_layer", "choose_layer", "close_as_humps"]

FloatArray = npt.NDArray[np.float64]
Layer = Literal["auto", "nearest", "lowest", "highest", "strongest"]
LAYERS: tuple[Layer, ...] = ("auto", "nearest", "lowest", "highest", "strongest")

LAYER_FRACTION = 0.5
CLEARLY_STRONGER = 0.8
# A transparent specimen's humps lie at most this many depths of field apart ...
TRANSPARENT_DOFS = 8.0
# ... or, the depth of field unknown, this many times the narrower hump's width at half height.
TRANSPARENT_WIDTHS = 4.0


def check_layer(layer: str) -> Layer:
    if layer not in LAYERS:
        raise InputError(f"layer must be one of {', '.join(LAYERS)}, got {layer!r}")
    return layer  # type: ignore[return-value]


def choose_layer(z: FloatArray, tops: list[tuple[int, float]], layer: Layer,
                 start_um: float | None) -> tuple[int, float]:
    """Index of the chosen peak among ``tops`` ((index, height above baseline), highest first)
    and the height of its highest rival relative to it. Raises FocusNotFound (two_layers)."""
    strongest = tops[0]
    layers = [t for t in tops if t[1] >= LAYER_FRACTION * strongest[1]]
    if len(layers) == 1:
        rival = tops[1][1] / strongest[1] if len(tops) > 1 else 0.0
        return strongest[0], rival
    if layer == "auto":
        second = layers[1]
        if second[1] >= CLEARLY_STRONGER * strongest[1]:
            raise FocusNotFound(
                f"two layers: peaks at {z[strongest[0]]:.2f} um and {z[second[0]]:.2f} um "
                f"({100 * second[1] / strongest[1]:.0f} % as high); which one is focus is "
                "ambiguous (a section and dust on the coverslip?): choose one with --layer "
                "nearest|lowest|highest|strongest", "two_layers")
        return strongest[0], second[1] / strongest[1]
    if layer == "strongest":
        chosen = strongest
    elif layer == "lowest":
        chosen = min(layers, key=lambda t: z[t[0]])
    elif layer == "highest":
        chosen = max(layers, key=lambda t: z[t[0]])
    else:
        here = float(z[0]) if start_um is None else start_um
        chosen = min(layers, key=lambda t: abs(float(z[t[0]]) - here))
    # The layer was chosen by the user: other layers do not make it less certain, only
    # peaks near it (which are not separate layers) would.
    return chosen[0], 0.0


def close_as_humps(z: FloatArray, scores: FloatArray, left: int, right: int, baseline: float,
                   dof_um: float | None) -> bool:
    """Whether two peaks lie as close as a transparent specimen's humps."""
    separation = abs(float(z[right]) - float(z[left]))
    if dof_um is not None and dof_um > 0:
        return separation <= TRANSPARENT_DOFS * dof_um
    widths = []
    for i in (left, right):
        level = baseline + 0.5 * (float(scores[i]) - baseline)
        widths.append(sum(half_widths(z, scores, i, level)))
    width = float(np.min(widths))  # a hump pair has similar widths; a broad peak is no hump
    return width > 0 and separation <= TRANSPARENT_WIDTHS * width
