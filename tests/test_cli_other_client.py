"""Another client moves the stage during a run (two programs on one controller): the run must
notice before it trusts a frame or reports a result, and end as a hardware error naming it.
Through the real Zaber Motion Library: a second connection to the simulated controller moves the
axis while the first run is searching."""

from __future__ import annotations

import dataclasses

import pytest

zaber_motion = pytest.importorskip("zaber_motion")

from tests.devices.test_zaber import Serve, serve, zaber_env  # noqa: E402
from zaber_motion import Units  # noqa: E402
from zaber_motion.ascii import Connection  # noqa: E402

from autofocus import cli, connect  # noqa: E402
from autofocus.sim import SimConfig, SimulatedMicroscope  # noqa: E402
from autofocus.sim.camera import CameraSpec  # noqa: E402

__all__ = ["serve", "zaber_env"]


def test_a_stage_moved_by_another_client_is_exit_3_naming_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, serve: Serve
) -> None:
    server = serve(homed=True)
    port = int(server.url.rsplit(":", 1)[1])
    base = SimulatedMicroscope.camera_for_stage

    class Intruding(SimulatedMicroscope):
        def camera_for_stage(self, stage, *args, **kwargs):  # type: ignore[no-untyped-def]
            camera = base(self, stage, *args, **kwargs)
            grab, grabs = camera.grab, [0]

            def grab_and_intrude():  # type: ignore[no-untyped-def]
                grabs[0] += 1
                if grabs[0] == 3:  # run B, on its own connection, parks the stage at 9.95 mm
                    with Connection.open_tcp("127.0.0.1", port) as other:
                        other.get_device(3).get_axis(1).move_absolute(99_500, Units.NATIVE)
                return grab()

            camera.grab = grab_and_intrude  # type: ignore[method-assign]
            return camera

    def small(config: SimConfig) -> SimulatedMicroscope:
        return Intruding(dataclasses.replace(config, camera=CameraSpec(width=128, height=128)))

    monkeypatch.setattr(connect, "SimulatedMicroscope", small)
    code = cli.run_cli(["9.96", "10.06", "0.01", server.url, "--camera", "sim", "--strategy", "sweep"])
    captured = capsys.readouterr()
    assert code == 3, captured.out + captured.err
    assert "focused" not in captured.out
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "another program or client moved it" in lines[0], captured.err
    assert "9.950000 mm" in lines[0]
