"""Training faces made from real ones with YuNet's five landmarks: masks moved, upper faces swapped.

Real faces with a mask worn wrong come from about eight people, so the class cannot be learnt from
them alone. Here a real mask is cut from a masked face, aligned onto an unmasked face of another
person (a similarity transform between their landmarks) and pasted either where a mask belongs
(label "mask") or lowered below the nose or onto the chin (label "worn_wrong"). Both kinds are made,
so that "pasted" is no cue for either class.

The upper face (eyes, brows, forehead, hair) is no evidence for any class, yet networks read it: the
eye band of an unmasked face looks different from one above a mask. `swap_upper_face` replaces the
region above a line just under the eyes with the same region of a random other face, so the upper
face carries no label.

Positions are in face units: `u` runs across the face in eye distances from the eyes' midpoint, `v`
runs down it in eye-to-mouth distances (eyes at v = 0, nose tip about 0.55, mouth 1, chin about 1.7).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from maskdet.config import CLASS_NAMES

RIGHT_EYE, LEFT_EYE, NOSE, MOUTH_RIGHT, MOUTH_LEFT = range(5)
MASK_TOP, MASK_BOTTOM, MASK_HALF_WIDTH = 0.2, 1.85, 1.3
"""Where a mask worn right sits, in face units (see the module docstring)."""
UNDER_NOSE_SHIFT, ON_CHIN_SHIFT = (0.45, 0.55), (0.85, 1.0)
"""How far a lowered mask moves down (face units): its top edge ends under the nose or the mouth."""
UPPER_CUT = (0.12, 0.24)
"""The swapped region ends this far below the eyes (face units): under the eyes, above any mask."""
FEATHER_PX = 1.5
MASK, WORN_WRONG, NO_MASK = CLASS_NAMES.index("mask"), CLASS_NAMES.index("worn_wrong"), CLASS_NAMES.index("no_mask")


@dataclass(frozen=True)
class CompositeRecipe:
    """Per training draw: the chance it is replaced by a composite, and the chance its upper face
    is swapped (applied to composites too)."""

    worn_wrong: float = 0.2
    mask: float = 0.1
    upper_swap: float = 0.3

    @property
    def active(self) -> bool:
        return self.worn_wrong > 0 or self.mask > 0 or self.upper_swap > 0


RECIPES = {
    "full": CompositeRecipe(),
    "light": CompositeRecipe(worn_wrong=0.08, mask=0.04),
    "masks": CompositeRecipe(upper_swap=0.0),
    "upper-swap": CompositeRecipe(worn_wrong=0.0, mask=0.0),
    "none": CompositeRecipe(0.0, 0.0, 0.0),
}


def usable_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """(N,) whether each face's landmarks are present and plausible (eyes apart, mouth below them)."""
    finite = np.isfinite(landmarks).all(axis=(1, 2))
    safe = np.where(finite[:, None, None], landmarks, 0.0)
    eye_distance = np.linalg.norm(safe[:, LEFT_EYE] - safe[:, RIGHT_EYE], axis=1)
    mouth_below = safe[:, [MOUTH_RIGHT, MOUTH_LEFT], 1].mean(axis=1) > safe[:, [RIGHT_EYE, LEFT_EYE], 1].mean(axis=1)
    return finite & (eye_distance > 0.08) & mouth_below


def face_units(landmarks: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(u, v) maps of shape (size, size): each pixel's position in face units."""
    points = landmarks * size
    eyes = (points[RIGHT_EYE] + points[LEFT_EYE]) / 2
    across = points[LEFT_EYE] - points[RIGHT_EYE]
    eye_distance = max(float(np.linalg.norm(across)), 1e-3)
    across = across / eye_distance
    down = np.array([-across[1], across[0]])
    mouth = (points[MOUTH_RIGHT] + points[MOUTH_LEFT]) / 2
    eye_to_mouth = max(float(np.dot(mouth - eyes, down)), 1e-3)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    dx, dy = xs - eyes[0], ys - eyes[1]
    return (dx * across[0] + dy * across[1]) / eye_distance, (dx * down[0] + dy * down[1]) / eye_to_mouth


def mask_region(u: np.ndarray, v: np.ndarray, shift: float = 0.0) -> np.ndarray:
    """Soft alpha (0-1) of where a mask sits, lowered by `shift` face units: full width from its top
    edge to the mouth, then narrowing to a rounded bottom at the chin."""
    top, bottom = MASK_TOP + shift, MASK_BOTTOM + shift
    middle = 1.0 + shift
    taper = np.clip((v - middle) / (bottom - middle), 0.0, 1.0)
    half_width = MASK_HALF_WIDTH * np.sqrt(1.0 - taper ** 2)
    inside = (v >= top) & (v <= bottom) & (np.abs(u) <= half_width)
    return _feather(inside)


def _feather(inside: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(inside.astype(np.float32), (0, 0), FEATHER_PX)


def align(donor: np.ndarray, donor_landmarks: np.ndarray, target_landmarks: np.ndarray) -> np.ndarray:
    """`donor` warped so its five landmarks fall on the target's (rotation, scale and shift only)."""
    size = donor.shape[0]
    matrix, _ = cv2.estimateAffinePartial2D(donor_landmarks * size, target_landmarks * size)
    if matrix is None:
        matrix = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    return cv2.warpAffine(donor, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def paste_mask(face: np.ndarray, face_landmarks: np.ndarray, masked: np.ndarray, masked_landmarks: np.ndarray,
               shift: float = 0.0) -> np.ndarray:
    """`face` wearing the mask of `masked`, moved down by `shift` face units (0: worn right)."""
    size = face.shape[0]
    aligned = align(masked, masked_landmarks, face_landmarks)
    u, v = face_units(face_landmarks, size)
    alpha = mask_region(u, v)
    if shift:
        pixels = shift * _eye_to_mouth_px(face_landmarks, size)
        down = _down_vector(face_landmarks)
        move = np.float32([[1, 0, down[0] * pixels], [0, 1, down[1] * pixels]])
        aligned = cv2.warpAffine(aligned, move, (size, size), borderMode=cv2.BORDER_REFLECT)
        alpha = mask_region(u, v, shift)
    return _blend(face, aligned, alpha)


def swap_upper_face(face: np.ndarray, face_landmarks: np.ndarray, donor: np.ndarray, donor_landmarks: np.ndarray,
                    cut: float) -> np.ndarray:
    """`face` with everything above `cut` face units below the eyes taken from `donor`, aligned."""
    aligned = align(donor, donor_landmarks, face_landmarks)
    _, v = face_units(face_landmarks, face.shape[0])
    return _blend(face, aligned, _feather(v < cut))


def _blend(base: np.ndarray, top: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    mixed = base.astype(np.float32) * (1.0 - alpha[..., None]) + top.astype(np.float32) * alpha[..., None]
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


def _down_vector(landmarks: np.ndarray) -> np.ndarray:
    across = landmarks[LEFT_EYE] - landmarks[RIGHT_EYE]
    across = across / max(float(np.linalg.norm(across)), 1e-6)
    return np.array([-across[1], across[0]])


def _eye_to_mouth_px(landmarks: np.ndarray, size: int) -> float:
    eyes = (landmarks[RIGHT_EYE] + landmarks[LEFT_EYE]) / 2
    mouth = (landmarks[MOUTH_RIGHT] + landmarks[MOUTH_LEFT]) / 2
    return float(np.dot(mouth - eyes, _down_vector(landmarks))) * size


class Composer:
    """Turns a drawn training image into what the recipe says: itself, a composite, with or without
    a swapped upper face. Donors are drawn from the same images (the training split only)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, landmarks: np.ndarray,
                 recipe: CompositeRecipe, seed: int = 0) -> None:
        self.images, self.labels, self.landmarks, self.recipe = images, labels, landmarks, recipe
        usable = usable_landmarks(landmarks)
        self.usable = usable
        self.masked = np.nonzero(usable & (labels == MASK))[0]
        self.bare = np.nonzero(usable & (labels == NO_MASK))[0]
        self.anyone = np.nonzero(usable)[0]
        self.rng = np.random.default_rng(seed)

    def __call__(self, index: int) -> tuple[np.ndarray, int]:
        image, label, landmarks = self._pick(index)
        if landmarks is not None and len(self.anyone) > 1 and self.rng.random() < self.recipe.upper_swap:
            donor = int(self.rng.choice(self.anyone))
            image = swap_upper_face(image, landmarks, self.images[donor], self.landmarks[donor],
                                    self.rng.uniform(*UPPER_CUT))
        return image, label

    def _pick(self, index: int) -> tuple[np.ndarray, int, Optional[np.ndarray]]:
        draw = self.rng.random()
        if len(self.masked) and len(self.bare) and draw < self.recipe.worn_wrong + self.recipe.mask:
            face, masked = int(self.rng.choice(self.bare)), int(self.rng.choice(self.masked))
            shift = 0.0
            if draw < self.recipe.worn_wrong:
                shift = self.rng.uniform(*(UNDER_NOSE_SHIFT if self.rng.random() < 0.65 else ON_CHIN_SHIFT))
            image = paste_mask(self.images[face], self.landmarks[face], self.images[masked],
                               self.landmarks[masked], shift)
            return image, WORN_WRONG if shift else MASK, self.landmarks[face]
        landmarks = self.landmarks[index] if self.usable[index] else None
        return self.images[index], int(self.labels[index]), landmarks
