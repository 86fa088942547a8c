"""Objectives and the defocus optical transfer function (placeholder model, to be calibrated)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Objective:
    name: str
    magnification: float
    na: float
    immersion_index: float = 1.0

    def depth_of_field_um(self, wavelength_um: float, pixel_um: float) -> float:
        """Berek/Young total depth of field: wave term plus the camera-pixel term."""
        n = self.immersion_index
        return wavelength_um * n / self.na**2 + n * pixel_um / (self.magnification * self.na)


OBJECTIVES: dict[str, Objective] = {
    "10x": Objective("10x/0.3", 10, 0.3),
    "20x": Objective("20x/0.4", 20, 0.4),
    "40x": Objective("40x/0.75", 40, 0.75),
    "60x": Objective("60x/1.4 oil", 60, 1.4, 1.515),
}


def defocus_otf(k_cyc_per_um: np.ndarray, defocus_um: float, objective: Objective,
                wavelength_um: float) -> np.ndarray:
    """Placeholder: in-focus diffraction cut-off times a geometric defocus Gaussian."""
    cutoff = 2 * objective.na / wavelength_um
    in_focus = np.clip(1 - k_cyc_per_um / cutoff, 0, None)
    blur_radius_um = abs(defocus_um) * objective.na / objective.immersion_index
    return in_focus * np.exp(-2 * (np.pi * k_cyc_per_um * blur_radius_um / 2) ** 2)
