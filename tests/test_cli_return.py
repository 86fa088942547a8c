"""Where the stage is, told truly: every fault of the simulator and of the simulated Zaber
controller, injected at every move (or grab) of a run including the last one (the return, or the
final approach), leaves the JSON's ``final_position_mm`` and the message in agreement with the
device's own position."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from tests.conftest import run_cli as run

from autofocus import connect
from autofocus.sim import SimConfig, SimulatedMicroscope
from autofocus.sim.camera import CameraSpec
from autofocus.sim.faults import FAULT_NAMES

STAGE_FAULTS = ("stage-stall", "stage-limit", "disconnect")
CAMERA_FAULTS = tuple(f for f in FAULT_NAMES if f not in STAGE_FAULTS)
SWEEP = ["9.98", "10.04", "0.02", "--strategy", "sweep"]  # four frames, then the last move
RETURNED = re.compile(r"(?:(?<!be )returned to its start position|back at its start \() ?(\d+\.\d{6}) mm")
IS_AT = re.compile(r"it is at (\d+\.\d{6}) mm")
FOCUSED = re.compile(r"focused at (\d+\.\d{6}) mm")
UNKNOWN = "position is unknown"


class Sims:
    """Every simulated microscope the command line builds, small frames, so tests can ask
    the simulated stage where it really is."""

    def __init__(self) -> None:
        self.made: list[SimulatedMicroscope] = []
        self.size = 128

    def __call__(self, config: SimConfig) -> SimulatedMicroscope:
        camera = CameraSpec(width=self.size, height=self.size)
        sim = SimulatedMicroscope(dataclasses.replace(config, camera=camera))
        self.made.append(sim)
        return sim


@pytest.fixture
def sims(monkeypatch: pytest.MonkeyPatch) -> Sims:
    made = Sims()
    monkeypatch.setattr(connect, "SimulatedMicroscope", made)
    return made




def assert_told_truly(code: int, out: str, err: str, device_um: float | None) -> None:
    """The one claim about the stage agrees with ``device_um`` (None: it does not answer)."""
    text = out + err
    if code == 0:
        found = FOCUSED.search(text) or None
        data = json.loads(out) if out.startswith("{") else None
        claimed = float(found[1]) if found else data["final_position_mm"]  # type: ignore[index]
        assert device_um is not None and claimed * 1000 == pytest.approx(device_um, abs=1.0), text
        return
    has_json = out.startswith("{")
    if has_json:
        data = json.loads(out.splitlines()[0])
        final = data["final_position_mm"]
        if device_um is None:
            assert final is None, text
        else:
            assert final is not None and final * 1000 == pytest.approx(device_um, abs=1.0), text
        if data.get("return_error"):
            assert code == 3, text
    claims = [float(m) for m in RETURNED.findall(text) + IS_AT.findall(text)]
    if device_um is None:
        assert UNKNOWN in text and not claims, text
        assert code == 3, text
        return
    assert claims or has_json, text
    for mm in claims:
        assert mm * 1000 == pytest.approx(device_um, abs=1.0), text
    assert ("could not" in text) == (code == 3 and not RETURNED.search(text)), text


def sim_position(sim: SimulatedMicroscope) -> float | None:
    stage = sim.stage
    return stage.position_um() if stage.connected else None


def count_operations(capsys: pytest.CaptureFixture[str], sims: Sims, specimen: str) -> tuple[int, int]:
    code, out, err = run(capsys, *SWEEP, "sim", "--sim-specimen", specimen)
    assert code in (0, 1), out + err
    sim = sims.made[-1]
    return sim.stage.moves, sim.camera.grabs


@pytest.mark.parametrize("specimen", ["empty", "fluorescent-cells"])  # not found; focused
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_every_simulator_fault_at_every_operation_is_reported_truly(
    capsys: pytest.CaptureFixture[str], sims: Sims, specimen: str, as_json: bool
) -> None:
    moves, grabs = count_operations(capsys, sims, specimen)
    assert moves >= 5 and grabs >= 4
    for fault in FAULT_NAMES:
        for after in range((moves if fault in STAGE_FAULTS else grabs) + 1):
            args = [*SWEEP, "sim", "--sim-specimen", specimen, "--sim-fault", fault,
                    "--sim-fault-after", str(after), *(["--json"] if as_json else [])]
            code, out, err = run(capsys, *args)
            assert "Traceback" not in err
            assert len(err.strip().splitlines()) <= 1, (fault, after, err)
            try:
                assert_told_truly(code, out, err, sim_position(sims.made[-1]))
            except AssertionError as exc:
                raise AssertionError(f"{fault} after {after}: {exc}") from None


zaber = pytest.importorskip("zaber_motion")

from tests.devices.test_zaber import Serve, serve, zaber_env  # noqa: E402

from autofocus.sim.zaber_protocol import ZABER_FAULTS, ZaberFault  # noqa: E402

__all__ = ["serve", "zaber_env"]


def test_every_controller_fault_at_every_move_is_reported_truly(
    capsys: pytest.CaptureFixture[str], sims: Sims, serve: Serve
) -> None:
    args = [*SWEEP, "--camera", "sim", "--sim-specimen", "empty", "--json"]
    sims.size = 256  # an empty field on 128x128 frames in real time can look like a faint peak
    server = serve(homed=True)
    code, out, err = run(capsys, *args[:3], server.url, *args[3:])
    assert code == 1, out + err
    moves = server.device.moves_accepted
    assert moves >= 5
    for fault in ZABER_FAULTS:
        for after in range(moves):
            server = serve(homed=True)
            server.device.inject(ZaberFault(fault, after_moves=after))
            code, out, err = run(capsys, *args[:3], server.url, *args[3:])
            device = server.device
            # A silent controller, or one whose cable was pulled, cannot tell us where it is.
            answers = not (device.silent or (fault == "disconnect" and device.moves_accepted > after))
            try:
                assert_told_truly(code, out, err, device.position_um() if answers else None)
            except AssertionError as exc:
                raise AssertionError(f"{fault} after {after}: {exc}") from None
            server.stop()
