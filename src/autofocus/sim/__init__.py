"""The simulated microscope: physically grounded defocus, noise, timing and faults.

``SimulatedMicroscope(SimConfig(...))`` gives a stage, a camera and a virtual clock (see
:mod:`autofocus.sim.microscope`); the optics are in :mod:`autofocus.sim.optics`, the specimens in
:mod:`autofocus.sim.specimens`, a second (dust) layer in :mod:`autofocus.sim.layers`.
"""

from autofocus.clock import VirtualClock
from autofocus.sim.camera import CameraSpec, SimCamera
from autofocus.sim.faults import FAULT_NAMES, FaultPlan
from autofocus.sim.layers import DEFAULT_DUST_SEPARATION_UM
from autofocus.sim.microscope import DEFAULT_TRUE_FOCUS_UM, SimConfig, SimulatedMicroscope
from autofocus.sim.optics import OBJECTIVES, Objective
from autofocus.sim.specimens import SPECIMEN_MODES, SPECIMENS
from autofocus.sim.stage import SimStage, StageSpec

__all__ = [
    "DEFAULT_DUST_SEPARATION_UM",
    "DEFAULT_TRUE_FOCUS_UM",
    "FAULT_NAMES",
    "OBJECTIVES",
    "SPECIMENS",
    "SPECIMEN_MODES",
    "CameraSpec",
    "FaultPlan",
    "Objective",
    "SimCamera",
    "SimConfig",
    "SimStage",
    "SimulatedMicroscope",
    "StageSpec",
    "VirtualClock",
]
