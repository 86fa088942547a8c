"""Every run is bounded: a plan beyond the frame budget is one line and exit 2 before anything
moves, and the time budget holds while settling on the Zaber path (real library, simulated
controller)."""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt
import pytest
from tests.conftest import run_cli as run

from autofocus import connect


@pytest.mark.parametrize("step", ["1e-9", "1e-15", "1e-320"])
@pytest.mark.parametrize("strategy", ["coarse-to-fine", "continuous", "brent", "sweep"])
def test_a_tiny_step_is_refused_with_a_suggested_step(
    capsys: pytest.CaptureFixture[str], no_devices: list[str], step: str, strategy: str
) -> None:
    code, out, err = run(capsys, "9.9", "10.1", step, "sim", "--strategy", strategy)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "budget of 10000 frames" in lines[0] and "use a step of at least 5e-05 mm" in lines[0]
    assert no_devices == [] and out == ""


def test_the_suggested_step_is_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(capsys, "9.9", "10.1", "5e-05", "sim", "--max-frames", "10000",
                         "--strategy", "brent")
    assert code in (0, 1), err
    assert "budget" not in err


class LiveCamera:
    """A camera grabbing in real time (as a webcam or GenICam camera does), counting its frames."""

    exposure_s = 0.0

    def __init__(self, frame_s: float) -> None:
        self.frame_s = frame_s
        self.grabs = 0
        self._rng = np.random.default_rng(0)

    def grab(self) -> npt.NDArray[np.uint8]:
        time.sleep(self.frame_s)
        self.grabs += 1
        return self._rng.integers(0, 200, (48, 64), dtype=np.uint8)


def test_the_time_budget_is_wall_time_with_a_live_camera_on_the_simulated_stage(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """PORT sim with a live camera (allowed with --strategy sweep): the frames take real time,
    so the budget must count it. On the simulator's virtual clock only the stage's moves count
    (about 10 ms each), and a 1 s budget let about a hundred 50 ms frames through."""
    camera = LiveCamera(frame_s=0.05)
    monkeypatch.setattr(connect, "open_camera", lambda spec: (camera, lambda: None))
    code, out, err = run(capsys, "9.9", "10.1", "0.0002", "sim", "--strategy", "sweep",
                         "--camera", "opencv:0", "--timeout-s", "1")
    assert code == 3, out + err
    assert "1 s budget" in err and "stage returned to its start position" in err
    assert 1 <= camera.grabs <= 21  # 21 frames of 50 ms are already past a 1 s budget


zaber = pytest.importorskip("zaber_motion")

from tests.devices.test_zaber import Serve, serve, zaber_env  # noqa: E402

from autofocus.sim import SimConfig, SimulatedMicroscope  # noqa: E402
from autofocus.sim.camera import CameraSpec  # noqa: E402

__all__ = ["serve", "zaber_env"]


@pytest.fixture
def small_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    def small(config: SimConfig) -> SimulatedMicroscope:
        import dataclasses

        return SimulatedMicroscope(dataclasses.replace(config, camera=CameraSpec(width=128, height=128)))

    monkeypatch.setattr(connect, "SimulatedMicroscope", small)


def test_a_settle_time_beyond_the_budget_is_refused_before_homing(
    capsys: pytest.CaptureFixture[str], serve: Serve, small_frames: None
) -> None:
    server = serve(homed=False)
    code, _, err = run(capsys, "9.9", "10.1", "0.01", server.url, "--camera", "sim",
                       "--settle-ms", "1e7", "--timeout-s", "5")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "longer than the time budget" in err, err
    assert server.device.moves_accepted == 0 and not server.device.homed


def test_the_time_budget_holds_while_settling_on_the_zaber_path(
    capsys: pytest.CaptureFixture[str], serve: Serve, small_frames: None
) -> None:
    server = serve(homed=True)
    start = server.device.position_um()
    # Each settle fits the budget, two do not: the run must end inside the second one.
    code, out, err = run(capsys, "9.9", "10.1", "0.01", server.url, "--camera", "sim",
                         "--strategy", "sweep", "--settle-ms", "1500", "--timeout-s", "2", "--verbose")
    assert code == 3, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "2 s budget (waiting 1.5 s to settle" in lines[0], err  # cut, not slept out
    assert f"stage returned to its start position {start / 1000:.6f} mm" in lines[0]
    assert server.device.moves_accepted == 3  # two moves into the range, one back
    # One frame after the first settle; the second settle is cut where the budget ends, so no
    # second frame (checking the budget only before moves would take it, 1 s over budget).
    assert [line for line in out.splitlines() if line.startswith("step ")] == [
        line for line in out.splitlines() if line.startswith("step 1:")]
    assert "step 1:" in out
    assert not server.device.is_busy() and server.device.position_um() == pytest.approx(start)
