"""The seeded contact sheet of heatmaps per class (maskdet.evaluation.explanations)."""

import numpy as np

from maskdet.core.gradcam import GradCam
from maskdet.evaluation.explanations import heatmap_sheet, sample_per_class
from tests.conftest import TINY_SIZE


def test_faces_are_drawn_per_class_at_random_but_reproducibly():
    labels = np.array([0] * 20 + [1] * 3 + [2] * 10)
    first = sample_per_class(labels, per_class=4, seed=3)
    assert np.array_equal(first, sample_per_class(labels, per_class=4, seed=3))
    assert np.bincount(labels[first]).tolist() == [4, 3, 4]
    assert not np.array_equal(first, sample_per_class(labels, per_class=4, seed=4))


def test_sheet_is_written_with_one_tile_per_drawn_face(tiny_model, tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (6, TINY_SIZE, TINY_SIZE, 3), dtype=np.uint8)
    landmarks = np.full((6, 5, 2), np.nan, np.float32)
    shown = heatmap_sheet(GradCam(tiny_model), images, np.array([0, 0, 1, 1, 2, 2]), landmarks,
                          tmp_path / "sheet.png", per_class=1)
    assert shown == 3 and (tmp_path / "sheet.png").stat().st_size > 1000
