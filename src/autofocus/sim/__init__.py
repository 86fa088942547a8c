"""The simulated microscope: physically grounded defocus, noise, timing and faults."""

from autofocus.sim.clock import VirtualClock
from autofocus.sim.faults import FAULT_NAMES, FaultPlan
from autofocus.sim.microscope import DEFAULT_TRUE_FOCUS_UM, SimConfig, SimulatedMicroscope
from autofocus.sim.optics import OBJECTIVES
from autofocus.sim.specimens import SPECIMENS

__all__ = [
    "DEFAULT_TRUE_FOCUS_UM",
    "FAULT_NAMES",
    "OBJECTIVES",
    "SPECIMENS",
    "FaultPlan",
    "SimConfig",
    "SimulatedMicroscope",
    "VirtualClock",
]
