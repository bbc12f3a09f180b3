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
from pathlib import Path
from typing import Optional, Sequence

import cv2
import numpy as np
from PIL import Image

from maskdet.core import faces as facemod
from maskdet.core.faces import Face, FaceDetector
from maskdet.evaluation.detector_scenes import (
    BANDS, CANVAS, CLASSES, FACE_SIZES, backgrounds, canvases, crops_in, face_free_images, found_count, matched,
    real_crops, scenes,
)
from maskdet.evaluation.detector_variants import VARIANTS, RetinaFace, Variant, score_image


def contact_sheet(items: list[tuple[np.ndarray, Face]], path: Path, tile: int = 96) -> None:
    """Each detection (2x its box, with context) as a tile, to be checked by eye."""
    tiles = [cv2.resize(facemod.confirmation_crop(image, face.box), (tile, tile)) for image, face in items[:120]]
    if not tiles:
        return
    columns = 12
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % columns)
    rows = [np.hstack(tiles[i:i + columns]) for i in range(0, len(tiles), columns)]
    Image.fromarray(np.vstack(rows)).save(path)


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
