"""Composite training faces from landmarks (maskdet.data.composite)."""

import numpy as np
import pytest

from maskdet.data.composite import (
    MASK, NO_MASK, WORN_WRONG, CompositeRecipe, Composer, face_units, paste_mask, swap_upper_face, usable_landmarks,
)

SIZE = 64
# right eye, left eye, nose tip, right and left mouth corner, as fractions of the crop
LANDMARKS = np.array([[0.35, 0.4], [0.65, 0.4], [0.5, 0.55], [0.4, 0.7], [0.6, 0.7]], np.float32)


def plain(value: int) -> np.ndarray:
    return np.full((SIZE, SIZE, 3), value, np.uint8)


def at(image: np.ndarray, v: float, u: float = 0.0) -> int:
    """Grey level at face position (u, v) of LANDMARKS."""
    us, vs = face_units(LANDMARKS, SIZE)
    y, x = np.unravel_index(np.argmin((us - u) ** 2 + (vs - v) ** 2), us.shape)
    return int(image[y, x, 0])


def test_face_units_put_eyes_at_zero_and_mouth_at_one():
    us, vs = face_units(LANDMARKS, SIZE)
    assert vs[int(0.4 * SIZE), SIZE // 2] == pytest.approx(0.0, abs=0.05)
    assert vs[int(0.7 * SIZE), SIZE // 2] == pytest.approx(1.0, abs=0.05)
    assert us[int(0.4 * SIZE), int(0.65 * SIZE)] == pytest.approx(0.5, abs=0.05)


def test_a_mask_worn_right_covers_nose_and_mouth_but_not_the_eyes():
    out = paste_mask(plain(200), LANDMARKS, plain(30), LANDMARKS, shift=0.0)
    assert at(out, 0.55) < 60 and at(out, 1.0) < 60  # nose tip and mouth covered
    assert at(out, 0.0) > 180  # eyes free


def test_a_lowered_mask_uncovers_the_nose_and_still_covers_the_chin():
    out = paste_mask(plain(200), LANDMARKS, plain(30), LANDMARKS, shift=0.5)
    assert at(out, 0.55) > 180  # nose tip free
    assert at(out, 1.3) < 60


def test_upper_face_swap_replaces_only_the_eye_band_and_above():
    out = swap_upper_face(plain(200), LANDMARKS, plain(10), LANDMARKS, cut=0.2)
    assert at(out, -0.3) < 30 and at(out, 0.0) < 60
    assert at(out, 0.8) > 190


def test_faces_without_plausible_landmarks_are_not_usable():
    missing = np.full((5, 2), np.nan, np.float32)
    upside_down = LANDMARKS.copy()
    upside_down[:, 1] = 1.0 - upside_down[:, 1]
    assert usable_landmarks(np.stack([LANDMARKS, missing, upside_down])).tolist() == [True, False, False]


def test_composer_labels_what_it_makes():
    images = np.stack([plain(200), plain(30), plain(120)])
    labels = np.array([NO_MASK, MASK, NO_MASK])
    landmarks = np.stack([LANDMARKS] * 3)
    only_worn = Composer(images, labels, landmarks, CompositeRecipe(worn_wrong=1.0, mask=0.0, upper_swap=0.0))
    image, label = only_worn(0)
    assert label == WORN_WRONG and at(image, 1.3) < 60
    nothing = Composer(images, labels, landmarks, CompositeRecipe(0.0, 0.0, 0.0))
    image, label = nothing(2)
    assert label == NO_MASK and np.array_equal(image, images[2])


def test_composer_without_masked_donors_returns_real_images():
    images = np.stack([plain(200), plain(120)])
    composer = Composer(images, np.array([NO_MASK, NO_MASK]), np.stack([LANDMARKS] * 2),
                        CompositeRecipe(worn_wrong=1.0, mask=0.0, upper_swap=0.0))
    assert composer(1)[1] == NO_MASK
