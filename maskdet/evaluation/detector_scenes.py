"""The images detector-eval measures on: real crops of each class pasted at random places and sizes
on scenes cut from face-free photos, grey grid canvases of crops at set sizes, and face-free images
(the cat example, folders given, seeded synthetic textures); and the matching of kept detections to
the faces placed. Used by maskdet.evaluation.detector_eval."""

from __future__ import annotations

import csv
import itertools
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np
from PIL import Image

from maskdet.config import CHECKOUT_DIR, IMAGE_EXTENSIONS
from maskdet.core.faces import Face

EXAMPLES = CHECKOUT_DIR / "examples"
FACE_SIZES = (12, 16, 20, 24, 32, 48, 64, 96)
CANVAS = (640, 480)
WITH_FACES = {"astronaut.png", "camera.png", "lfw_subset.npy", "no_time_for_that_tiny.gif"}
"""scikit-image sample files that show people: never used as face-free."""


BANDS = ((16, 24), (24, 32), (32, 64), (64, 160))
"""Face size bands (px, the face's side) of the real-photo placements."""
SMALL = 32
"""Faces under this size (px) are 'small': the class columns count the larger ones (issue 20's split)."""
CLASSES = (("masked", "with_mask"), ("unmasked", "without_mask"), ("worn wrong", "incorrect_mask"))
REAL_SETS = (
    # (source, origins kept (empty: all), tight framing): only crops whose face box was NOT cut or
    # checked by YuNet (such a crop is a face YuNet already found). See each source's SOURCE.md.
    ("wild", ("MacwinWin/face_mask_dataset",), False),  # hand-drawn boxes, a 2x square: the face in its photo
    ("occlusion", (), True),  # ROF (MTCNN/RetinaFace boxes, no margin) and MFR2 aligned crops
    ("improper", (), True),   # Haar boxes, 64 px greyscale YouTube news and webcam frames
    ("webcam", (), True),     # Haar boxes, mostly 46 px, dim rooms
)
"""wild's ztjryg4 crops are left out: YuNet chose those faces inside their head-and-shoulder boxes."""


def crops_in(folder: Path, origins: Sequence[str], label: str, limit: int, seed: int) -> list[Path]:
    """Image files under folder/label; filtered by manifest.csv's origin_repo when origins are given."""
    manifest = folder / "manifest.csv"
    if origins and manifest.is_file():
        with open(manifest, newline="") as handle:
            files = [folder / row["file"] for row in csv.DictReader(handle)
                     if row["label"] == label and row["origin_repo"] in origins]
    else:
        files = sorted(p for p in (folder / label).glob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    random.Random(seed).shuffle(files)
    return files[:limit]


def canvases(files: list[Path], face: int, tight: bool) -> Iterator[tuple[np.ndarray, list[tuple[int, int, int]]]]:
    """Grey canvases holding crops whose face is about `face` px; (canvas, [(x, y, side)] per crop)."""
    side = face if tight else 2 * face
    cell = int(face * (1.8 if tight else 2.6))
    columns, rows = max(1, CANVAS[0] // cell), max(1, CANVAS[1] // cell)
    for start in range(0, len(files), columns * rows):
        canvas = np.full((CANVAS[1], CANVAS[0], 3), 128, np.uint8)
        cells = []
        for k, path in enumerate(files[start:start + columns * rows]):
            crop = cv2.resize(np.asarray(Image.open(path).convert("RGB")), (side, side), interpolation=cv2.INTER_AREA)
            x, y = (k % columns) * cell + (cell - side) // 2, (k // columns) * cell + (cell - side) // 2
            canvas[y:y + side, x:x + side] = crop
            cells.append((x, y, side))
        yield canvas, cells


def found_count(kept: list[Face], cells: list[tuple[int, int, int]], tight: bool) -> tuple[int, list[Face]]:
    """(faces found, kept detections matching no crop)."""
    used, found = set(), 0
    for x, y, side in cells:
        face = side if tight else side / 2
        for index, det in enumerate(kept):
            cx, cy = (det.box[0] + det.box[2]) / 2, (det.box[1] + det.box[3]) / 2
            big_enough = max(det.box[2] - det.box[0], det.box[3] - det.box[1]) >= 0.3 * face
            if index not in used and x <= cx <= x + side and y <= cy <= y + side and big_enough:
                used.add(index)
                found += 1
                break
    return found, [det for index, det in enumerate(kept) if index not in used]


def textures(count: int = 60, seed: int = 0) -> Iterator[tuple[str, np.ndarray]]:
    """Seeded face-free 640x480 textures of five kinds."""
    rng = np.random.default_rng(seed)
    height, width = CANVAS[1], CANVAS[0]
    for i in range(count):
        kind = i % 5
        if kind == 0:  # smooth noise at four scales
            image = sum(cv2.resize(rng.integers(0, 256, (s, s * 4 // 3, 3)).astype(np.float32), (width, height),
                                   interpolation=cv2.INTER_CUBIC) / 2 ** k for k, s in enumerate((4, 12, 36, 108)))
            image = image / image.max() * 255
        elif kind == 1:  # dark ellipses on a light ground (eyes-and-mouth-like blobs)
            image = np.full((height, width, 3), int(rng.integers(150, 230)), np.float32)
            for _ in range(60):
                centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
                axes = (int(rng.integers(3, 25)), int(rng.integers(3, 25)))
                cv2.ellipse(image, centre, axes, 0, 0, 360, tuple(int(v) for v in rng.integers(0, 120, 3)), -1)
        elif kind == 2:  # stripes with noise
            yy, xx = np.mgrid[0:height, 0:width]
            freq, angle = rng.uniform(0.02, 0.2), rng.uniform(0, np.pi)
            stripes = (np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * freq) > 0).astype(np.float32)
            image = stripes[..., None] * rng.integers(60, 255, 3) + rng.normal(0, 20, (height, width, 3))
        elif kind == 3:  # blurred white noise
            image = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3)).astype(np.float32), (0, 0),
                                     rng.uniform(1, 6))
            image = (image - image.min()) / (np.ptp(image) + 1e-6) * 255
        else:  # skin-toned smooth ground with dark dots
            smooth = cv2.resize(rng.normal(0, 40, (6, 8, 3)).astype(np.float32), (width, height),
                                interpolation=cv2.INTER_CUBIC)
            image = np.clip(np.array([200, 150, 120], np.float32) + smooth, 0, 255)
            for _ in range(30):
                cv2.circle(image, (int(rng.integers(0, width)), int(rng.integers(0, height))),
                           int(rng.integers(2, 10)), (40, 30, 30), -1)
        yield f"texture {i} (kind {kind})", np.clip(image, 0, 255).astype(np.uint8)


def face_free_images(folders: Sequence[Path], texture_count: int = 60) -> Iterator[tuple[str, np.ndarray]]:
    cat = Image.open(EXAMPLES / "cat_no_face.jpg").convert("RGB")
    yield "cat example", np.asarray(cat)
    yield "cat example, 256 colours", np.asarray(cat.quantize(256).convert("RGB"))
    for folder in folders:
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in IMAGE_EXTENSIONS and path.name not in WITH_FACES:
                yield path.name, np.asarray(Image.open(path).convert("RGB"))
    yield from textures(texture_count)


@dataclass(frozen=True)
class Pasted:
    """One real crop pasted on a scene canvas: its crop square (x, y, side), face size and class."""

    x: int
    y: int
    side: int
    face: int
    label: str
    band: int
    source: str = ""

    def holds(self, det: Face) -> bool:
        cx, cy = (det.box[0] + det.box[2]) / 2, (det.box[1] + det.box[3]) / 2
        size = max(det.box[2] - det.box[0], det.box[3] - det.box[1])
        return (self.x <= cx <= self.x + self.side and self.y <= cy <= self.y + self.side
                and 0.3 * self.face <= size <= 3 * self.face)


def real_crops(root: Path, per_class: int, seed: int, sources: Sequence[str] = ()) -> list[tuple[Path, bool, str]]:
    """(file, tight framing, label) for up to `per_class` crops per class, drawn with a fixed seed
    from REAL_SETS under the face-mask-extra `root` (only `sources` of them when given)."""
    chosen = []
    for _, label in CLASSES:
        pools = [[(path, tight, label) for path in crops_in(root / source, origins, label, 10 ** 6, seed)]
                 for source, origins, tight in REAL_SETS
                 if (root / source / label).is_dir() and (not sources or source in sources)]
        pool = [item for row in itertools.zip_longest(*pools) for item in row if item is not None]
        chosen += pool[:per_class]  # the sources in turn: each source about equally
    return chosen


def backgrounds(folders: Sequence[Path]) -> list[np.ndarray]:
    """Face-free photos cut to the canvas size (a scene for the pasted faces); grey when none."""
    found = []
    for _, image in face_free_images(folders, texture_count=0):
        height, width = image.shape[:2]
        zoom = max(CANVAS[0] / width, CANVAS[1] / height)
        image = cv2.resize(image, (max(CANVAS[0], round(width * zoom)), max(CANVAS[1], round(height * zoom))))
        found.append(np.ascontiguousarray(image[:CANVAS[1], :CANVAS[0]]))
    return found or [np.full((CANVAS[1], CANVAS[0], 3), 128, np.uint8)]


def scenes(crops: list[tuple[Path, bool, str]], grounds: list[np.ndarray], seed: int
           ) -> Iterator[tuple[np.ndarray, list[Pasted]]]:
    """Canvases of one size band each, the crops pasted at random places and sizes, not overlapping.
    Crop i goes to band i % len(BANDS) (so every class is spread over the bands)."""
    rng = random.Random(seed)
    by_band: dict[int, list[tuple[Path, bool, str]]] = {band: [] for band in range(len(BANDS))}
    for index, item in enumerate(sorted(crops, key=lambda c: (c[2], str(c[0])))):
        by_band[index % len(BANDS)].append(item)
    count = 0
    for band, items in by_band.items():
        rng.shuffle(items)
        canvas, placed = None, []
        for path, tight, label in items:
            low, high = BANDS[band]
            face = round(float(np.exp(rng.uniform(np.log(low), np.log(high)))))
            side = face if tight else 2 * face
            if canvas is None:
                canvas, placed = grounds[count % len(grounds)].copy(), []
                count += 1
            spot = None
            for _ in range(40):
                x, y = rng.randrange(0, CANVAS[0] - side + 1), rng.randrange(0, CANVAS[1] - side + 1)
                gap = side // 4
                if all(x + side + gap <= p.x or p.x + p.side + gap <= x or y + side + gap <= p.y
                       or p.y + p.side + gap <= y for p in placed):
                    spot = (x, y)
                    break
            if spot is None:  # full: a new scene
                yield canvas, placed
                canvas, placed = grounds[count % len(grounds)].copy(), []
                count += 1
                spot = (rng.randrange(0, CANVAS[0] - side + 1), rng.randrange(0, CANVAS[1] - side + 1))
            crop = np.asarray(Image.open(path).convert("RGB"))
            interpolation = cv2.INTER_AREA if crop.shape[0] > side else cv2.INTER_CUBIC
            canvas[spot[1]:spot[1] + side, spot[0]:spot[0] + side] = cv2.resize(crop, (side, side),
                                                                                interpolation=interpolation)
            placed.append(Pasted(spot[0], spot[1], side, face, label, band, path.parent.parent.name))
        if canvas is not None and placed:
            yield canvas, placed


def matched(kept: list[Face], pasted: list[Pasted]) -> tuple[list[bool], list[Face]]:
    """(found per pasted face, kept detections on no pasted face)."""
    used, found = set(), []
    for target in pasted:
        hit = next((i for i, det in enumerate(kept) if i not in used and target.holds(det)), None)
        if hit is not None:
            used.add(hit)
        found.append(hit is not None)
    return found, [det for i, det in enumerate(kept) if i not in used]
