import numpy as np
import pytest

from autofocus.errors import InputError
from autofocus.frames import crop, to_grey
from autofocus.metrics import prepare


def test_one_grey_formula_keeps_depth_and_channel_order() -> None:
    rgb = np.zeros((2, 3, 3), np.uint16)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 1000, 2000, 3000
    grey = to_grey(rgb)
    assert grey.dtype == np.uint16 and grey.shape == (2, 3)
    assert grey[0, 0] == round(0.299 * 1000 + 0.587 * 2000 + 0.114 * 3000)
    assert to_grey(rgb[..., ::-1], "BGR")[0, 0] == grey[0, 0]
    rgba = np.concatenate([rgb, np.full((2, 3, 1), 7, np.uint16)], axis=2)
    assert np.array_equal(to_grey(rgba), grey)  # alpha is ignored


def test_measures_see_the_same_grey_as_the_camera_backends() -> None:
    rgb = np.random.default_rng(0).integers(0, 255, (8, 9, 3), dtype=np.uint8)
    assert np.array_equal(prepare(rgb), to_grey(rgb))
    assert to_grey(rgb.astype(np.float64)).dtype == np.float32


def test_other_shapes_are_refused_and_grey_passes_through() -> None:
    grey = np.ones((4, 4), np.uint8)
    assert to_grey(grey) is grey
    with pytest.raises(ValueError, match="to grey"):
        to_grey(np.zeros((4, 4, 2), np.uint8))


def test_crop_is_a_view_and_checks_the_fit() -> None:
    frame = np.arange(20).reshape(4, 5)
    assert np.array_equal(crop(frame, (1, 2, 3, 2)), frame[2:4, 1:4])
    assert crop(frame, None) is frame
    with pytest.raises(InputError, match="does not fit"):
        crop(frame, (3, 0, 3, 1))
