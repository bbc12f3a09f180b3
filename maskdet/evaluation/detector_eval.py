"""Measure the face detector's operating point: faces found per class and face size, boxes drawn on
face-free images, and detection time, for the shipped rule, the one before it and other variants on
the same images. Reads data folders (read-only), writes nothing but the optional contact sheet.

    python -m maskdet detector-eval --real FACE_MASK_EXTRA [--per-class 150] [--real-sources wild ...]
        [--face-free DIR] [--masked DIR] [--tight DIR] [--retinaface frozen_graph.pb] [--sheet weak.png]

Real photos (--real): crops of each class (masked, unmasked, worn wrong) drawn with a fixed seed from
the sources in REAL_SETS, pasted at random places and sizes (face 16-160 px, bands in BANDS) on
640x480 scenes cut from the face-free photos; a face counts as found when a kept detection's centre
lies on its crop and the detection is 0.3x-3x the face; class columns count faces of SMALL px and
more, and each source is also reported on its own. Grid placements (--masked/--tight): masked
crops on grey canvases at set sizes, one size per canvas. Face-free images: the cat example (also
as a 256-colour GIF), any images in --face-free folders, and seeded synthetic textures.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable, Optional, Sequence

import cv2
import numpy as np
from PIL import Image

from maskdet.core import faces as facemod
from maskdet.core.faces import Face, FaceDetector
from maskdet.evaluation.detector_scenes import (
    BANDS, CANVAS, CLASSES, FACE_SIZES, REAL_SETS, SMALL, Pasted, backgrounds, canvases, crops_in, face_free_images, found_count, matched,
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


Seen = tuple[Pasted, bool]
"""One pasted face and whether a variant found it."""


def _found(rows: list[Seen], keep: Callable[[Pasted], bool]) -> tuple[int, int]:
    """(found, total) of the pasted faces `keep` selects."""
    chosen = [found for pasted, found in rows if keep(pasted)]
    return sum(chosen), len(chosen)


def variant_figures(rows: list[Seen], grid: dict[str, list[int]], false: list[tuple[str, int]],
                    ms: list[float]) -> dict:
    """One variant's figures: found (hits, total) per class (faces >= SMALL px), under SMALL px, per
    band and per source and class; the grid; boxes (and images with boxes) on face-free images; ms."""
    return {
        "class": [_found(rows, lambda r, lab=label: r.label == lab and r.face >= SMALL) for _, label in CLASSES],
        "small": _found(rows, lambda r: r.face < SMALL),
        "band": [_found(rows, lambda r, b=band: r.band == b) for band in range(len(BANDS))],
        "source": {(source, label): _found(rows, lambda r, s=source, lab=label: (r.source, r.label) == (s, lab)
                                           and r.face >= SMALL)
                   for source, label in sorted({(r.source, r.label) for r, _ in rows})},
        "grid": (grid["small"], grid["large"]),
        "face_free": (sum(n for _, n in false), sum(1 for _, n in false if n)),
        "ms": float(np.mean(ms)) if ms else 0.0,
        "worst": sorted(false, key=lambda x: -x[1])[:3],
    }


def print_tables(figures: dict[str, dict], negatives: int) -> None:
    names = list(figures)
    base = next((n for n in names if n.startswith("before")), names[0])
    base_ms = figures[base]["ms"]
    counts = [total for _, total in figures[names[0]]["class"]]
    print(f"faces found: real crops pasted on {CANVAS[0]}x{CANVAS[1]} scenes (class columns: faces >= {SMALL} px, "
          + ", ".join(f"{n} {short}" for n, (short, _) in zip(counts, CLASSES))
          + f"), grid placements, and boxes on {negatives} face-free images; detection ms per scene")
    header = (f"{'variant':<52} " + " ".join(f"{short[:10]:>10}" for short, _ in CLASSES)
              + f" {f'<{SMALL}px':>7} " + " ".join(f"{f'{lo}-{hi}px':>9}" for lo, hi in BANDS)
              + f" {'grid<24':>8} {'grid>=24':>8} {'face-free':>10} {'ms':>6} {'x before':>8}")
    print(header + "\n" + "-" * len(header))
    for name, fig in figures.items():
        small, large = fig["grid"]
        boxes, images = fig["face_free"]
        print(f"{name:<52} " + " ".join(f"{_share(*c):>10}" for c in fig["class"]) + f" {_share(*fig['small']):>7} "
              + " ".join(f"{_share(*b):>9}" for b in fig["band"])
              + f" {_share(*small):>8} {_share(*large):>8} {f'{boxes} ({images})':>10} {fig['ms']:6.1f}"
              + f" {fig['ms'] / base_ms if base_ms else 0:7.2f}x")
    for name, fig in figures.items():
        worst = ", ".join(f"{label}: {n}" for label, n in fig["worst"] if n)
        if worst:
            print(f"  face-free boxes, {name}: {worst}")
    for name in (n for n in names if n.startswith(("before", "SHIPPED photo"))):
        print(f"  by source (faces >= {SMALL} px), {name}: " + ", ".join(
            f"{source} {label} {_share(*found).strip()} of {found[1]}"
            for (source, label), found in figures[name]["source"].items()))


def evaluate(detector: FaceDetector, real_root: Optional[Path], per_class: int,
             grid_sets: dict[str, tuple[list[Path], bool]], face_free: Sequence[Path], sheet: Optional[Path],
             seed: int = 0, variants: Sequence[Variant] = VARIANTS, second: Optional[RetinaFace] = None,
             texture_count: int = 60, sources: Sequence[str] = ()) -> dict:
    """Every variant on the same images; prints the tables and returns the figures. Variants using the
    second detector are left out without one."""
    variants = [v for v in variants if second is not None or not v.needs_second]
    names = [v.name for v in variants]
    real: dict[str, list[Seen]] = {name: [] for name in names}
    ms: dict[str, list[float]] = {name: [] for name in names}
    weak_off = []
    if real_root is not None:
        for canvas, pasted in scenes(real_crops(real_root, per_class, seed, sources), backgrounds(face_free), seed):
            scored = score_image(detector, canvas, second=second)
            for variant in variants:
                kept, spent = variant.kept(scored)
                found, off = matched(kept, pasted)
                real[variant.name] += list(zip(pasted, found))
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
    figures = {v.name: variant_figures(real[v.name], grid[v.name],
                                       [(label, len(v.kept(scored)[0])) for label, scored in negatives], ms[v.name])
               for v in variants}
    print_tables(figures, len(negatives))
    if sheet:
        contact_sheet(weak_off, sheet)
        print(f"{len(weak_off)} weak kept detections ({names[0]}) off the pasted faces: {sheet}")
    return figures


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="maskdet detector-eval", description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, help="face-mask-extra root: real crops of each class pasted on scenes")
    parser.add_argument("--per-class", type=int, default=200, help="real crops per class (fixed seed)")
    parser.add_argument("--real-sources", nargs="+", default=[], choices=[name for name, _, _ in REAL_SETS],
                        help="draw the real crops from these sources only (default: all of them, in turn)")
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
             args.seed, second=RetinaFace(args.retinaface) if args.retinaface else None, sources=args.real_sources)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
