from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from tests.test_stack import FOCUS_PLANE, PLANES, focus_stack

from autofocus.clock import Clock
from autofocus.devices.replay import ReplayTiming, blend, open_replay, replay_microscope
from autofocus.errors import InputError, LimitError
from autofocus.readers import open_stack
from autofocus.runner import AutofocusSettings, run_autofocus
from autofocus.search import DEFAULT_STRATEGY

STEP_UM = 0.5


@pytest.fixture
def stack_path(tmp_path: Path) -> Path:
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, focus_stack(bits=16), imagej=True, metadata={"spacing": STEP_UM, "unit": "um"})
    return path


def test_travel_is_the_recorded_range_on_a_virtual_clock(stack_path: Path) -> None:
    # The Stage/Camera contract itself: tests/devices/test_conformance.py, over every backend.
    with open_replay(stack_path) as scope:
        assert isinstance(scope.clock, Clock)
        assert scope.stage.limits_um == (0.0, (PLANES - 1) * STEP_UM)


def test_camera_serves_the_recorded_plane_at_the_stage_z(stack_path: Path) -> None:
    data = tifffile.imread(stack_path)
    with open_replay(stack_path) as scope:
        for index in (0, 4, PLANES - 1):
            scope.stage.move_to_um(index * STEP_UM)
            frame = scope.camera.grab()
            assert frame.dtype == np.uint16
            assert np.array_equal(frame, data[index])


def test_camera_interpolates_between_planes(stack_path: Path) -> None:
    data = tifffile.imread(stack_path).astype(float)
    with open_replay(stack_path) as scope:
        scope.stage.move_to_um(2.25 * STEP_UM)  # a quarter of the way from plane 2 to plane 3
        frame = scope.camera.grab()
    expected = 0.75 * data[2] + 0.25 * data[3]
    assert frame.dtype == np.uint16
    assert np.abs(frame - expected).max() <= 0.5 + 1e-6


def test_blend_rounds_and_keeps_dtype() -> None:
    a = np.array([[0, 255]], np.uint8)
    b = np.array([[255, 0]], np.uint8)
    assert blend(a, b, 0.5).tolist() == [[128, 128]]  # 127.5 rounds to even -> 128
    assert blend(a, b, 0.5).dtype == np.uint8


def test_stage_refuses_to_leave_the_recording_and_time_passes(stack_path: Path) -> None:
    with open_replay(stack_path, offset_um=1000.0) as scope:
        assert scope.stage.position_um() == 1000.0
        with pytest.raises(LimitError):
            scope.stage.move_to_um(999.0)
        before = scope.clock.now()
        scope.stage.move_to_um(1003.0)
        scope.camera.grab()
        timing = ReplayTiming()
        assert scope.clock.now() - before >= timing.command_latency_s + timing.exposure_s


def test_start_outside_the_stack_is_bad_input(stack_path: Path) -> None:
    with pytest.raises(InputError):
        open_replay(stack_path, start_um=-1.0)


def test_default_live_strategy_focuses_on_the_recording(stack_path: Path) -> None:
    with open_replay(stack_path, start_um=0.0) as scope:
        lo, hi = scope.stage.limits_um
        settings = AutofocusSettings(start_um=lo, end_um=hi, step_um=STEP_UM, strategy=DEFAULT_STRATEGY)
        result = run_autofocus(scope, settings)
        assert result.focused, result.reason
        assert result.best_z_um is not None
        assert abs(result.best_z_um - FOCUS_PLANE * STEP_UM) <= STEP_UM
        assert scope.stage.position_um() == pytest.approx(result.final_z_um)
        assert result.hardware_s > 0


def test_stack_closes_with_the_microscope(stack_path: Path) -> None:
    stack = open_stack(stack_path)
    scope = replay_microscope(stack)
    scope.close()  # not handed over: the caller still owns the stack
    assert stack.plane(0).shape == (96, 96)
    stack.close()
