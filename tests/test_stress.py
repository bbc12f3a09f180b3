import numpy as np
import pytest

from maskdet.evaluation import stress
from tests.conftest import synthetic_face

IMAGES = np.stack([synthetic_face(np.random.default_rng(i), masked=bool(i % 2), size=32) for i in range(4)])


@pytest.mark.parametrize("condition", list(stress.CONDITIONS))
def test_each_condition_keeps_shape_and_type_and_changes_pixels(condition):
    changed = stress.stress_images(IMAGES, condition)
    assert changed.shape == IMAGES.shape and changed.dtype == np.uint8
    assert not np.array_equal(changed, IMAGES)


def test_exposure_scales_linear_light():
    grey = np.full((1, 8, 8, 3), 200, np.uint8)
    quarter = stress.stress_images(grey, "dark (1/4 exposure)")
    ratio = stress._to_linear(quarter).mean() / stress._to_linear(grey).mean()
    assert ratio == pytest.approx(0.25, rel=0.02)
    eighth = stress.stress_images(grey, "dark (1/8 exposure)")
    assert eighth.mean() < quarter.mean() < grey.mean()


def test_conditions_are_deterministic():
    for condition in stress.CONDITIONS:
        assert np.array_equal(stress.stress_images(IMAGES, condition), stress.stress_images(IMAGES, condition))
