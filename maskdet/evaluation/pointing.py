"""Pointing game: does the Grad-CAM peak fall on the nose and mouth, where a mask is or is not?

For each face with YuNet landmarks, the peak of its Grad-CAM map (upsampled to the crop) is a hit
when it lies in the nose/mouth region: below the line through the two eyes, no further out than
half an eye distance beyond either eye, and no lower than the mouth plus the eye-to-mouth distance
(the chin). A model that decides by hair, forehead or background misses.
"""

from __future__ import annotations

import cv2
import numpy as np

from maskdet.config import CLASS_NAMES
from maskdet.core.faces import LANDMARK_NAMES
from maskdet.core.gradcam import GradCam

RIGHT_EYE, LEFT_EYE = LANDMARK_NAMES.index("right_eye"), LANDMARK_NAMES.index("left_eye")
MOUTH = (LANDMARK_NAMES.index("right_mouth_corner"), LANDMARK_NAMES.index("left_mouth_corner"))
BATCH = 64


def heatmap_peaks(engine: GradCam, images: np.ndarray) -> np.ndarray:
    """(N, 2) peak positions of each image's Grad-CAM map, in [0, 1] crop coordinates (x, y)."""
    peaks = []
    for start in range(0, len(images), BATCH):
        _, cams = engine.explain(images[start:start + BATCH].astype(np.float32))
        peaks += [cam_peak(cam, images.shape[1]) for cam in cams]
    return np.array(peaks, np.float32).reshape(-1, 2)


def cam_peak(cam: np.ndarray, size: int) -> tuple[float, float]:
    """Where a heatmap peaks once upsampled to the crop's `size`, as (x, y) in [0, 1]."""
    upsampled = cv2.resize(cam.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
    y, x = np.unravel_index(int(np.argmax(upsampled)), upsampled.shape)
    return (x + 0.5) / size, (y + 0.5) / size


def in_nose_mouth_region(peak: np.ndarray, landmarks: np.ndarray) -> bool:
    """Whether a peak (x, y) lies in the nose/mouth region defined by the five landmarks."""
    right_eye, left_eye = landmarks[RIGHT_EYE], landmarks[LEFT_EYE]
    mouth = landmarks[list(MOUTH)].mean(axis=0)
    eye_centre = (right_eye + left_eye) / 2
    eye_distance = float(np.linalg.norm(left_eye - right_eye))
    direction = (left_eye - right_eye) / max(eye_distance, 1e-6)
    down = np.array([-direction[1], direction[0]])  # image y grows downwards
    along = float(np.dot(peak - eye_centre, direction))
    below = float(np.dot(peak - eye_centre, down))
    chin = 2.0 * float(np.dot(mouth - eye_centre, down))
    return below > 0 and below <= chin and abs(along) <= eye_distance


def pointing_game(engine: GradCam, images: np.ndarray, labels: np.ndarray, landmarks: np.ndarray) -> dict:
    """Per class: faces with landmarks, the share whose Grad-CAM peak is on the nose/mouth region,
    and how many faces had no landmarks (no face found in the crop) and were left out."""
    usable = ~np.isnan(landmarks).any(axis=(1, 2))
    peaks = heatmap_peaks(engine, images[usable]) if usable.any() else np.zeros((0, 2), np.float32)
    hits = np.array([in_nose_mouth_region(p, m) for p, m in zip(peaks, landmarks[usable])], bool)
    used_labels = labels[usable]
    result = {}
    for index, name in enumerate(CLASS_NAMES):
        members = used_labels == index
        result[name] = {
            "faces": int(members.sum()),
            "peak_on_nose_mouth": float(hits[members].mean()) if members.any() else float("nan"),
            "left_out_no_landmarks": int(((labels == index) & ~usable).sum()),
        }
    return result
