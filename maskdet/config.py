"""Constants shared by every module: the one place that defines labels and model defaults."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
"""The installed `maskdet` package folder."""
CHECKOUT_DIR = PACKAGE_DIR.parent
"""A checkout's root (app.py, examples/, models/). Only the benchmark and the example-based tools
need it; an installed package finds its model inside itself (see maskdet.core.predictor)."""
MODEL_FILE_NAME = "maskdet_vgg16.keras"

CLASS_NAMES: tuple[str, ...] = ("no_mask", "mask", "worn_wrong")
"""Output index -> label of the three-way head: 0 "no_mask", 1 "mask" (worn right: nose and mouth
covered), 2 "worn_wrong" (a mask on the face leaving the nose, or nose and mouth, uncovered). Never
derived from folders. Models saved before the third class have the first two only."""

CLASS_FOLDERS: dict[str, int] = {"without_mask": 0, "with_mask": 1, "incorrect_mask": 2}
"""Dataset sub-folder -> class index."""

REQUIRED_FOLDERS: tuple[str, ...] = ("without_mask", "with_mask")
"""The classes a dataset must have to train; `incorrect_mask/` is optional (composites stand in)."""

MASK_INDEX = CLASS_NAMES.index("mask")
WORN_WRONG_INDEX = CLASS_NAMES.index("worn_wrong")

DEFAULT_INPUT_SIZE = 224
LAST_CONV_LAYER = "block5_conv3"
HEATMAP_LAYERS: tuple[tuple[str, float], ...] = (("block4_conv3", 0.2), ("block5_conv3", 0.8))
"""(conv layer, weight) whose LayerCAM maps the heatmap fuses, by a weighted geometric mean on a
grid twice the finer map's (maskdet.core.gradcam). block5_conv3 alone (8 x 8 cells at 128 px)
peaks on the upper edge of a mask, at the eye line; block4_conv3 (16 x 16) finds the mask but not
a bare face's nose and mouth. The weights were chosen on the validation split's pointing game
(models/MODEL_CARD.md, "Heatmap layers and weighting")."""
LOGITS_LAYER = "logits"
PROBS_LAYER = "probs"

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})

MAX_IMAGE_PIXELS = 50_000_000
"""Images above this many pixels are refused before decoding (decompression-bomb guard)."""

UNSURE_BAND: tuple[float, float] = (0.26, 0.74)
"""A face whose mask probability lies inside this closed band gets the verdict "unsure": drawn grey,
counted as neither masked nor unmasked (its JSON `label` stays the arg-max). Chosen for the shipped
model by `python -m maskdet crossval` (heldout.json, "unsure_band"): the narrowest band around 0.5
outside which >= 98% of verdicts are right, on the validation images of sources each fold model
never saw (6.3% of 2820 faces inside). Everything reads this constant."""

MIN_FACE_SIZE = 24
"""Faces whose detector box is narrower or shorter than this many pixels are "too small to judge":
drawn grey, counted as neither (the classifier sees them upscaled from a few pixels, and nobody can
check the verdict by eye). See docs/face-detection.md."""

UPLOAD_LIMIT_BYTES = 10 * 1024 * 1024
"""The web app's upload limit, 10 MB: Gradio's max_file_size, the request guard's body cap, inline
(data URL) images and video files; the About/API text states it."""

STARTUP_LOG_ENV = "MASKDET_STARTUP_LOG"
STARTUP_PREFIX = "maskdet-startup"
"""With STARTUP_LOG_ENV set, the app prints `maskdet-startup STAGE TIME` lines (maskdet.web.startup);
the benchmark reads them (maskdet.bench.app_server)."""
