"""The benchmark's test photos, made from the example astronaut: one face on a 640x480 canvas, a
group of faces on a grid, and the model-sized face crops of a photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from maskdet.bench.paths import EXAMPLE_PHOTO
from maskdet.core.faces import FaceDetector
from maskdet.core.images import load_image
from maskdet.core.predictor import Predictor

GROUP_FACES = 8


def one_face_photo(folder: Path, variant: int = 0) -> Path:
    """The astronaut pasted on a grey 640x480 canvas, saved as JPEG (decoded from file each run).
    Variants differ slightly in every pixel (background and JPEG quality), face crop included."""
    grey = 128 - 8 * variant
    canvas = Image.new("RGB", (640, 480), (grey, grey, grey))
    canvas.paste(Image.open(EXAMPLE_PHOTO).convert("RGB"), (64, 0))
    path = folder / f"one_face_640x480_v{variant}.jpg"
    canvas.save(path, quality=90 - variant)
    return path


def group_photo(folder: Path, detector: FaceDetector, faces: int = GROUP_FACES) -> Path:
    """`faces` copies of the astronaut's head on a 4 x 2 grid canvas (same size for any count), as JPEG."""
    astronaut = load_image(EXAMPLE_PHOTO)
    x1, y1, x2, y2 = detector.detect(astronaut)[0].crop_box
    tile = Image.fromarray(astronaut[y1:y2, x1:x2]).resize((200, 200))
    columns, rows = 4, -(-GROUP_FACES // 4)
    canvas = Image.new("RGB", (columns * 220, rows * 220), (128, 128, 128))
    for i in range(faces):
        canvas.paste(tile, (10 + (i % columns) * 220, 10 + (i // columns) * 220))
    path = folder / f"group_{faces}_faces.jpg"
    canvas.save(path, quality=90)
    return path


def face_batch(predictor: Predictor, photo: Path) -> np.ndarray:
    """The model-sized crops of every face the detector finds in `photo`."""
    image = load_image(photo)
    return predictor.crop_batch(image, predictor.detector.detect(image))[1]
