"""Crop training images the way the app crops photos: YuNet's box, enlarged to a square.

Sources frame faces differently (tight aligned crops, 2x squares, 46 px Haar boxes); the app always
classifies a CROP_SCALE square around YuNet's box. Training on the app's framing removes that skew.
Each image is searched on a grey-padded, upscaled canvas (a face filling its whole file is otherwise
missed); when no face is found the image is used as it is. Detections are cached per source in a
CSV outside the data folder, keyed by file size and modification time; a copied or re-extracted
data folder (new times, same bytes) keeps its cache through the file's SHA-1.
"""

from __future__ import annotations

import csv
import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from maskdet.core.faces import (
    LANDMARK_NAMES, DetectorUnavailableError, Face, FaceDetector, clip_box, crop, default_cache_dir, detection_scale,
    square_crop_box,
)
from maskdet.core.faces import CROP_SCALE

CACHE_VERSION = "1"
"""Bump when the search below changes, so old cached detections are not reused."""
SEARCH_THRESHOLD = 0.5
"""Each file holds one face, so a slightly lower score than the app's is safe."""
PAD_FRACTION = 0.5
"""Grey border added on every side, as a fraction of the longer image side."""
MIN_CANVAS_SIDE = 320
"""Small images are upscaled to at least this size before the search."""
MIN_FACE_FRACTION = 0.25
"""A face narrower than this share of the image is a bystander, not the file's subject."""

_FIELDS = ["file", "size", "mtime_ns", "sha1", "found", "score", "x1", "y1", "x2", "y2"] + [
    f"{name}_{axis}" for name in LANDMARK_NAMES for axis in "xy"]


@dataclass(frozen=True)
class FramedCrop:
    """A training crop and what is known about the face in it. `landmarks` are (5, 2) in crop
    coordinates scaled to [0, 1], NaN when no face was found; `face_fraction` is the face box side
    over the crop side (NaN when unknown)."""

    image: np.ndarray
    landmarks: np.ndarray
    face_fraction: float
    raw_face_fraction: float


def frame_crop(image: np.ndarray, face: Optional[Face], scale: float = CROP_SCALE) -> FramedCrop:
    """The app's crop of `face` in `image` (the whole image when `face` is None)."""
    height, width = image.shape[:2]
    if face is None:
        return FramedCrop(image, np.full((len(LANDMARK_NAMES), 2), np.nan, np.float32), np.nan, np.nan)
    box = square_crop_box(face.box, width, height, scale)
    x1, y1, x2, y2 = box
    points = (np.asarray(face.landmarks, np.float32) - (x1, y1)) / (max(x2 - x1, 1), max(y2 - y1, 1))
    side = max(face.box[2] - face.box[0], face.box[3] - face.box[1])
    return FramedCrop(crop(image, box), points, side / max(x2 - x1, y2 - y1), side / max(width, height))


class FaceLocator:
    """Finds the one face of a training image, with a per-source cache of the answers."""

    def __init__(self, detector: FaceDetector, cache_dir: Optional[Path] = None) -> None:
        self.detector = detector
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir() / "detections"
        self._tables: dict[Path, dict[str, dict]] = {}
        self._dirty: set[Path] = set()

    def locate(self, source_root: Path, path: Path, image: np.ndarray) -> Optional[Face]:
        """The subject's face in `image` (read from `path` under `source_root`), or None."""
        table = self._table(source_root)
        key = path.relative_to(source_root).as_posix()
        stat = path.stat()
        row = table.get(key)
        if row is None or not _unchanged(row, stat) or not row.get("sha1"):
            digest = hashlib.sha1(path.read_bytes()).hexdigest()
            if row is not None and _same_file(row, stat, digest):
                row.update(mtime_ns=stat.st_mtime_ns, sha1=digest)  # same bytes, new time: remember it
            else:
                row = table[key] = _row(key, stat, digest, search_face(self.detector, image))
            self._dirty.add(Path(source_root))
        return _face_of(row, image.shape[1], image.shape[0])

    def save(self) -> None:
        """Write the caches that gained rows (atomically: a killed run leaves the old file)."""
        for root in self._dirty:
            target = self._cache_file(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".tmp")
            with open(tmp, "w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, _FIELDS)
                writer.writeheader()
                writer.writerows(self._tables[root].values())
            os.replace(tmp, target)
        self._dirty.clear()

    def _table(self, root: Path) -> dict[str, dict]:
        root = Path(root)
        if root not in self._tables:
            cached = self._cache_file(root)
            rows = {}
            if cached.is_file():
                with open(cached, newline="", encoding="utf-8") as handle:
                    rows = {row["file"]: row for row in csv.DictReader(handle)}
            self._tables[root] = rows
        return self._tables[root]

    def _cache_file(self, root: Path) -> Path:
        identity = f"{Path(root).resolve()}|{CACHE_VERSION}|{SEARCH_THRESHOLD}|{PAD_FRACTION}|{MIN_CANVAS_SIDE}"
        return self.cache_dir / f"{Path(root).name}-{hashlib.sha1(identity.encode()).hexdigest()[:10]}.csv"


def optional_locator(enabled: bool = True, detector: Optional[Path] = None,
                     cache_dir: Optional[Path] = None) -> Optional[FaceLocator]:
    """A FaceLocator, or None (with a warning) when re-cropping is off or no detector can be had."""
    if not enabled:
        return None
    try:
        return FaceLocator(FaceDetector.load(detector), cache_dir)
    except DetectorUnavailableError as err:
        warnings.warn(f"using images as they are framed (no re-cropping): {err}", stacklevel=2)
        return None


def search_face(detector: FaceDetector, image: np.ndarray) -> Optional[Face]:
    """The largest face whose centre lies in the image, found on a padded, upscaled canvas."""
    height, width = image.shape[:2]
    pad = round(max(height, width) * PAD_FRACTION)
    canvas = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(127, 127, 127))
    zoom = max(1.0, MIN_CANVAS_SIDE / max(canvas.shape[:2]))
    if zoom > 1.0:
        canvas = cv2.resize(canvas, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_LINEAR)
    # One search at the photo scale with the plain re-check: the rule the cached detections were made
    # with (the app's thorough photo path would change every training crop and its cache).
    scale = detection_scale(*canvas.shape[:2])
    found = detector.detect(canvas, SEARCH_THRESHOLD, scale)
    candidates = [_map_back(face, pad, zoom, width, height) for face in found]
    candidates = [face for face in candidates if face is not None
                  and max(face.box[2] - face.box[0], face.box[3] - face.box[1]) >= MIN_FACE_FRACTION * min(width, height)]
    return max(candidates, key=lambda face: (face.box[2] - face.box[0]) * (face.box[3] - face.box[1]), default=None)


def _map_back(face: Face, pad: int, zoom: float, width: int, height: int) -> Optional[Face]:
    """A canvas face in the original image's pixels; None when its centre is in the grey border."""
    x1, y1, x2, y2 = ((value / zoom) - pad for value in face.box)
    if not (0 <= (x1 + x2) / 2 < width and 0 <= (y1 + y2) / 2 < height):
        return None
    box = clip_box((x1, y1, x2, y2), width, height)
    points = tuple((x / zoom - pad, y / zoom - pad) for x, y in face.landmarks)
    return Face(box, square_crop_box(box, width, height), face.score, points)


def _unchanged(row: dict, stat: os.stat_result) -> bool:
    return int(row["size"]) == stat.st_size and int(row["mtime_ns"]) == stat.st_mtime_ns


def _same_file(row: dict, stat: os.stat_result, digest: str) -> bool:
    """Whether a cached row describes this file: same size, and the same time or the same bytes."""
    return int(row["size"]) == stat.st_size and (int(row["mtime_ns"]) == stat.st_mtime_ns or row.get("sha1") == digest)


def _row(key: str, stat: os.stat_result, digest: str, face: Optional[Face]) -> dict:
    row = {"file": key, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha1": digest,
           "found": int(face is not None)}
    if face is not None:
        row.update(score=f"{face.score:.4f}", x1=face.box[0], y1=face.box[1], x2=face.box[2], y2=face.box[3])
        for name, (x, y) in zip(LANDMARK_NAMES, face.landmarks):
            row[f"{name}_x"], row[f"{name}_y"] = f"{x:.2f}", f"{y:.2f}"
    return row


def _face_of(row: dict, width: int, height: int) -> Optional[Face]:
    if not int(row["found"]):
        return None
    box = tuple(int(row[k]) for k in ("x1", "y1", "x2", "y2"))
    points = tuple((float(row[f"{name}_x"]), float(row[f"{name}_y"])) for name in LANDMARK_NAMES)
    return Face(box, square_crop_box(box, width, height), float(row["score"]), points)
