import numpy as np

from maskdet.core.gradcam import GradCam
from maskdet.evaluation.pointing import heatmap_peaks, in_nose_mouth_region, pointing_game
from tests.conftest import TINY_SIZE

# Upright face in [0, 1] crop coordinates: eyes at y 0.4, nose 0.55, mouth corners 0.7.
FACE = np.array([[0.35, 0.4], [0.65, 0.4], [0.5, 0.55], [0.4, 0.7], [0.6, 0.7]], np.float32)


def test_region_is_below_the_eyes_and_above_the_chin():
    assert in_nose_mouth_region(np.array([0.5, 0.6]), FACE)  # mouth
    assert in_nose_mouth_region(np.array([0.5, 0.45]), FACE)  # nose bridge, just below the eyes
    assert not in_nose_mouth_region(np.array([0.5, 0.3]), FACE)  # forehead
    assert not in_nose_mouth_region(np.array([0.5, 1.05]), FACE)  # below the chin
    assert not in_nose_mouth_region(np.array([0.05, 0.6]), FACE)  # beside the face


def test_region_turns_with_the_face():
    angle = np.deg2rad(90)  # face lying on its side: "below the eyes" now points to -x
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    turned = (FACE - 0.5) @ rotation.T + 0.5
    mouth = (np.array([0.5, 0.65]) - 0.5) @ rotation.T + 0.5
    forehead = (np.array([0.5, 0.3]) - 0.5) @ rotation.T + 0.5
    assert in_nose_mouth_region(mouth, turned) and not in_nose_mouth_region(forehead, turned)


def test_pointing_game_counts_hits_per_class_and_leaves_out_faces_without_landmarks(tiny_model):
    engine = GradCam(tiny_model)
    images = np.random.default_rng(0).uniform(0, 255, (6, TINY_SIZE, TINY_SIZE, 3)).astype(np.uint8)
    peaks = heatmap_peaks(engine, images)
    assert peaks.shape == (6, 2) and np.all((peaks > 0) & (peaks < 1))
    labels = np.array([0, 0, 0, 1, 1, 1])
    landmarks = np.stack([FACE] * 6)
    landmarks[2] = np.nan
    result = pointing_game(engine, images, labels, landmarks)
    assert result["no_mask"]["faces"] == 2 and result["no_mask"]["left_out_no_landmarks"] == 1
    assert result["mask"]["faces"] == 3 and result["mask"]["left_out_no_landmarks"] == 0
    expected = np.mean([in_nose_mouth_region(p, FACE) for p in peaks[3:]])
    assert result["mask"]["peak_on_nose_mouth"] == expected
