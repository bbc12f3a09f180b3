import numpy as np
import pytest
import tensorflow as tf

from maskdet.data import augment
from tests.conftest import synthetic_face

IMAGE = tf.constant(synthetic_face(np.random.default_rng(0), masked=True, size=64).astype(np.float32))


@pytest.mark.parametrize("change", [augment.frame, augment.expose, augment.backlight, augment.shift_colour,
                                    augment.greyscale, augment.blur, augment.lower_resolution,
                                    augment.recompress, augment.add_noise, augment.add_eyewear, augment.make_grey_thumbnail,
                                    augment.augment_image])
def test_every_change_keeps_the_shape_and_changes_the_pixels(change):
    tf.random.set_seed(3)
    changed = change(IMAGE).numpy()
    assert changed.shape == (64, 64, 3) and changed.dtype == np.float32
    assert np.abs(changed - IMAGE.numpy()).mean() > 0.5


def test_the_full_pipeline_stays_in_pixel_range_and_varies():
    tf.random.set_seed(0)
    outputs = np.stack([augment.augment_image(IMAGE).numpy() for _ in range(12)])
    assert outputs.min() >= 0 and outputs.max() <= 255
    assert len({o.tobytes() for o in outputs}) == 12


def test_greyscale_has_equal_channels_and_backlight_darkens_the_centre():
    grey = augment.greyscale(IMAGE).numpy()
    assert np.allclose(grey[..., 0], grey[..., 1]) and np.allclose(grey[..., 1], grey[..., 2])
    flat = tf.fill((64, 64, 3), 128.0)
    lit = augment.backlight(flat).numpy()
    assert lit[32, 32].mean() < 80 and lit[0, 0].mean() > 180


def test_eyewear_covers_the_eye_line_and_leaves_the_mouth_alone():
    flat = tf.fill((128, 128, 3), 200.0)
    for seed in range(8):
        tf.random.set_seed(seed)
        worn = augment.add_eyewear(flat).numpy()
        changed_rows = np.nonzero((np.abs(worn - 200.0) > 1).any(axis=(1, 2)))[0] / 128
        assert len(changed_rows) > 0
        assert changed_rows.min() > 0.2 and changed_rows.max() < 0.62  # brows to cheekbones, never the mouth
        assert worn[int(0.41 * 128)].min() < 150  # lenses or rims cross the middle of the eye band


def test_the_recipe_without_eyewear_never_draws_glasses():
    flat = tf.fill((64, 64, 3), 200.0)
    tf.random.set_seed(0)
    assert augment.augment_without_eyewear(flat).numpy().shape == (64, 64, 3)
    assert augment.augment_without_eyewear.keywords == {"eyewear": 0.0}


def test_a_grey_thumbnail_is_grey_and_holds_no_more_detail_than_56_px():
    size = 128
    rng = np.random.default_rng(1)
    detailed = tf.constant(rng.uniform(0, 255, (size, size, 3)).astype(np.float32))
    for seed in range(4):
        tf.random.set_seed(seed)
        thumb = augment.make_grey_thumbnail(detailed).numpy()
        assert thumb.shape == (size, size, 3)
        assert np.allclose(thumb[..., 0], thumb[..., 1], atol=1e-3) and np.allclose(thumb[..., 1], thumb[..., 2], atol=1e-3)
        neighbours = np.abs(np.diff(thumb[..., 0], axis=1)).mean()
        assert neighbours < 0.5 * np.abs(np.diff(detailed.numpy()[..., 0], axis=1)).mean()  # pixel noise smoothed away


def test_the_grey_thumbnail_recipe_draws_them_and_the_default_does_not():
    colour = tf.constant(np.dstack([np.full((64, 64), v, np.float32) for v in (220.0, 60.0, 30.0)]))
    def grey_share(change) -> float:
        tf.random.set_seed(5)
        outs = [change(colour).numpy() for _ in range(60)]
        return np.mean([np.allclose(o[..., 0], o[..., 2], atol=2) for o in outs])
    with_thumbnails = grey_share(augment.augment_with_grey_thumbnails)
    default = grey_share(augment.augment_image)
    assert with_thumbnails > default
