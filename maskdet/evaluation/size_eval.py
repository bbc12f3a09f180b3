"""How small may a face be for a verdict? The classifier's accuracy on a split's test photos shrunk
so the face box is N px (the crop the app classifies is 1.5x the box), then enlarged to the model's
input as the app does. Reads the data, writes nothing.

    python -m maskdet size-eval --data ../shared/data/face-mask [--model M] [--split models/split.csv]

With a split file of several sources, only the rows of the source named like the --data folder are used.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Optional

import cv2
import numpy as np
from PIL import Image

from maskdet import config
from maskdet.core.faces import CROP_SCALE
from maskdet.core.images import resize_square
from maskdet.core.predictor import DEFAULT_MODEL_PATH, Predictor

FACE_SIZES = (8, 12, 16, 20, 24, 32, 48)


def shrunk(image: np.ndarray, face: int) -> np.ndarray:
    """The photo as a face of `face` px would be cropped by the app (CROP_SCALE x the box)."""
    side = max(1, round(face * CROP_SCALE))
    return cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)


def accuracy_by_size(predictor: Predictor, photos: list[tuple[np.ndarray, int]]) -> dict[str, tuple[float, float]]:
    """size -> (accuracy, share of faces outside config.UNSURE_BAND), full size included."""
    size = predictor.engine.input_size
    labels = np.array([label for _, label in photos])
    results = {}
    for face in (*FACE_SIZES, 0):
        batch = np.stack([resize_square(shrunk(p, face) if face else p, size) for p, _ in photos]).astype(np.float32)
        prob_mask = np.concatenate([predictor.engine.predict(batch[i:i + 64])[:, config.MASK_INDEX]
                                    for i in range(0, len(batch), 64)])
        low, high = config.UNSURE_BAND
        results[f"{face} px" if face else "full size"] = (
            float(np.mean((prob_mask > 0.5) == (labels == config.MASK_INDEX))),
            float(np.mean((prob_mask < low) | (prob_mask > high))))
    return results


def split_rows(split: Path, which: str, source: str) -> list[dict[str, str]]:
    """Rows of `which` in a split file that belong to `source` (split files of several sources name
    each row's source; older ones hold one source and have no such column)."""
    with open(split, newline="") as handle:
        return [row for row in csv.DictReader(handle)
                if row["split"] == which and row.get("source", source) == source]


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="maskdet size-eval", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="dataset folder the split's paths are in")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH)
    parser.add_argument("--split", type=Path, help="split.csv (default: next to the model)")
    parser.add_argument("--which", default="test", help="split to use (default test)")
    args = parser.parse_args(argv)
    split = args.split or args.model.parent / "split.csv"
    rows = split_rows(split, args.which, args.data.name)
    if not rows:
        print(f"error: {split} lists no '{args.which}' photos of source {args.data.name!r}")
        return 2
    photos = [(np.asarray(Image.open(args.data / row["file"]).convert("RGB")), int(row["label"])) for row in rows]
    predictor = Predictor(args.model, use_detector=False)
    print(f"{args.model.name} on {len(photos)} {args.which} photos shrunk to a face box of N px "
          f"(unsure band {config.UNSURE_BAND}, MIN_FACE_SIZE {config.MIN_FACE_SIZE})")
    for size, (accuracy, sure) in accuracy_by_size(predictor, photos).items():
        print(f"{size:>10}  accuracy {accuracy:6.1%}   outside the unsure band {sure:6.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
