"""Tracking focus through a time-lapse: the drift model, the two-frame ``track`` step and its
escalation, and whole simulated time-lapses (rows, accuracy, limits, interruption, the log)."""

from __future__ import annotations

import csv
import json
import math
import signal
import statistics
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import small_sim

from autofocus.errors import FocusNotFound, InputError
from autofocus.interrupt import Interrupted
from autofocus.runner import AutofocusSettings
from autofocus.search import CallableProbe
from autofocus.sim.drift import Drift
from autofocus.sim.slide import slide_preset
from autofocus.space import SearchSpace
from autofocus.strategies.refocus import SIGMA_PER_DOF
from autofocus.strategies.tracking import track as track_step
from autofocus.track import (
    LOG_COLUMNS,
    DriftModel,
    TrackLog,
    TrackRow,
    TrackSettings,
    check_log_path,
    track,
    write_log,
)
from autofocus.xy import Region

DOF = 4.0


# -- the drift model -------------------------------------------------------------------------
def smooth_drift(t: float) -> float:
    """Thermal (3 um/h on a daily cycle) and creep (6 um over 3 h), as on a stand."""
    return 3.0 * 24 / (2 * math.pi) * math.sin(2 * math.pi * t / 86_400) + 6 * (1 - math.exp(-t / 10_800))


def test_the_drift_model_follows_smooth_drift() -> None:
    rng = np.random.default_rng(1)
    model = DriftModel()
    errors = []
    for k in range(60):
        t = 300.0 * k
        truth = 10_000 + smooth_drift(t)
        predicted = model.predict(t)
        if predicted is not None and k >= 4:
            errors.append(abs(predicted - truth))
        model, jumped = model.observe(t, truth + float(rng.normal(0, 0.05)), DOF)
        assert not jumped
    # Each interval drifts up to 0.4 um (what the last answer alone would miss by); the line,
    # through answers that scatter by 0.05 um, predicts it to about that scatter.
    assert statistics.median(errors) < 0.06 and max(errors) < 0.2
    assert len(model.history) <= 8


def test_a_step_is_a_jump_and_starts_the_model_again() -> None:
    model = DriftModel()
    for k in range(10):
        model, _ = model.observe(300.0 * k, 10_000 + 0.01 * k, DOF)
    assert not model.is_jump(3_000.0, 10_000.2, DOF)
    model, jumped = model.observe(3_000.0, 10_010.1, DOF)
    assert jumped and model.history == ((3_000.0, 10_010.1),)
    assert model.predict(3_300.0) == pytest.approx(10_010.1)  # the bump is not smeared in


def test_one_stray_answer_does_not_bend_the_line() -> None:
    model = DriftModel()
    for k in range(7):
        model, _ = model.observe(300.0 * k, 10_000 + 0.1 * k + (1.5 if k == 5 else 0.0), DOF)
    assert model.predict(2_100.0) == pytest.approx(10_000.7, abs=0.05)


# -- the two-frame step ----------------------------------------------------------------------
def gaussian(z0: float, top: float = 100.0, floor: float = 1.0) -> CallableProbe:
    sigma = SIGMA_PER_DOF * DOF
    space = SearchSpace(9_900, 10_100, 1.0, 10_000)

    def score(z: float) -> float:
        return floor + top * math.exp(-((z - z0) ** 2) / (2 * sigma**2))

    return CallableProbe(score, space)


def space_for(expected: float | None) -> SearchSpace:
    return SearchSpace(9_900, 10_100, 1.0, 10_000, dof_um=DOF, expected_top=expected)


def test_small_drift_takes_two_frames() -> None:
    probe = gaussian(10_000 + 0.15 * DOF)
    peak = track_step(probe, space_for(100.0))
    assert probe.curve.frames_taken == 2 and peak.method == "track-two-frame"
    assert abs(peak.z_um - (10_000 + 0.15 * DOF)) < 0.05 * DOF
    assert peak.confidence > 0.8


def test_focus_that_jumped_escalates_and_reuses_the_two_frames() -> None:
    probe = gaussian(10_000 + 2.5 * DOF)
    peak = track_step(probe, space_for(100.0))
    assert peak.method != "track-two-frame"
    assert abs(peak.z_um - (10_000 + 2.5 * DOF)) < 0.1 * DOF
    z = [s.z_um for s in probe.curve.samples]
    assert z[:2] == [10_000 - DOF / 2, 10_000 + DOF / 2]
    assert z.count(z[0]) == 1 and z.count(z[1]) == 1  # refocus read them, did not take them again


def test_a_peak_far_lower_than_expected_is_not_trusted() -> None:
    # Two frames of a peak at the prediction, but a tenth of the height seen before (focus lost
    # and a fainter structure in view, or the frames sit on the far flanks of a moved peak).
    probe = gaussian(10_000.0, top=10.0)
    peak = track_step(probe, space_for(100.0))
    assert peak.method != "track-two-frame" and probe.curve.frames_taken > 2


def test_without_an_expected_height_track_is_refocus() -> None:
    probe = gaussian(10_000 + 0.1 * DOF)
    assert track_step(probe, space_for(None)).method.startswith("refocus")


def test_an_empty_field_is_not_found() -> None:
    space = space_for(100.0)
    probe = CallableProbe(lambda z: 1.0 + 1e-3 * math.sin(z), space)
    with pytest.raises(FocusNotFound):
        track_step(probe, space)


# -- whole time-lapses on the simulator --------------------------------------------------------
STEP_AT_S = 3_250.0


def drifting_sim(**overrides: object):  # type: ignore[no-untyped-def]
    drift = Drift(thermal_um_h=3.0, creep_um=6.0, steps=((STEP_AT_S, 10.0),),
                  wander_um_per_sqrt_h=0.3, seed=2)
    return small_sim(drift=drift, seed=5, **overrides)


def recorded_moves(sim, monkeypatch: pytest.MonkeyPatch) -> list[float]:  # type: ignore[no-untyped-def]
    targets: list[float] = []
    for name in ("move_to_um", "start_move_to_um"):
        original = getattr(sim.stage, name)

        def record(z: float, *args: object, _original=original) -> None:  # type: ignore[no-untyped-def]
            targets.append(z)
            _original(z, *args)

        monkeypatch.setattr(sim.stage, name, record)
    return targets


def test_a_simulated_time_lapse_stays_within_a_quarter_depth_of_field(
        monkeypatch: pytest.MonkeyPatch) -> None:
    sim = drifting_sim()
    moves = recorded_moves(sim, monkeypatch)
    dof = sim.depth_of_field_um()
    settings = TrackSettings(AutofocusSettings(9_950, 10_080, 2.0), every_s=300, duration_s=7_200)
    log = track(sim.devices(), settings, truth=lambda: sim.true_focus_um)
    assert len(log.rows) == 24 == len(settings.time_points())
    assert [r.time_point for r in log.rows] == list(range(24))
    assert all(r.status == "focused" for r in log.rows)
    assert max(abs(r.error_um or math.inf) for r in log.rows) <= dof / 4
    after = next(r for r in log.rows if r.time_s > STEP_AT_S)
    assert after.jump and after.method in ("refocus", "search")
    assert after.correction_um == pytest.approx(10.0, abs=1.0)
    assert sum(r.jump for r in log.rows) == 1
    assert log.rows[0].method == "search"
    assert sum(r.method == "track" for r in log.rows) >= 18
    assert sum(r.frames for r in log.rows[1:]) / 23 <= 4
    assert moves and all(9_950 <= z <= 10_080 for z in moves)


def test_focus_beyond_the_range_is_logged_not_found_and_the_run_goes_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    sim = small_sim(drift=Drift(steps=((450.0, 12.0),)), seed=1)
    moves = recorded_moves(sim, monkeypatch)
    settings = TrackSettings(AutofocusSettings(9_990, 10_020, 1.0), every_s=300, duration_s=1_200)
    log = track(sim.devices(), settings)
    assert [r.status for r in log.rows] == ["focused", "focused", "not_found", "not_found"]
    lost = log.rows[2]
    assert lost.z_um is None and lost.reason and lost.method == "search"
    assert lost.final_z_um is not None and 9_990 <= lost.final_z_um <= 10_020
    assert all(9_990 <= z <= 10_020 for z in moves)


def test_several_positions_one_row_each_per_time_point() -> None:
    positions = ((20_000.0, 17_500.0), (23_000.0, 17_500.0))
    sim = drifting_sim(slide=slide_preset("tilted", 1, origin_um=positions[0]), xy_start_um=positions[0])
    dof = sim.depth_of_field_um()
    settings = TrackSettings(AutofocusSettings(9_900, 10_100, 2.0), every_s=600, duration_s=1_800,
                             positions=positions)
    log = track(sim.devices(), settings, truth=lambda: sim.true_focus_um)
    assert [(r.time_point, r.position) for r in log.rows] == [(k, i) for k in range(3) for i in range(2)]
    assert [(r.x_um, r.y_um) for r in log.rows[:2]] == list(positions)
    assert all(abs(r.error_um or math.inf) <= dof / 4 for r in log.rows)
    assert {(m.x_um, m.y_um) for m in sim.xy_stage.log} <= set(positions)
    assert log.positions == 2 and log.summary()["rows"] == 6


def test_interrupted_between_time_points_says_where_it_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    sim = small_sim(seed=1)
    sleep = sim.clock.sleep

    def wait(seconds: float) -> None:
        if seconds > 60:  # the wait for the next time point (the hardware's waits are shorter)
            raise Interrupted(signal.SIGINT)
        sleep(seconds)

    monkeypatch.setattr(sim.clock, "sleep", wait)
    rows: list[TrackRow] = []
    with pytest.raises(Interrupted) as caught:
        track(sim.devices(), TrackSettings(AutofocusSettings(9_950, 10_080, 2.0), 300, 900),
              on_row=rows.append)
    assert len(rows) == 1
    assert "stopped before time point 2" in caught.value.stage_state


# -- settings and the log ----------------------------------------------------------------------
@pytest.mark.parametrize("change", [
    {"every_s": 0.0}, {"duration_s": math.nan}, {"every_s": -5.0}, {"positions": ()},
    {"positions": ((0.0, 0.0),), "region": Region(10, 10, 20, 20)}, {"clearance_um": -1.0},
    {"every_s": 1e-3, "duration_s": 1e9},
])
def test_impossible_settings_are_input_errors(change: dict[str, object]) -> None:
    values: dict[str, object] = {"search": AutofocusSettings(9_900, 10_100, 5.0), "every_s": 300.0,
                                 "duration_s": 3_600.0} | change
    with pytest.raises(InputError):
        TrackSettings(**values).validate()  # type: ignore[arg-type]


def test_time_points_every_interval_before_the_end() -> None:
    settings = TrackSettings(AutofocusSettings(9_900, 10_100, 5.0), every_s=300, duration_s=43_200)
    points = settings.time_points()
    assert len(points) == 144 and points[:2] == [0.0, 300.0] and points[-1] == 42_900.0


def sample_log() -> TrackLog:
    rows = (
        TrackRow(0, 0.0, 0, None, None, None, 10_000.0, 10_000.0, 25, 0.25, 1.2, 1.3, 0.9, "focused",
                 "", "", "search", False, 10_000.1),
        TrackRow(1, 300.0, 0, None, None, 10_000.0, 10_000.4, 10_000.4, 2, 0.02, 0.1, 0.1, 0.95,
                 "focused", "", "", "track", False, 10_000.35),
        TrackRow(2, 600.0, 0, None, None, 10_000.8, None, 10_000.4, 30, 0.3, 2.0, 2.1, 0.0,
                 "not_found", "flat", "the curve is flat", "search", False, None),
    )
    return TrackLog(rows, 300.0, 900.0, 3.9)


def test_the_csv_log_has_one_line_per_row(tmp_path: Path) -> None:
    path = tmp_path / "track.csv"
    write_log(sample_log(), path)
    with path.open() as handle:
        lines = list(csv.DictReader(handle))
    assert list(lines[0]) == list(LOG_COLUMNS)
    assert len(lines) == 3 and lines[1]["method"] == "track"
    assert float(lines[1]["correction_um"]) == pytest.approx(0.4)
    assert lines[2]["z_um"] == "" and lines[2]["reason_code"] == "flat"


def test_the_json_log_holds_rows_and_summary(tmp_path: Path) -> None:
    path = tmp_path / "track.json"
    write_log(sample_log(), path)
    data = json.loads(path.read_text())
    assert [r["time_point"] for r in data["rows"]] == [0, 1, 2]
    assert set(data["rows"][0]) == set(LOG_COLUMNS)
    summary = data["summary"]
    assert summary["frames"] == 57 and summary["not_found"] == 1
    assert summary["methods"] == {"track": 1, "refocus": 0, "search": 2}
    assert summary["rms_error_um"] == pytest.approx(math.sqrt((0.1**2 + 0.05**2) / 2))


@pytest.mark.parametrize("name", ["track.txt", "track"])
def test_the_log_must_be_csv_or_json(tmp_path: Path, name: str) -> None:
    with pytest.raises(InputError):
        check_log_path(tmp_path / name)
    with pytest.raises(InputError):
        check_log_path(tmp_path)  # a folder


def test_a_narrow_focus_curve_is_tracked_too() -> None:
    # Beads under 40x/0.75: a curve narrower than the objective's depth of field implies, which
    # the time-lapse measures at rest and sizes its two frames by.
    sim = small_sim(objective="40x", specimen="beads", seed=4,
                    drift=Drift(thermal_um_h=3.0, creep_um=4.0, wander_um_per_sqrt_h=0.3, seed=4))
    dof = sim.depth_of_field_um()
    settings = TrackSettings(AutofocusSettings(9_950, 10_080, 1.0), every_s=300, duration_s=3_600)
    log = track(sim.devices(), settings, truth=lambda: sim.true_focus_um)
    assert all(abs(r.error_um or math.inf) <= dof / 4 for r in log.rows)
    assert sum(r.method == "track" for r in log.rows) >= 9
