"""Image -> faces -> crops -> one batched forward pass (+ Grad-CAM) -> labelled results.

`Predictor` is loaded once per process and shared by the CLI and the web app.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional, Union

import numpy as np

from maskdet.config import CHECKOUT_DIR, MODEL_FILE_NAME, PACKAGE_DIR
from maskdet.core.faces import (
    DEFAULT_THRESHOLD, DetectorFileError, DetectorUnavailableError, Face, FaceDetector, crop, stream_scale,
    whole_image_face,
)
from maskdet.core.gradcam import GradCam
from maskdet.core.images import ImageInput, load_image, resize_square
from maskdet.core.model import ModelFileError, inference_copy, load_model
from maskdet.core.numerics import resolve_precision
from maskdet.core.prediction import NO_DETECTOR_MESSAGE, NO_FACE_MESSAGE, FaceResult, Prediction

__all__ = ["FaceResult", "MAX_FACES", "Prediction", "Predictor", "assume_frozen_weights", "reading_order"]

SHIPPED_MODEL_PATH = PACKAGE_DIR / "models" / MODEL_FILE_NAME
"""Where an installed wheel carries the model (pyproject.toml maps the checkout's models/ there)."""
CHECKOUT_MODEL_PATH = CHECKOUT_DIR / "models" / MODEL_FILE_NAME
DEFAULT_MODEL_PATH = SHIPPED_MODEL_PATH if SHIPPED_MODEL_PATH.is_file() else CHECKOUT_MODEL_PATH
"""The model used when MASKDET_MODEL is not set: the one inside the installed package, else the
checkout's models/maskdet_vgg16.keras."""
MODEL_ENV = "MASKDET_MODEL"
FROZEN_WEIGHTS_ENV = "TF_ONEDNN_ASSUME_FROZEN_WEIGHTS"
MAX_FACES = 64
"""At most this many faces (the most confident) are classified per image; the rest are counted and
the result says so. 64 faces cost about one 640x480 photo's detection time in the classifier (see
docs/face-detection.md)."""


def assume_frozen_weights() -> None:
    """Tell oneDNN this process never trains, so it keeps re-laid-out weights between calls
    (full VGG16 forward 73 -> 65 ms, identical outputs). TensorFlow reads it at the first
    convolution; call it before the first prediction, never in a process that trains."""
    os.environ.setdefault(FROZEN_WEIGHTS_ENV, "1")


class Predictor:
    """Loads the classifier and the face detector once; `predict` is safe to call from threads.

    Raises ModelFileError (naming the file) for a bad classifier file and for a detector file that is
    tampered or explicitly configured but missing; a detector that cannot be obtained only sets
    `detector_problem` (no faces are looked for then: only whole-image mode gives a verdict).
    `precision`: auto (default, or $MASKDET_PRECISION), float32 or bfloat16, the number format of
    the convolutional base."""

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
            except DetectorUnavailableError as err:  # could not be obtained: no faces found, said
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
        detect_max_side: Optional[int] = None,
    ) -> Prediction:
        """Classify every face of `image` (or, with `whole_image`, the image as one face: for photos
        that are one cropped face). No face found means no verdict. `detect_max_side`: search faces
        at most this large, never upscaled (video frames, for speed); default: the photo policy
        (see maskdet.core.faces.detection_scale). Raises maskdet.core.images.ImageError for unusable input."""
        timings: dict[str, float] = {}
        clock = time.perf_counter()
        rgb = load_image(image)
        timings["decode"], clock = _lap(clock)
        faces, is_whole, notes, detected = self._find_faces(rgb, threshold, whole_image, detect_max_side)
        timings["detect"], clock = _lap(clock)
        crops, batch = self.crop_batch(rgb, faces)
        timings["crop"], clock = _lap(clock)
        probs, heatmaps = self._classify(batch, explain)
        timings["classify"], clock = _lap(clock)
        names = list(self.engine.class_names)
        results = [
            FaceResult(face.box, face.crop_box, names[int(np.argmax(p))], float(p[names.index("mask")]),
                       face.score, c, h, prob_worn_wrong=_worn_wrong(names, p))
            for face, p, c, h in zip(faces, probs, crops, heatmaps)
        ]
        return Prediction(rgb, results, is_whole, detected, notes, timings)

    def _classify(self, batch: np.ndarray, explain: bool) -> tuple[np.ndarray, list]:
        """(probabilities, heatmaps or Nones) for a batch, in one forward pass; none for no faces."""
        if not len(batch):
            return np.zeros((0, len(self.engine.class_names)), np.float32), []
        if explain:
            probs, heatmaps = self.engine.explain(batch)
            return probs, list(heatmaps)
        return self.engine.predict(batch), [None] * len(batch)

    def crop_batch(self, image: np.ndarray, faces: list[Face]) -> tuple[list[np.ndarray], np.ndarray]:
        """(each face's crop, all crops resized into one float32 batch for the classifier)."""
        crops = [crop(image, face.crop_box) for face in faces]
        size = self.engine.input_size
        batch = [resize_square(c, size) for c in crops]
        return crops, (np.stack(batch) if batch else np.zeros((0, size, size, 3))).astype(np.float32)

    def _find_faces(
        self, image: np.ndarray, threshold: float, whole_image: bool, detect_max_side: Optional[int] = None
    ) -> tuple[list[Face], bool, list[str], int]:
        """(faces to classify, whether it is the whole image as asked, notes, faces detected)."""
        if whole_image:
            return [whole_image_face(image)], True, ["whole image classified as one face (as requested)"], 0
        if self.detector is None:
            return [], False, [NO_DETECTOR_MESSAGE, f"face detector unavailable: {self.detector_problem}"], 0
        scale = None if detect_max_side is None else stream_scale(*image.shape[:2], detect_max_side)
        faces = self.detector.detect(image, threshold, scale)
        if not faces:
            return [], False, [NO_FACE_MESSAGE], 0
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


def _worn_wrong(class_names: list[str], probs: np.ndarray) -> Optional[float]:
    """The worn-wrong probability, or None from a model without that class."""
    return float(probs[class_names.index("worn_wrong")]) if "worn_wrong" in class_names else None


def _lap(start: float) -> tuple[float, float]:
    now = time.perf_counter()
    return (now - start) * 1000.0, now
