"""Face detection with OpenCV's YuNet: finding the detector file, the FaceDetector and its rules (score
floor, sure score, the re-detection check). The geometry of faces (boxes, crops, mirroring, merging,
search scales) is maskdet.core.face_geometry; its public names are re-exported here.

The YuNet ONNX file ships in no pip wheel. It is found, in order: an explicit path, the
MASKDET_YUNET_PATH environment variable, the user cache, then a one-time download from the
OpenCV Zoo whose SHA-256 must match the pinned value before the file is used.

A detector that cannot be obtained (no cache, download failed or failed verification) raises
DetectorUnavailableError: callers then find no faces (whole-image mode still works). A local file
that is wrong (tampered: SHA-256 mismatch) or an explicitly configured path that does not exist
raises its subclass DetectorFileError: that is a deployment error and must stop start-up.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import urllib.request
from pathlib import Path
from typing import Optional, Union

import cv2
import numpy as np

from maskdet.core.face_geometry import (  # also re-exported: callers import the face API from here
    CROP_SCALE, DETECT_MAX_SIDE, LANDMARK_NAMES, Face, clip_box, crop, detection_scale, merge_faces, mirror_faces,
    square_crop_box, stream_scale, whole_image_face,
)

YUNET_FILE = "face_detection_yunet_2026may.onnx"
YUNET_SHA256 = "ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0"
YUNET_URL = f"https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/{YUNET_FILE}"
YUNET_ENV = "MASKDET_YUNET_PATH"

DEFAULT_THRESHOLD = 0.3
"""Lowest YuNet score considered (the app's threshold slider). The Zoo's 0.9 misses about two thirds
of masked faces (masks hide the mouth landmarks YuNet relies on); every detection under SURE_SCORE
must also pass a re-detection check, a stricter one under FAINT_SCORE. The operating point was
measured: docs/face-detection.md (python -m maskdet detector-eval)."""
THRESHOLD_RANGE = (0.2, 0.95)
"""The thresholds a user may choose (the app's slider, the API, the command line's --threshold)."""
SURE_SCORE = 0.75
"""Detections scoring at least this are faces; weaker ones must be confirmed (0.7 let a 0.70
detection on the cat example, saved as a 256-colour GIF, through)."""
CONFIRM_SIZE = 160
CONFIRM_SCORE = 0.6
"""A weak detection is kept only when YuNet finds a face again, scoring at least this, centred in a
CONFIRM_SIZE px square re-crop of twice its box: clutter rarely survives the second look."""
FAINT_SCORE = 0.4
FAINT_CONFIRM_SCORE = 0.8
"""Detections scoring under FAINT_SCORE (small and masked faces, and more clutter) must be found
again scoring at least FAINT_CONFIRM_SCORE: with 0.6 they drew boxes on face-free images."""


class DetectorUnavailableError(RuntimeError):
    """The YuNet model file could not be found, downloaded, verified or loaded."""


class DetectorFileError(DetectorUnavailableError):
    """A local detector file fails verification, or an explicitly configured one is missing."""


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "maskdet"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_detector_file(path: Union[str, Path, None] = None, download: bool = True) -> Path:
    """Locate (or fetch once) the YuNet file and check its SHA-256; raise DetectorUnavailableError."""
    explicit = path or os.environ.get(YUNET_ENV)
    candidate = Path(explicit) if explicit else default_cache_dir() / YUNET_FILE
    if candidate.is_file():
        _verify(candidate)
        return candidate
    if explicit:
        raise DetectorFileError(f"face detector file not found: {candidate}{_source(path)}")
    if not download:
        raise DetectorUnavailableError(f"face detector file not in the cache: {candidate}")
    return _download(candidate)


def _source(path: Union[str, Path, None]) -> str:
    """Where an explicit detector path came from, for error messages."""
    return "" if path else f" (set by {YUNET_ENV})"


def _verify(path: Path) -> None:
    actual = sha256_of(path)
    if actual != YUNET_SHA256:
        raise DetectorFileError(
            f"face detector file {path} has SHA-256 {actual}, expected {YUNET_SHA256}: refusing to use it"
        )


def _download(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        urllib.request.urlretrieve(YUNET_URL, tmp)
        _verify(tmp)
        os.replace(tmp, target)
    except DetectorFileError as err:
        raise DetectorUnavailableError(f"the downloaded face detector was discarded: {err}") from err
    except OSError as err:
        raise DetectorUnavailableError(
            f"could not download the face detector from {YUNET_URL} ({err}); set {YUNET_ENV} to a local "
            f"copy of {YUNET_FILE}"
        ) from err
    finally:
        tmp.unlink(missing_ok=True)
    return target


class FaceDetector:
    """YuNet wrapper. One instance serves all threads (detection is short and locked)."""

    def __init__(self, model_file: Path) -> None:
        try:
            self._net = cv2.FaceDetectorYN.create(str(model_file), "", (320, 320), DEFAULT_THRESHOLD)
        except cv2.error as err:
            raise DetectorUnavailableError(f"cannot load face detector {model_file}: {err}") from err
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: Union[str, Path, None] = None, download: bool = True) -> "FaceDetector":
        return cls(resolve_detector_file(path, download))

    def detect(self, image: np.ndarray, threshold: float = DEFAULT_THRESHOLD,
               scale: Optional[float] = None) -> list[Face]:
        """Faces in an RGB image, highest score first: every detection scoring at least `threshold`,
        those under SURE_SCORE only if confirmed (see `confirmed`, and FAINT_SCORE).

        Photos (no `scale`), the thorough path: searched at detection_scale and, when that enlarges
        the image, also at its own size, the two searches merged (one face per person, each with its
        landmarks); a weak detection may also be confirmed by the mirrored re-crop. Both paths merge
        what they keep, so no face is boxed twice.
        Video and live frames (an explicit `scale`, see stream_scale), the cheap path: one search at
        that scale, weak detections confirmed by the re-crop alone (live frames are not slowed down;
        their faces are large). Measured: docs/face-detection.md."""
        height, width = image.shape[:2]
        thorough = scale is None
        if thorough:
            scale = detection_scale(height, width)
            scales = (scale, 1.0) if scale > 1 else (scale,)
        else:
            scales = (scale,)
        found: list[Face] = []
        for search_scale in scales:
            found += [face for face in self.detect_raw(image, threshold, search_scale)
                      if face.score >= SURE_SCORE or self.confirmed(image, face, mirrored_too=thorough)]
        return merge_faces(found)

    def detect_raw(self, image: np.ndarray, threshold: float = DEFAULT_THRESHOLD,
                   scale: Optional[float] = None) -> list[Face]:
        """YuNet's own detections scoring at least `threshold`, at `scale` (default:
        detection_scale), mapped back to the image; highest score first."""
        height, width = image.shape[:2]
        scale = detection_scale(height, width) if scale is None else scale
        rows = self._run(_resized(image, scale), threshold)
        faces = [_face_from_row(row, scale, width, height) for row in rows]
        return sorted(faces, key=lambda face: -face.score)

    def confirmed(self, image: np.ndarray, face: Face, mirrored_too: bool = True) -> bool:
        """Whether YuNet finds `face` again (see `needed_confirm_score`) in a CONFIRM_SIZE px re-crop
        of twice its box, or failing that (when `mirrored_too`) in the mirrored re-crop: a masked face
        often scores higher one way round, clutter rarely does."""
        needed = needed_confirm_score(face.score)
        if self.confirm_score(image, face) >= needed:
            return True
        return mirrored_too and self.confirm_score(image, face, mirrored=True) >= needed

    def confirm_score(self, image: np.ndarray, face: Face, mirrored: bool = False) -> float:
        """The best score of a face near the centre of the re-crop (0 when there is none); of the
        mirrored re-crop when `mirrored`."""
        square = confirmation_crop(image, face.box)
        rows = self._run(np.ascontiguousarray(square[:, ::-1]) if mirrored else square, CONFIRM_SCORE / 4)
        return max((float(row[-1]) for row in rows
                    if centred_in_close_up((row[0], row[1], row[0] + row[2], row[1] + row[3]))), default=0.0)

    def _run(self, rgb: np.ndarray, threshold: float) -> np.ndarray:
        """YuNet's rows (x, y, w, h, 10 landmark coordinates, score) for an RGB image."""
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        with self._lock:
            self._net.setScoreThreshold(float(threshold))
            self._net.setInputSize((bgr.shape[1], bgr.shape[0]))
            _, rows = self._net.detect(bgr)
        return np.zeros((0, 15), np.float32) if rows is None else rows


def centred_in_close_up(box: tuple[float, float, float, float]) -> bool:
    """Whether a box found in the close-up (see confirmation_crop) is the face it was cut around:
    centred on it and of about its size (the face is half the close-up's side)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    centre = CONFIRM_SIZE / 2
    near = abs((x1 + x2) / 2 - centre) < CONFIRM_SIZE * 0.2 and abs((y1 + y2) / 2 - centre) < CONFIRM_SIZE * 0.2
    return near and 0.25 < max(x2 - x1, y2 - y1) / centre < 1.6


def needed_confirm_score(score: float) -> float:
    """The score a detection scoring `score` (under SURE_SCORE) must reach again on its re-crop."""
    return CONFIRM_SCORE if score >= FAINT_SCORE else FAINT_CONFIRM_SCORE


def _resized(image: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return image
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA)


def confirmation_crop(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """A square of twice the box's longer side around its centre (grey beyond the image edge),
    resized to CONFIRM_SIZE px."""
    x1, y1, x2, y2 = box
    side = max(2, round(max(x2 - x1, y2 - y1) * 2))
    left, top = round((x1 + x2 - side) / 2), round((y1 + y2 - side) / 2)
    square = np.full((side, side, 3), 127, np.uint8)
    height, width = image.shape[:2]
    sx1, sy1, sx2, sy2 = max(0, left), max(0, top), min(width, left + side), min(height, top + side)
    if sx2 > sx1 and sy2 > sy1:
        square[sy1 - top: sy2 - top, sx1 - left: sx2 - left] = image[sy1:sy2, sx1:sx2]
    interpolation = cv2.INTER_CUBIC if side < CONFIRM_SIZE else cv2.INTER_AREA
    return cv2.resize(square, (CONFIRM_SIZE, CONFIRM_SIZE), interpolation=interpolation)


def _face_from_row(row: np.ndarray, scale: float, width: int, height: int) -> Face:
    """One YuNet output row: x, y, w, h, five (x, y) landmarks, score; mapped to full resolution."""
    x, y, w, h = (float(v) / scale for v in row[:4])
    box = clip_box((x, y, x + w, y + h), width, height)
    points = tuple((float(row[4 + 2 * i]) / scale, float(row[5 + 2 * i]) / scale)
                   for i in range(len(LANDMARK_NAMES)))
    return Face(box=box, crop_box=square_crop_box(box, width, height), score=float(row[-1]),
                landmarks=points)
