"""The simulated Zaber controller at the protocol level: no Zaber library, a hand-driven clock."""

from __future__ import annotations

import pytest

from autofocus.clock import VirtualClock
from autofocus.sim.stage import SimStage, StageSpec
from autofocus.sim.zaber_protocol import (
    SimZaberDevice,
    ZaberFault,
    lrc,
    parse_request,
)


class ManualTime:
    """Wall-clock stand-in that moves only when told to."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def wall() -> ManualTime:
    return ManualTime()


@pytest.fixture
def device(wall: ManualTime) -> SimZaberDevice:
    stage = SimStage(VirtualClock(), StageSpec(), 9_000.0)
    return SimZaberDevice(stage, time_scale=1.0, now=wall)


def ask(device: SimZaberDevice, command: str, message_id: str = "07") -> list[str]:
    reply = device.handle_line(f"/3 1 {message_id} {command}".rstrip() + "\n")
    assert reply is not None, f"no reply to {command!r}"
    return reply.split()


def settle(device: SimZaberDevice, wall: ManualTime) -> None:
    for _ in range(1000):
        if ask(device, "")[4] == "IDLE":
            return
        wall.advance(0.05)
    raise AssertionError("the device never became idle")


def test_checksum_is_the_byte_sum_complement() -> None:
    # Measured from zaber-motion 10.2: it sends "/3 0 00 get deviceid:40".
    assert lrc("3 0 00 get deviceid") == "40"
    assert parse_request("/3 0 00 get deviceid:40") is not None
    assert parse_request("/3 0 00 get deviceid:41") is None  # dropped: the sender times out


def test_reply_echoes_the_id_and_a_checksum_when_the_command_had_one(device: SimZaberDevice) -> None:
    payload = "3 0 12 get deviceid"
    reply = device.handle_line(f"/{payload}:{lrc(payload)}\n")
    assert reply is not None
    body, _, checksum = reply[1:].partition(":")
    assert body.split()[:5] == ["03", "0", "12", "OK", "IDLE"]
    assert checksum == lrc(body)
    assert device.handle_line("/3 0 13 get deviceid") == f"@03 0 13 OK IDLE WR {device.spec.device_id}"


def test_other_addresses_are_ignored_and_address_0_is_everyone(device: SimZaberDevice) -> None:
    assert device.handle_line("/5 0 01 get deviceid") is None
    assert device.handle_line("/0 0 00") == "@03 0 00 OK IDLE WR 0"  # what detect_devices sends
    assert device.handle_line("garbage") is None


def test_settings_and_rejections(device: SimZaberDevice) -> None:
    assert ask(device, "get limit.max")[-1] == str(round(25_000 / device.spec.native_unit_um))
    assert ask(device, "get pos")[-1] == str(round(9_000 / device.spec.native_unit_um))
    assert ask(device, "get no.such.setting")[3:] == ["RJ", "IDLE", "WR", "BADCOMMAND"]
    assert device.handle_line("/3 2 01 get pos") == "@03 2 01 RJ IDLE WR BADAXIS"
    assert ask(device, "move abs 999999999")[3] == "RJ"
    assert ask(device, "move abs 999999999")[-1] == "BADDATA"  # outside limit.min..limit.max
    assert ask(device, "move abs 12.5")[-1] == "BADDATA"


def test_home_then_move_is_busy_in_real_time_then_idle(device: SimZaberDevice, wall: ManualTime) -> None:
    assert ask(device, "warnings")[-2:] == ["01", "WR"]  # no reference position yet
    assert ask(device, "home")[3:5] == ["OK", "BUSY"]
    wall.advance(0.1)
    midway = device.position_um()
    assert 0 < midway < 9_000  # carriage on its way home, not teleported
    settle(device, wall)
    assert device.homed and device.position_um() == 0.0
    assert ask(device, "warnings")[-1] == "00"

    ask(device, "move abs 100000")  # 10 mm
    assert ask(device, "")[4] == "BUSY"
    settle(device, wall)
    assert device.position_um() == pytest.approx(10_000.0)
    assert ask(device, "get pos")[-1] == "100000"


def test_time_scale_speeds_the_clock(wall: ManualTime) -> None:
    fast = SimZaberDevice(time_scale=0.01, homed=True, now=wall)
    fast.handle_line("/3 1 01 move abs 0")
    wall.advance(0.05)  # 5 simulated seconds: any move on 25 mm of travel is over
    assert not fast.is_busy() and fast.position_um() == 0.0


def test_stall_stops_midway_with_flag_fs_until_cleared(device: SimZaberDevice, wall: ManualTime) -> None:
    device.homed = True
    device.inject(ZaberFault("stall", after_moves=1, fraction=0.5))
    ask(device, "move abs 91000")
    settle(device, wall)
    assert ask(device, "")[5] == "--"
    ask(device, "move abs 101000")  # 9.1 -> 10.1 mm, stalls near 9.6 mm
    settle(device, wall)
    assert ask(device, "")[5] == "FS"
    assert device.position_um() == pytest.approx(9_600.0, abs=5.0)
    assert ask(device, "warnings clear")[-2:] == ["01", "FS"]
    assert ask(device, "")[5] == "--"


def test_rejection_fault(device: SimZaberDevice) -> None:
    device.inject(ZaberFault("reject", reason="DRIVERDISABLED"))
    assert ask(device, "move abs 100")[3:] == ["RJ", "IDLE", "WR", "DRIVERDISABLED"]
    assert ask(device, "move abs 100")[3] == "OK"  # one rejection, then normal again


def test_silence_obeys_but_never_answers(device: SimZaberDevice, wall: ManualTime) -> None:
    device.homed = True
    device.inject(ZaberFault("silence"))
    assert device.handle_line("/3 1 01 move abs 200000") is None
    assert device.is_busy()
    assert device.handle_line("/3 1 02 stop") is None
    assert device.stops_received == 1 and not device.is_busy()


def test_disconnect_calls_the_transport_and_halts(device: SimZaberDevice, wall: ManualTime) -> None:
    pulled: list[float] = []
    device.on_disconnect = lambda: pulled.append(device.position_um())
    device.homed = True
    device.inject(ZaberFault("disconnect", fraction=0.25))
    ask(device, "move abs 130000")  # 9 -> 13 mm
    wall.advance(5.0)  # nobody polled: the cut still happens at its planned point
    assert not device.is_busy()
    assert pulled and pulled[0] == pytest.approx(10_000.0, abs=5.0)


def test_fault_validation() -> None:
    with pytest.raises(ValueError, match="unknown Zaber fault"):
        ZaberFault("gremlins")
    with pytest.raises(ValueError, match="fraction"):
        ZaberFault("stall", fraction=1.0)
