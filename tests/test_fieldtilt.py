"""Field tilt in one sweep: regions scored in every frame of one search, live and recorded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from tests.conftest import small_sim

from autofocus import cli
from autofocus.errors import InputError
from autofocus.fieldtilt import RegionScorer, field_tilt, parse_regions, stack_field_tilt
from autofocus.runner import AutofocusSettings, run_autofocus
from autofocus.sim.slide import SlideSpec

SEARCH = AutofocusSettings(start_um=9_900, end_um=10_100, step_um=5)


def tilted_field(corner_to_corner_dof: float):  # type: ignore[no-untyped-def]
    dof = small_sim().depth_of_field_um()
    total = corner_to_corner_dof * dof
    # 60 % of the tilt along x, 40 % along y: corner to corner it adds up to the total.
    return small_sim(specimen="stained-tissue",
                     slide=SlideSpec(field_tilt_x_um=0.6 * total, field_tilt_y_um=0.4 * total)), total


@pytest.mark.timeout(240)
def test_a_field_tilted_by_two_dof_is_measured_within_20_percent_and_warned() -> None:
    sim, total = tilted_field(2.0)
    scorer = RegionScorer((3, 3))
    result = run_autofocus(sim.devices(), SEARCH, on_frame=scorer.on_frame)
    assert result.focused
    tilt = scorer.result(sim.depth_of_field_um())
    assert tilt.span_um == pytest.approx(total, rel=0.2)
    assert tilt.tilt_x_um == pytest.approx(0.6 * total, rel=0.25)
    assert tilt.direction_deg is not None and 0 < tilt.direction_deg < 90  # rises right and down
    assert "more than the depth of field" in tilt.warning


@pytest.mark.timeout(240)
def test_an_untilted_field_gives_no_warning() -> None:
    sim, _ = tilted_field(0.0)
    scorer = RegionScorer((3, 3))
    run_autofocus(sim.devices(), SEARCH, on_frame=scorer.on_frame)
    tilt = scorer.result(sim.depth_of_field_um())
    assert tilt.span_um is not None and tilt.span_um < sim.depth_of_field_um() / 4
    assert tilt.warning == ""


def record_stack(path: Path, corner_to_corner_dof: float) -> float:
    sim, total = tilted_field(corner_to_corner_dof)
    dof = sim.depth_of_field_um()
    planes = []
    for z in sim.true_focus_um + np.arange(-10, 11) * dof / 4:
        sim.stage.move_to_um(float(z))
        sim.clock.sleep(0.2)
        planes.append(sim.camera.grab())
    tifffile.imwrite(path, np.stack(planes))
    return total


@pytest.mark.timeout(240)
def test_recorded_stacks_report_the_tilt_and_the_cli_warns(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    dof = small_sim().depth_of_field_um()
    path = tmp_path / "tilted.tif"
    total = record_stack(path, 2.0)
    tilt = stack_field_tilt(str(path), (3, 3), z_step_um=dof / 4, dof_um=dof)
    assert tilt.span_um == pytest.approx(total, rel=0.2)
    code = cli.run_cli(["stack", str(path), "--z-step-um", f"{dof / 4}", "--regions", "3x3",
                        "--dof-um", f"{dof}"])
    out = capsys.readouterr().out
    assert code == 0
    assert "field tilt:" in out and "warning: focus varies" in out


@pytest.mark.timeout(240)
def test_an_untilted_recorded_stack_reports_the_tilt_without_a_warning(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dof = small_sim().depth_of_field_um()
    path = tmp_path / "flat.tif"
    record_stack(path, 0.0)
    code = cli.run_cli(["stack", str(path), "--z-step-um", f"{dof / 4}", "--regions", "3x3",
                        "--dof-um", f"{dof}"])
    out = capsys.readouterr().out
    assert code == 0
    assert "field tilt:" in out and "warning" not in out


def test_bad_region_grids_are_input_errors() -> None:
    for text in ("1x1", "3", "0x3", "axb"):
        with pytest.raises(InputError):
            parse_regions(text)
    assert parse_regions("3x3") == (3, 3)


def regions_peaking_at(focus_um: list[float], centres: list[tuple[int, int, float, float]]
                       ) -> tuple[list[float], list[list[float]]]:
    """Each region's score a Gaussian in z with its top at that region's focus (a sweep)."""
    zs = [float(z) for z in np.arange(-20.0, 20.5, 0.5)]
    scores = [[1.0 + 50.0 * float(np.exp(-((z - top) ** 2) / 8.0)) for top in focus_um] for z in zs]
    return zs, scores


def test_two_regions_side_by_side_measure_the_tilt_across_the_width() -> None:
    # A 1x2 grid passes --regions (two regions along one side): its tilt is a line, not a plane.
    centres = [(0, 0, -0.25, 0.0), (0, 1, 0.25, 0.0)]
    zs, scores = regions_peaking_at([-1.5, 1.5], centres)
    tilt = field_tilt((1, 2), centres, zs, scores, dof_um=4.0)
    assert tilt.tilt_x_um == pytest.approx(6.0, abs=0.2)  # 3 um over half the width
    assert tilt.tilt_y_um == 0.0 and tilt.warning != ""


def test_two_regions_found_on_a_diagonal_are_too_few_for_a_tilt() -> None:
    # Two points cannot fix a tilt along two axes: no answer rather than an arbitrary one.
    centres = [(0, 0, -0.25, -0.25), (1, 1, 0.25, 0.25)]
    zs, scores = regions_peaking_at([-1.0, 1.0], centres)
    tilt = field_tilt((2, 2), centres, zs, scores, dof_um=4.0)
    assert tilt.span_um is None and "too few" in tilt.reason
