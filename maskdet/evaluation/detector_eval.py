"""Measure the face detector's operating point: faces found on masked photos, false detections on
face-free images. Reads data folders, writes nothing but the optional contact sheet.

    python -m maskdet detector-eval --masked DIR [--tight DIR] [--face-free DIR] [--sheet weak.png]

Masked crops are pasted on grey 640x480 canvases at set face sizes (a "crowd" of one size per
canvas); a face counts as found when a kept detection's centre lies on its crop and the detection
is at least 0.3x the face. Face-free images: seeded synthetic textures (noise, blobs, stripes,
skin-toned smooth blobs), the cat example, and any images in --face-free folders.
"""

from __future__ import annotations

import argparse
import csv
import random
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


@dataclass(frozen=True)
class Policy:
    """How detections become faces: search scale rule, score floor, and the confirmation rule."""

    name: str
    upscale_below: int
    floor: float
    sure: float
    confirm: float

    def keeps(self, face: Face, confirm_score: float) -> bool:
        return face.score >= self.floor and (face.score >= self.sure or confirm_score >= self.confirm)


POLICIES = (
    Policy("before: 1x, score >= 0.6", 0, 0.6, 0.6, 1.0),
    Policy("score >= 0.4, no check", 0, 0.4, 0.4, 1.0),
    Policy("2x small images, score >= 0.4, no check", facemod.UPSCALE_BELOW, 0.4, 0.4, 1.0),
    Policy("2x small images, score >= 0.6, no check", facemod.UPSCALE_BELOW, 0.6, 0.6, 1.0),
    Policy(f"chosen, large images (1x): score >= {facemod.DEFAULT_THRESHOLD}, under {facemod.SURE_SCORE} "
           f"re-found >= {facemod.CONFIRM_SCORE}", 0, facemod.DEFAULT_THRESHOLD, facemod.SURE_SCORE,
           facemod.CONFIRM_SCORE),
    Policy(f"chosen: 2x small images, score >= {facemod.DEFAULT_THRESHOLD}, under {facemod.SURE_SCORE} "
           f"re-found >= {facemod.CONFIRM_SCORE}", facemod.UPSCALE_BELOW, facemod.DEFAULT_THRESHOLD,
           facemod.SURE_SCORE, facemod.CONFIRM_SCORE),
)
"""The last one is the app's operating point (maskdet.core.faces); the others show what each part adds."""


@dataclass
class Scored:
    """One image's raw detections (lowest floor of all policies) at 1x and 2x, with confirm scores."""

    image: np.ndarray
    raw: dict[float, list[tuple[Face, float]]]

    def kept(self, policy: Policy) -> list[Face]:
        scale = 2.0 if max(self.image.shape[:2]) <= policy.upscale_below else 1.0
        return [face for face, confirm in self.raw[scale] if policy.keeps(face, confirm)]


def score_image(detector: FaceDetector, image: np.ndarray) -> Scored:
    floor = min(policy.floor for policy in POLICIES)
    raw = {}
    for scale in (1.0, 2.0):
        found = detector.detect_raw(image, floor, scale=scale)
        raw[scale] = [(face, detector.confirm_score(image, face) if face.score < 0.9 else 1.0) for face in found]
    return Scored(image, raw)


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


def face_free_images(folders: Sequence[Path]) -> Iterator[tuple[str, np.ndarray]]:
    cat = Image.open(EXAMPLES / "cat_no_face.jpg").convert("RGB")
    yield "cat example", np.asarray(cat)
    yield "cat example, 256 colours", np.asarray(cat.quantize(256).convert("RGB"))
    for folder in folders:
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in IMAGE_EXTENSIONS and path.name not in WITH_FACES:
                yield path.name, np.asarray(Image.open(path).convert("RGB"))
    yield from textures()


def contact_sheet(items: list[tuple[np.ndarray, Face]], path: Path, tile: int = 96) -> None:
    """Each detection (2x its box, with context) as a tile, to be checked by eye."""
    tiles = [cv2.resize(facemod.confirmation_crop(image, face.box), (tile, tile)) for image, face in items[:120]]
    if not tiles:
        return
    columns = 12
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % columns)
    rows = [np.hstack(tiles[i:i + columns]) for i in range(0, len(tiles), columns)]
    Image.fromarray(np.vstack(rows)).save(path)


def evaluate(detector: FaceDetector, sets: dict[str, tuple[list[Path], bool]], face_free: Sequence[Path],
             sheet: Optional[Path]) -> None:
    found = {(p.name, name, size): 0 for p in POLICIES for name in sets for size in FACE_SIZES}
    totals = {(name, size): 0 for name in sets for size in FACE_SIZES}
    chosen, weak_unmatched = POLICIES[-1], []
    for name, (files, tight) in sets.items():
        for size in FACE_SIZES:
            for canvas, cells in canvases(files, size, tight):
                scored = score_image(detector, canvas)
                totals[name, size] += len(cells)
                for policy in POLICIES:
                    hits, unmatched = found_count(scored.kept(policy), cells, tight)
                    found[policy.name, name, size] += hits
                    if policy is chosen:
                        weak_unmatched += [(canvas, f) for f in unmatched if f.score < facemod.SURE_SCORE]
    negatives = [(label, score_image(detector, image)) for label, image in face_free_images(face_free)]
    print(f"faces found on masked crops (share of {sum(totals.values())} placements) and false detections on "
          f"{len(negatives)} face-free images")
    header = f"{'policy':<72} " + " ".join(f"{s:>5}px" for s in FACE_SIZES) + "  false (images)"
    print(header + "\n" + "-" * len(header))
    for policy in POLICIES:
        shares = [sum(found[policy.name, n, s] for n in sets) / max(1, sum(totals[n, s] for n in sets))
                  for s in FACE_SIZES]
        false = [(label, len(scored.kept(policy))) for label, scored in negatives]
        count, images = sum(n for _, n in false), sum(1 for _, n in false if n)
        worst = ", ".join(f"{label}: {n}" for label, n in sorted(false, key=lambda x: -x[1])[:3] if n)
        print(f"{policy.name:<72} " + " ".join(f"{v:>6.0%}" for v in shares) + f"  {count} ({images})  {worst}")
    if sheet:
        contact_sheet(weak_unmatched, sheet)
        print(f"{len(weak_unmatched)} weak kept detections off the pasted crops (crowd neighbours or "
              f"false): {sheet}")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="maskdet detector-eval", description=__doc__.splitlines()[0])
    parser.add_argument("--masked", type=Path, action="append", default=[],
                        help="folder with with_mask/ crops framed at 2x the face box (repeatable)")
    parser.add_argument("--tight", type=Path, action="append", default=[],
                        help="folder with with_mask/ crops framed tightly on the face (repeatable)")
    parser.add_argument("--origins", nargs="*", default=[], help="keep only these manifest origin_repo values")
    parser.add_argument("--face-free", type=Path, action="append", default=[], help="folder of face-free images")
    parser.add_argument("--limit", type=int, default=300, help="crops per folder")
    parser.add_argument("--detector", type=Path, help="YuNet .onnx (default: see README)")
    parser.add_argument("--sheet", type=Path, help="write weak kept detections off the crops here (PNG)")
    args = parser.parse_args(argv)
    sets = {str(p): (crops_in(p, args.origins, "with_mask", args.limit, 0), False) for p in args.masked}
    sets.update({str(p): (crops_in(p, args.origins, "with_mask", args.limit, 0), True) for p in args.tight})
    evaluate(FaceDetector.load(args.detector), sets, args.face_free, args.sheet)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
