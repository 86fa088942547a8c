"""The Zaber backend through the real Zaber Motion Library, against our simulated controller.

Zaber's web device database is out of reach here, and a test must never write the library's
global cache: every test gets its own store folder and, unless it says otherwise, no database
(native units). Database paths run in a subprocess: a bad database answer can abort Python.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("zaber_motion")

from autofocus.clock import VirtualClock
from autofocus.devices.zaber import ZaberStage, open_zaber_stage
from autofocus.errors import InputError, LimitError, StageError
from autofocus.sim.stage import SimStage, StageSpec
from autofocus.sim.zaber_protocol import SIM_NATIVE_UNIT_UM, SimZaberDevice, ZaberDeviceSpec, ZaberFault
from autofocus.sim.zaber_server import ZaberDeviceServer

FAST = 0.05
"""Real seconds per simulated second: homing from 9 mm takes ~0.1 s."""

Serve = Callable[..., ZaberDeviceServer]


@pytest.fixture(autouse=True)
def zaber_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Our store in a temporary folder, and no device database unless a test sets one."""
    store = tmp_path / "zaber-store"
    monkeypatch.setenv("AUTOFOCUS_ZABER_STORE", str(store))
    monkeypatch.setenv("AUTOFOCUS_ZABER_DEVICE_DB", "offline")
    return store


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start simulated controllers; all are stopped after the test, whatever happened."""
    servers: list[ZaberDeviceServer] = []

    def start(transport: str = "tcp", spec: ZaberDeviceSpec | None = None, homed: bool = False,
              start_um: float = 9_000.0) -> ZaberDeviceServer:
        stage = SimStage(VirtualClock(), StageSpec(), start_um)
        server = ZaberDeviceServer(SimZaberDevice(stage, spec, FAST, homed), transport)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


def open_stage(url: str, **options: object) -> ZaberStage:
    stage, _close = open_zaber_stage(url, **options)  # type: ignore[arg-type]
    assert isinstance(stage, ZaberStage)
    return stage


@pytest.mark.parametrize("transport", ["tcp", "pty"])
def test_connect_home_move_and_read_back(serve: Serve, transport: str) -> None:
    server = serve(transport)
    stage = open_stage(server.url)
    try:
        assert server.device.homed  # it had no reference position, so we homed it
        assert "home" in server.device.log
        assert stage.limits_um == pytest.approx((0.0, 25_000.0))
        assert "native units" in stage.description
        stage.move_to_um(10_012.3)
        assert stage.position_um() == pytest.approx(10_012.3, abs=SIM_NATIVE_UNIT_UM)
        assert server.device.position_um() == pytest.approx(10_012.3, abs=SIM_NATIVE_UNIT_UM)
        stage.stop()  # idle: must not raise
    finally:
        stage.close()


def test_a_homed_stage_is_not_homed_again(serve: Serve) -> None:
    server = serve(homed=True)
    stage = open_stage(server.url)
    stage.close()
    assert "home" not in server.device.log
    assert server.device.position_um() == 9_000.0


def test_native_unit_given_by_the_user_is_used_for_an_unknown_product(serve: Serve) -> None:
    server = serve(spec=ZaberDeviceSpec(device_id=424242), homed=True)
    stage = open_stage(server.url, native_unit_um=0.2)  # deliberately wrong: doubles every distance
    try:
        assert stage.limits_um[1] == pytest.approx(50_000.0)
        assert stage.position_um() == pytest.approx(18_000.0)
    finally:
        stage.close()


@pytest.mark.parametrize("factor", [1000.0, 0.2])
def test_a_native_unit_that_contradicts_the_known_one_is_refused_before_homing(
    serve: Serve, factor: float
) -> None:
    server = serve(homed=False)
    with pytest.raises(InputError, match=r"contradicts the 0.1 um per native unit known"):
        open_stage(server.url, native_unit_um=factor)
    assert server.device.moves_accepted == 0 and not server.device.homed


@pytest.mark.parametrize("factor", [float("inf"), float("nan"), 1e300, 1e-9, 0.0, -0.1])
def test_an_implausible_native_unit_is_refused(serve: Serve, factor: float) -> None:
    server = serve(spec=ZaberDeviceSpec(device_id=424242), homed=False)
    with pytest.raises(InputError, match=r"not a plausible native unit"):
        open_stage(server.url, native_unit_um=factor)
    assert server.device.moves_accepted == 0 and not server.device.homed


def test_no_native_position_outside_the_device_limits_is_sent(serve: Serve) -> None:
    server = serve(homed=True)
    stage = open_stage(server.url)
    try:
        commands = server.device.commands_received
        for z in (float("inf"), float("nan"), 26_000.0, -5.0):
            with pytest.raises(LimitError, match="refusing to send"):
                stage.move_to_um(z)
            with pytest.raises(LimitError, match="refusing to send"):
                stage.start_move_to_um(z, 100.0)
        assert server.device.commands_received == commands  # nothing reached the controller
        assert server.device.moves_accepted == 0
    finally:
        stage.close()


def test_unknown_product_without_factor_is_a_clear_input_error(serve: Serve) -> None:
    server = serve(spec=ZaberDeviceSpec(device_id=424242), homed=True)
    with pytest.raises(InputError, match=r"--native-unit-um") as info:
        open_stage(server.url)
    assert "424242:0" in str(info.value) and "--device-db" in str(info.value)


def test_a_learned_native_unit_is_used(serve: Serve, zaber_env: Path) -> None:
    zaber_env.mkdir(parents=True)
    (zaber_env / "native-units.json").write_text(json.dumps({"424242:0": 0.1}))
    server = serve(spec=ZaberDeviceSpec(device_id=424242), homed=True)
    stage = open_stage(server.url)
    try:
        assert stage.position_um() == pytest.approx(9_000.0)
    finally:
        stage.close()


def test_wrong_device_number(serve: Serve) -> None:
    server = serve()
    with pytest.raises(StageError, match=r"device 5 does not answer.*--device"):
        open_stage(server.url, device=5)


def test_missing_axis(serve: Serve) -> None:
    server = serve()
    with pytest.raises(StageError, match=r"BADAXIS.*--axis"):
        open_stage(server.url, axis=2)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_refused_connection_and_missing_serial_port() -> None:
    with pytest.raises(StageError, match=r"cannot connect to tcp://127\.0\.0\.1:\d+.*refused"):
        open_stage(f"tcp://127.0.0.1:{free_port()}")
    with pytest.raises(StageError, match=r"cannot open serial port /dev/ttyUSB_nope.*port name"):
        open_stage("/dev/ttyUSB_nope")


def test_move_outside_the_device_limits_is_a_limit_error(serve: Serve) -> None:
    server = serve(homed=True)
    stage = open_stage(server.url)
    try:
        with pytest.raises(LimitError, match="refusing to send 300000"):  # checked before sending
            stage.move_to_um(30_000.0)
        assert server.device.position_um() == 9_000.0  # never moved
    finally:
        stage.close()


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("stall", r"Stalled and Stopped \(FS\).*nothing blocks the stage"),
        ("reject", r"rejected \(DRIVERDISABLED\).*driver is disabled"),
        ("silence", r"no answer during the move.*power and cable"),
        ("disconnect", r"connection was lost during the move.*cable"),
    ],
)
def test_faults_become_stage_errors_saying_what_to_check(serve: Serve, fault: str, message: str) -> None:
    server = serve(homed=True)
    stage = open_stage(server.url)
    try:
        server.device.inject(ZaberFault(fault))
        with pytest.raises(StageError, match=message):
            stage.move_to_um(12_000.0)
        assert not server.device.is_busy()
    finally:
        stage.close()


def run_python(code: str, env_extra: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run a snippet in a fresh interpreter (a bad database may abort the whole process)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOFOCUS_ZABER")}
    env.update(AUTOFOCUS_ZABER_STORE=str(tmp_path / "sub-store"), **env_extra)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True,
                          text=True, timeout=60, check=False)


OPEN_AND_REPORT = """
    import sys
    from autofocus.devices.zaber import open_zaber_stage
    from autofocus.errors import AutofocusError
    try:
        stage, close = open_zaber_stage({url!r})
    except AutofocusError as exc:
        print("ERROR", type(exc).__name__, exc)
        sys.exit(exc.exit_code)
    print("OK", stage.description, stage.position_um())
    close()
"""


def test_unreachable_web_database_falls_back_to_native_units(serve: Serve, tmp_path: Path) -> None:
    server = serve(homed=True)
    mirror = f"http://127.0.0.1:{free_port()}/device-db"  # a mirror that refuses connections
    done = run_python(OPEN_AND_REPORT.format(url=server.url), {"AUTOFOCUS_ZABER_DEVICE_DB": mirror}, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "native units" in done.stdout and "9000.0" in done.stdout
    assert (tmp_path / "sub-store" / "device-db").is_dir()  # the library's store lives in ours


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a database at all", "is not a Zaber device database"),
        (None, "cannot be used"),  # a real SQLite file, but not Zaber's schema
    ],
)
def test_bad_database_files_are_clear_input_errors(
    serve: Serve, tmp_path: Path, content: bytes | None, message: str
) -> None:
    server = serve(homed=True)
    database = tmp_path / "devices.sqlite"
    if content is None:
        with sqlite3.connect(database) as db:
            db.execute("create table unrelated (x)")
    else:
        database.write_bytes(content)
    done = run_python(OPEN_AND_REPORT.format(url=server.url), {"AUTOFOCUS_ZABER_DEVICE_DB": str(database)},
                      tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stdout
    assert "Traceback" not in done.stderr


def test_missing_database_file(serve: Serve, tmp_path: Path) -> None:
    server = serve(homed=True)
    with pytest.raises(InputError, match="cannot read the Zaber device database"):
        open_stage(server.url, device_db=tmp_path / "absent.sqlite")


def test_continuous_move_at_a_set_speed(serve: Serve) -> None:
    server = serve(homed=True)
    stage = open_stage(server.url)
    try:
        stage.start_move_to_um(9_100.0, speed_um_s=500.0)
        command = [c for c in server.device.log if c.startswith("move abs")][-1]
        assert command == f"move abs 91000 {round(500.0 / SIM_NATIVE_UNIT_UM * 1.6384)}"
        assert stage.is_moving()
        deadline = time.monotonic() + 5
        while stage.is_moving() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert stage.position_um() == pytest.approx(9_100.0)
    finally:
        stage.close()


def test_continuous_move_ending_on_a_fault_flag_raises(serve: Serve) -> None:
    server = serve(homed=True)
    stage = open_stage(server.url)
    try:
        server.device.inject(ZaberFault("stall"))
        stage.start_move_to_um(9_100.0, speed_um_s=500.0)
        deadline = time.monotonic() + 5
        with pytest.raises(StageError, match="fault flag FS"):
            while time.monotonic() < deadline:
                stage.is_moving()
                time.sleep(0.01)
    finally:
        stage.close()
