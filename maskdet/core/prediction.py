"""What a prediction says: per-face verdicts, counts, the JSON summary and the pictures.

A face's `label` is always the classifier's arg-max; its `verdict` is what the app and the counts
use (see maskdet.core.verdicts): "mask", "worn_wrong" or "no_mask" when the classifier is sure and
the face is big enough to judge, else "unsure" or "too_small".
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional

import cv2
import numpy as np

from maskdet import config
from maskdet.core.verdicts import (
    CAPTION_TEXT, DEFINITE, VERDICT_TEXT, class_probabilities, count_verdicts, describe_counts, verdict_of,
)
from maskdet.render.drawing import VERDICT_COLOURS, Label, draw_labels, overlay_heatmap, paint_heatmaps

__all__ = ["FaceResult", "Prediction", "VERDICT_TEXT", "verdict_of", "NO_FACE_MESSAGE", "NO_DETECTOR_MESSAGE"]

NO_FACE_MESSAGE = "No face found — try a closer, frontal photo"
NO_DETECTOR_MESSAGE = ("No face detector is available, so no faces can be looked for; "
                       "use whole-image mode for a photo that is one cropped face")
DEFAULT_OPACITY = 0.6
TILE_MIN_SIDE = 192
"""Heatmap tiles of small faces are enlarged to this many pixels, so every face's map is readable."""


@dataclass
class FaceResult:
    """One classified face. `heatmap` is None when Grad-CAM was not asked for."""

    box: tuple[int, int, int, int]
    crop_box: tuple[int, int, int, int]
    label: str
    prob_mask: float
    detection_score: float
    crop: np.ndarray = field(repr=False)
    heatmap: Optional[np.ndarray] = field(default=None, repr=False)
    verdict: str = ""
    prob_worn_wrong: Optional[float] = None
    """Probability of a mask worn wrong; None from a two-class model, which cannot tell."""

    def __post_init__(self) -> None:
        if not self.verdict:
            self.verdict = verdict_of(self.prob_mask, self.box, self.prob_worn_wrong)

    @property
    def counted(self) -> bool:
        """Whether this face counts as masked, worn wrong or unmasked (not unsure, not too small)."""
        return self.verdict in DEFINITE

    @property
    def confidence(self) -> float:
        """Probability of the arg-max label."""
        return class_probabilities(self.prob_mask, self.prob_worn_wrong).get(self.label, 0.0)

    def caption(self) -> str:
        """E.g. 'mask 97%', 'worn wrong 88%', 'unsure', 'too small'."""
        if self.verdict in DEFINITE:
            return f"{CAPTION_TEXT[self.verdict]} {self.confidence:.0%}"
        return CAPTION_TEXT[self.verdict]

    def to_dict(self) -> dict:
        result = {"box": list(self.box), "label": self.label, "verdict": self.verdict,
                  "prob_mask": round(self.prob_mask, 4), "detection_score": round(self.detection_score, 4)}
        if self.prob_worn_wrong is not None:
            result["prob_worn_wrong"] = round(self.prob_worn_wrong, 4)
        return result


@dataclass
class Prediction:
    """Everything known about one image: faces, whether it was classified whole, and notes."""

    image: np.ndarray = field(repr=False)
    faces: list[FaceResult]
    whole_image: bool
    faces_detected: int
    notes: list[str]
    timings_ms: dict[str, float]

    def count(self, verdict: str) -> int:
        return sum(face.verdict == verdict for face in self.faces)

    @property
    def masked(self) -> int:
        return self.count("mask")

    @property
    def unmasked(self) -> int:
        return self.count("no_mask")

    def headline(self) -> str:
        """E.g. '5 faces: 2 with mask, 1 worn wrong, 2 without', or the no-face message."""
        if not self.faces:
            return NO_DETECTOR_MESSAGE if NO_DETECTOR_MESSAGE in self.notes else NO_FACE_MESSAGE
        if self.whole_image:
            return f"Whole image as one face: {self.faces[0].caption()}"
        return describe_counts(face.verdict for face in self.faces)

    def summary(self) -> dict:
        """JSON-serialisable result."""
        return {
            "faces_found": 0 if self.whole_image else len(self.faces),
            "faces_detected": self.faces_detected,
            **count_verdicts(face.verdict for face in self.faces),
            "faces": [face.to_dict() for face in self.faces],
            "whole_image": self.whole_image,
            "notes": self.notes,
            "headline": self.headline(),
            "unsure_band": list(config.UNSURE_BAND),
            "min_face_size": config.MIN_FACE_SIZE,
            "image_size": [int(self.image.shape[1]), int(self.image.shape[0])],
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
        }

    def labels(self) -> list[Label]:
        return [Label(face.box, VERDICT_COLOURS[face.verdict], face.caption(), number)
                for number, face in enumerate(self.faces, start=1)]

    def annotated(self, heatmaps_on_photo: bool = False, opacity: float = DEFAULT_OPACITY) -> np.ndarray:
        """The image with a coloured, captioned box per face; optionally each face's region filled
        with its own heatmap."""
        image = self.image
        explained = [face for face in self.faces if face.heatmap is not None]
        if heatmaps_on_photo and explained:
            image = paint_heatmaps(image, [f.crop_box for f in explained], [f.heatmap for f in explained], opacity)
        return draw_labels(image, self.labels()) if self.faces else image.copy()

    def overlays(self, opacity: float = DEFAULT_OPACITY) -> list[tuple[np.ndarray, str]]:
        """(heatmap on the face crop, enlarged if small; caption) per face that has a heatmap."""
        return [(overlay_heatmap(f.crop, f.heatmap, opacity, TILE_MIN_SIDE), f"{i} {f.caption()}")
                for i, f in enumerate(self.faces, start=1) if f.heatmap is not None]

    def scaled(self, max_side: int) -> "Prediction":
        """A copy whose image (and face crops) are at most `max_side` pixels, boxes scaled to
        match: what a display needs, at a bounded memory cost. Verdicts are kept as they were."""
        factor = min(1.0, max_side / max(self.image.shape[:2]))
        if factor == 1.0 and all(max(f.crop.shape[:2]) <= max_side for f in self.faces):
            return self
        faces = [replace(f, box=_scale_box(f.box, factor), crop_box=_scale_box(f.crop_box, factor),
                         crop=_shrink(f.crop, max_side), verdict=f.verdict) for f in self.faces]
        return replace(self, image=_shrink(self.image, max_side), faces=faces)


def _scale_box(box: tuple[int, int, int, int], factor: float) -> tuple[int, int, int, int]:
    return tuple(int(round(v * factor)) for v in box)  # type: ignore[return-value]


def _shrink(image: np.ndarray, max_side: int) -> np.ndarray:
    height, width = image.shape[:2]
    factor = max_side / max(height, width)
    if factor >= 1.0:
        return image
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
