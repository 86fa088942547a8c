"""benchmarks/references.py, lightly: each reference runs once on a small simulated microscope
and takes the frames its documented defaults imply; the Brent optimiser and the measures
behave as their originals are described."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest

from autofocus.sim import SimConfig, SimulatedMicroscope
from autofocus.sim.camera import CameraSpec
from autofocus.space import SearchSpace

PROJECT = Path(__file__).resolve().parents[1]
FOCUS = 10_012.3


def load_references() -> ModuleType:
    name = "benchmarks_references"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, PROJECT / "benchmarks" / "references.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


refs = load_references()


def run(method: str, offset_um: float, objective: str = "10x", specimen: str = "stained-tissue"):  # type: ignore[no-untyped-def]
    start = FOCUS + offset_um
    sim = SimulatedMicroscope(SimConfig(specimen=specimen, objective=objective, start_um=start,
                                        true_focus_um=FOCUS,
                                        camera=CameraSpec(width=128, height=128)))
    space = SearchSpace(9_500.0, 10_500.0, 10.0, start)
    return sim, refs.run_reference(method, sim.devices(), space)


def test_oughtafocus_takes_a_few_frames_inside_its_10_um_window_and_always_answers() -> None:
    sim, result = run("oughtafocus", 3.0)
    assert result.status == "focused"
    assert 2 <= result.frames <= 8  # "about 3 frames" from within 5 um
    assert abs(result.z_um - (FOCUS + 3.0)) <= 5.0
    assert sim.stage.position_um() == pytest.approx(result.z_um)
    _, empty = run("oughtafocus", 0.0, specimen="empty")
    assert empty.status == "focused"  # it never reports failure


@pytest.mark.parametrize(("method", "frames"),
                         [("imswitch", 11), ("imswitch-2stage", 22), ("imswitch-global", 11)])
def test_imswitch_takes_11_frames_per_stage(method: str, frames: int) -> None:
    sim, result = run(method, 12.0)
    assert result.frames == frames
    assert sim.stage.position_um() == pytest.approx(result.z_um)
    if method != "imswitch-global":
        assert abs(result.z_um - FOCUS) < 5.0  # 10x: a 7 um depth of field, 10 um steps
        # 11 stops with a 0.1 s settle each (and the moves) per stage
        assert result.hardware_s > frames * refs.IMSWITCH_SETTLE_S


def test_openflexure_streams_one_sweep_of_124_um_and_ends_at_the_largest_frame() -> None:
    sim, result = run("openflexure", -8.0)
    dz = refs.OPENFLEXURE_DZ_STEPS * refs.OPENFLEXURE_STEP_UM
    assert dz == pytest.approx(124.0)
    period = sim.camera_spec.exposure_s + sim.camera_spec.readout_s
    expected = dz / refs.OPENFLEXURE_SPEED_UM_S / period
    assert 0.85 * expected <= result.frames <= 1.05 * expected
    assert sim.stage.position_um() == pytest.approx(result.z_um)
    assert abs(result.z_um - FOCUS) < 8.0  # brightfield: the JPEG size peaks near focus


def test_brent_as_commons_math_runs_it() -> None:
    calls: list[float] = []

    def score(z: float) -> float:
        calls.append(z)
        return -((z - 2.3) ** 2)

    z, value = refs.brent_maximise(score, -5.0, 5.0, 0.0, abs_tol=1.0, max_eval=100)
    assert calls[0] == 0.0  # starts at the start value
    assert all(-5.0 < c < 5.0 for c in calls)  # never at the interval's ends
    assert abs(z - 2.3) < 1.0 and value == max(-((c - 2.3) ** 2) for c in calls)  # best seen
    assert len(calls) <= 10
    few: list[float] = []
    refs.brent_maximise(lambda z: few.append(z) or math.sin(z), -50.0, 50.0, 0.0, abs_tol=1e-6,
                        max_eval=7)
    assert len(few) == 7  # MaxEval bounds the frames


def test_measures() -> None:
    flat = np.full((32, 32), 100, np.uint8)
    assert refs.imagej_edges(flat) == 0.0
    sharp = np.zeros((32, 32), np.uint8)
    sharp[:, 16:] = 200
    # findEdges clips at 255: a 200-level step's Sobel magnitude (800) counts as 255
    assert refs.imagej_edges(sharp) == pytest.approx(2 * 255 / 32 / 100)
    texture = np.random.default_rng(1).integers(60, 140, (64, 64)).astype(np.uint8)
    blurred = cv2.GaussianBlur(texture, (0, 0), 2.0)
    for measure in (refs.imagej_edges, refs.imswitch_lape, refs.jpeg_size):
        assert measure(texture) > measure(blurred) > 0
