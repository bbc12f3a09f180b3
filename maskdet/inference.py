"""Image -> faces -> crops -> one batched forward pass (+ Grad-CAM) -> labelled results.

`Predictor` is loaded once per process and shared by the CLI and the web app.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np

from maskdet.config import CLASS_NAMES, MASK_INDEX
from maskdet.drawing import draw_boxes, overlay_heatmap
from maskdet.faces import (
    DEFAULT_THRESHOLD, DetectorFileError, DetectorUnavailableError, Face, FaceDetector, crop, whole_image_face,
)
from maskdet.gradcam import GradCam
from maskdet.images import ImageInput, load_image, resize_square
from maskdet.model import ModelFileError, inference_copy, load_model
from maskdet.precision import resolve_precision

DEFAULT_MODEL_PATH = Path(__file__).resolve().parent.parent / "models" / "maskdet_vgg16.keras"
MODEL_ENV = "MASKDET_MODEL"
FROZEN_WEIGHTS_ENV = "TF_ONEDNN_ASSUME_FROZEN_WEIGHTS"
MAX_FACES = 32
"""At most this many faces (the most confident) are classified per image; the rest are counted."""


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

    @property
    def confidence(self) -> float:
        """Probability of the predicted label."""
        return self.prob_mask if self.label == "mask" else 1.0 - self.prob_mask

    def caption(self) -> str:
        return f"{'mask' if self.label == 'mask' else 'no mask'} {self.confidence:.0%}"

    def to_dict(self) -> dict:
        return {"box": list(self.box), "label": self.label, "prob_mask": round(self.prob_mask, 4),
                "detection_score": round(self.detection_score, 4)}


@dataclass
class Prediction:
    """Everything known about one image: faces, whether the whole-image fallback ran, and why."""

    image: np.ndarray = field(repr=False)
    faces: list[FaceResult]
    whole_image: bool
    faces_detected: int
    notes: list[str]
    timings_ms: dict[str, float]

    @property
    def masked(self) -> int:
        return sum(face.label == "mask" for face in self.faces)

    def headline(self) -> str:
        """E.g. '3 faces: 2 with mask, 1 without'."""
        count = len(self.faces)
        if self.whole_image:
            return f"Whole image classified: {self.faces[0].caption()}"
        noun = "face" if count == 1 else "faces"
        return f"{count} {noun}: {self.masked} with mask, {count - self.masked} without"

    def summary(self) -> dict:
        """JSON-serialisable result."""
        return {
            "faces_found": len(self.faces) if not self.whole_image else 0,
            "faces_detected": self.faces_detected,
            "masked": self.masked,
            "unmasked": len(self.faces) - self.masked,
            "faces": [face.to_dict() for face in self.faces],
            "whole_image": self.whole_image,
            "notes": self.notes,
            "headline": self.headline(),
            "image_size": [int(self.image.shape[1]), int(self.image.shape[0])],
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
        }

    def annotated(self) -> np.ndarray:
        """The image with one coloured, captioned box per face."""
        numbered = len(self.faces) > 1
        captions = [f"{i}: {f.caption()}" if numbered else f.caption() for i, f in enumerate(self.faces, start=1)]
        return draw_boxes(self.image, [f.box for f in self.faces], [f.label for f in self.faces], captions)

    def overlays(self, opacity: float = 0.45) -> list[tuple[np.ndarray, str]]:
        """(Grad-CAM overlay on the face crop, caption) per face that has a heatmap."""
        return [(overlay_heatmap(f.crop, f.heatmap, opacity), f"face {i}: {f.caption()}")
                for i, f in enumerate(self.faces, start=1) if f.heatmap is not None]


def assume_frozen_weights() -> None:
    """Tell oneDNN this process never trains, so it keeps re-laid-out weights between calls
    (full VGG16 forward 73 -> 65 ms, identical outputs). TensorFlow reads it at the first
    convolution; call it before the first prediction, never in a process that trains."""
    os.environ.setdefault(FROZEN_WEIGHTS_ENV, "1")


class Predictor:
    """Loads the classifier and the face detector once; `predict` is safe to call from threads.

    Raises ModelFileError (naming the file) for a bad classifier file and for a detector file that is
    tampered or explicitly configured but missing; a detector that cannot be obtained only sets
    `detector_problem` (whole-image fallback). `precision`: auto (default, or $MASKDET_PRECISION),
    float32 or bfloat16, the number format of the convolutional base."""

    def __init__(
        self,
        model_path: Union[str, Path, None] = None,
        detector_path: Union[str, Path, None] = None,
        use_detector: bool = True,
        download_detector: bool = True,
        precision: Optional[str] = None,
    ) -> None:
        self.model_path = Path(model_path or os.environ.get(MODEL_ENV) or DEFAULT_MODEL_PATH)
        self.engine = GradCam(inference_copy(load_model(self.model_path), resolve_precision(precision)))
        self.detector: Optional[FaceDetector] = None
        self.detector_problem: Optional[str] = None
        if use_detector:
            try:
                self.detector = FaceDetector.load(detector_path, download_detector)
            except DetectorFileError as err:  # tampered or mis-configured: never fall back silently
                raise ModelFileError(str(err)) from err
            except DetectorUnavailableError as err:  # could not be obtained: whole-image fallback
                self.detector_problem = str(err)

    def warm_up(self) -> None:
        """Trace both graphs now so the first real request is as fast as later ones."""
        blank = np.zeros((1, self.engine.input_size, self.engine.input_size, 3), np.float32)
        self.engine.explain(blank)
        self.engine.predict(blank)

    def predict(
        self,
        image: ImageInput,
        threshold: float = DEFAULT_THRESHOLD,
        explain: bool = True,
        whole_image: bool = False,
    ) -> Prediction:
        """Classify every face of `image`. Raises maskdet.images.ImageError for unusable input."""
        timings: dict[str, float] = {}
        clock = time.perf_counter()
        rgb = load_image(image)
        timings["decode"], clock = _lap(clock)
        faces, is_whole, notes, detected = self._find_faces(rgb, threshold, whole_image)
        timings["detect"], clock = _lap(clock)
        crops, batch = self.crop_batch(rgb, faces)
        timings["crop"], clock = _lap(clock)
        if explain:
            probs, heatmaps = self.engine.explain(batch)
        else:
            probs, heatmaps = self.engine.predict(batch), [None] * len(faces)
        timings["classify"], clock = _lap(clock)
        results = [
            FaceResult(face.box, face.crop_box, CLASS_NAMES[int(np.argmax(p))], float(p[MASK_INDEX]),
                       face.score, c, h)
            for face, p, c, h in zip(faces, probs, crops, heatmaps)
        ]
        return Prediction(rgb, results, is_whole, detected, notes, timings)

    def crop_batch(self, image: np.ndarray, faces: list[Face]) -> tuple[list[np.ndarray], np.ndarray]:
        """(each face's crop, all crops resized into one float32 batch for the classifier)."""
        crops = [crop(image, face.crop_box) for face in faces]
        batch = np.stack([resize_square(c, self.engine.input_size) for c in crops]).astype(np.float32)
        return crops, batch

    def _find_faces(
        self, image: np.ndarray, threshold: float, whole_image: bool
    ) -> tuple[list[Face], bool, list[str], int]:
        """(faces to classify, whether it is the whole-image fallback, notes, faces detected)."""
        if whole_image:
            return [whole_image_face(image)], True, ["whole image classified as one face (as requested)"], 0
        if self.detector is None:
            note = f"face detector unavailable, classified the whole image: {self.detector_problem}"
            return [whole_image_face(image)], True, [note], 0
        faces = self.detector.detect(image, threshold)
        if not faces:
            return [whole_image_face(image)], True, ["no face found; classified the whole image as one face"], 0
        notes = []
        if len(faces) > MAX_FACES:
            notes.append(f"{len(faces)} faces found; only the {MAX_FACES} most confident were classified")
        return reading_order(faces[:MAX_FACES]), False, notes, len(faces)


def reading_order(faces: list[Face]) -> list[Face]:
    """Top row first, left to right, so 'face 1, 2, ...' match how people scan a photo."""
    if not faces:
        return faces
    row_height = float(np.median([f.box[3] - f.box[1] for f in faces]))
    return sorted(faces, key=lambda f: (round(f.box[1] / row_height), f.box[0]))


def _lap(start: float) -> tuple[float, float]:
    now = time.perf_counter()
    return (now - start) * 1000.0, now
