"""A focus map measured through pymmcore-plus (our Micro-Manager XY and focus backends), its tile
list exported as a useq MDASequence file (``tiles-useq.json``, as ``autofocus map`` writes it),
read back and run as an MDA: every tile imaged within 1/2 DOF of the slide's true surface."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("pymmcore_plus")
pytest.importorskip("useq")

from tests.conftest import small_sim

from autofocus.devices.micromanager import open_core_microscope
from autofocus.focusmap import MapSettings, measure_map
from autofocus.micromanager import AutofocusCore
from autofocus.runner import AutofocusSettings
from autofocus.sim.mmdevices import SimulatedSlide, load_simulated_devices
from autofocus.sim.slide import Slide, SlideSpec
from autofocus.tiles import cell_centres, tiles_with_z, write_useq
from autofocus.xy import Region

REGION = Region(0, 0, 4_000, 3_000)
NOMINAL_Z_UM = 10_000.0


@pytest.fixture
def slide_and_core(tmp_path: Path) -> Iterator[tuple[SimulatedSlide, Slide, AutofocusCore]]:
    sim = small_sim(specimen="stained-tissue", start_um=NOMINAL_Z_UM)
    # A tilted, slightly warped slide: 3 um/mm and 2 um/mm, bumps of up to 8 um.
    truth = Slide(SlideSpec(tilt_x_um_per_mm=3.0, tilt_y_um_per_mm=-2.0, warp_um=8.0, warp_scale_um=3_000,
                            origin_um=(2_000, 1_500), extent_um=(0, 0, 4_000, 3_000), seed=3), 0.0)
    slide = SimulatedSlide(sim, truth.true_focus_um)  # height above the flat simulator's focus
    core = AutofocusCore(mm_path=str(tmp_path))
    load_simulated_devices(core, slide)
    yield slide, truth, core
    core.unloadAllDevices()


@pytest.mark.timeout(300)
def test_the_exported_sequence_images_every_tile_within_half_a_dof(
        slide_and_core: tuple[SimulatedSlide, Slide, AutofocusCore], tmp_path: Path) -> None:
    slide, _truth, core = slide_and_core
    dof = slide.sim.depth_of_field_um()
    scope = open_core_microscope(core)
    assert scope.xy_stage is not None
    search = AutofocusSettings(start_um=slide.sim.true_focus_um - 60, end_um=slide.sim.true_focus_um + 60,
                               step_um=2)
    focus_map = measure_map(scope, MapSettings(REGION, search, grid=(3, 3), window_um=20))
    assert focus_map.ok and not focus_map.set_apart

    tiles = tiles_with_z(cell_centres(REGION, 4, 5), focus_map.z_at)
    imaged: list[tuple[float, float]] = []

    def record(image: object, event: object, meta: object = None) -> None:
        imaged.append((core.getPosition(), slide.true_focus_um(*slide.xy_um)))

    import useq

    exported = tmp_path / "tiles-useq.json"
    write_useq(tiles, exported)
    sequence = useq.MDASequence.from_file(exported)  # the file, as a user hands it to an MDA
    read_back = [v for p in sequence.stage_positions for v in (p.x, p.y, p.z)]
    assert read_back == pytest.approx([v for t in tiles for v in (t.x_um, t.y_um, t.z_um)])
    core.mda.events.frameReady.connect(record)
    core.mda.run(sequence)
    assert len(imaged) == len(tiles) == 20
    spread = max(t for _, t in imaged) - min(t for _, t in imaged)
    assert spread > 2 * dof  # the tiles really differ in focus
    for z, true_z in imaged:
        assert abs(z - true_z) <= dof / 2, (z, true_z)
