"""The geometry of detected faces: the Face record and its landmarks, boxes (clipping, the square crop
the classifier expects, IoU), crops, mirroring, merging the detections of several searches into one
face per person, and the search scales for photos and video frames. No detector here: see
maskdet.core.faces, which re-exports these names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

UPSCALE_BELOW = 640
"""Images whose longer side is at most this are searched at twice their size: YuNet misses most
faces under about 20 px, and small images are where such faces are."""
CROP_SCALE = 1.5
"""Detector boxes are tighter than the training crops: enlarge before cropping."""
DETECT_MAX_SIDE = 960
"""Larger images are shrunk for detection only (speed); boxes are mapped back."""
MERGE_IOU = 0.3
"""Detections of two searches overlapping more than this are one face."""

LANDMARK_NAMES = ("right_eye", "left_eye", "nose_tip", "right_mouth_corner", "left_mouth_corner")
"""YuNet's five landmarks, in its output order ("right" is the person's right: the image's left)."""

Point = tuple[float, float]


@dataclass(frozen=True)
class Face:
    """A detected face: `box` is the detector's box, `crop_box` the enlarged square to classify.
    Both are (x1, y1, x2, y2) in pixels of the upright image, clipped to it. `landmarks` holds the
    five points named in LANDMARK_NAMES (image pixels), or nothing when no detector placed the face."""

    box: tuple[int, int, int, int]
    crop_box: tuple[int, int, int, int]
    score: float
    landmarks: tuple[Point, ...] = ()

    def landmark(self, name: str) -> Optional[Point]:
        """One named landmark, or None when the face has none."""
        return self.landmarks[LANDMARK_NAMES.index(name)] if self.landmarks else None


def detection_scale(height: int, width: int) -> float:
    """2 for small images (longer side up to UPSCALE_BELOW), a shrink for images over
    DETECT_MAX_SIDE, else 1."""
    longer = max(height, width)
    if longer <= UPSCALE_BELOW:
        return 2.0
    return min(1.0, DETECT_MAX_SIDE / longer)


def stream_scale(height: int, width: int, max_side: int) -> float:
    """The search scale for video frames: never upscaled (speed), shrunk to `max_side` when larger.
    Faces in webcam frames are large; what is missed at 1x is mostly too small to judge anyway."""
    return min(1.0, max_side / max(height, width, 1))



def mirror_faces(found: list[Face], width: int) -> list[Face]:
    """Faces found on the mirrored image (width `width`), mapped back: boxes flipped, landmarks
    flipped and swapped so they stay in LANDMARK_NAMES order (the person's right eye is still first)."""
    mapped = []
    for face in found:
        x1, y1, x2, y2 = face.box
        box = (width - x2, y1, width - x1, y2)
        cx1, cy1, cx2, cy2 = face.crop_box
        points = [(width - x, y) for x, y in face.landmarks]
        if len(points) == 5:
            points = [points[1], points[0], points[2], points[4], points[3]]
        mapped.append(Face(box=box, crop_box=(width - cx2, cy1, width - cx1, cy2), score=face.score,
                           landmarks=tuple(points)))
    return mapped


def box_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def same_face(a: Face, b: Face) -> bool:
    """Two detections of one face: overlapping boxes (IoU over MERGE_IOU), or one's centre inside
    the other when their sizes are within a factor of two."""
    if box_iou(a.box, b.box) > MERGE_IOU:
        return True
    side_a, side_b = max(a.box[2] - a.box[0], a.box[3] - a.box[1]), max(b.box[2] - b.box[0], b.box[3] - b.box[1])
    if not 0.5 <= side_a / max(side_b, 1) <= 2:
        return False
    (ax, ay), (bx, by) = _centre(a.box), _centre(b.box)
    return (b.box[0] <= ax <= b.box[2] and b.box[1] <= ay <= b.box[3]) or (
        a.box[0] <= bx <= a.box[2] and a.box[1] <= by <= a.box[3])


def merge_faces(found: list[Face]) -> list[Face]:
    """One face per person from detections of one or several searches (YuNet's own suppression
    keeps a weak box shifted onto a face's hair beside the face's box): highest score first, each
    later detection of the same face dropped (the kept one brings its own landmarks)."""
    kept: list[Face] = []
    for face in sorted(found, key=lambda f: -f.score):
        if not any(same_face(face, other) for other in kept):
            kept.append(face)
    return kept


def _centre(box: tuple[int, int, int, int]) -> Point:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def clip_box(box: tuple[float, float, float, float], width: int, height: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = box
    x1, y1 = max(0, int(round(x1))), max(0, int(round(y1)))
    x2, y2 = min(width, int(round(x2))), min(height, int(round(y2)))
    return x1, y1, max(x2, x1 + 1), max(y2, y1 + 1)


def square_crop_box(box: tuple[int, int, int, int], width: int, height: int,
                    scale: float = CROP_SCALE) -> tuple[int, int, int, int]:
    """A square around the box's centre, `scale` times its longer side, clipped to the image."""
    x1, y1, x2, y2 = box
    centre_x, centre_y = (x1 + x2) / 2, (y1 + y2) / 2
    half = max(x2 - x1, y2 - y1) * scale / 2
    return clip_box((centre_x - half, centre_y - half, centre_x + half, centre_y + half), width, height)


def whole_image_face(image: np.ndarray) -> Face:
    """The fallback 'face' covering the whole image (no detector, no face found, or pre-cropped)."""
    height, width = image.shape[:2]
    return Face(box=(0, 0, width, height), crop_box=(0, 0, width, height), score=0.0)


def crop(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x1, y1, x2, y2 = box
    return image[y1:y2, x1:x2]
