"""Constants shared by every module: the one place that defines labels and model defaults."""

from __future__ import annotations

CLASS_NAMES: tuple[str, ...] = ("no_mask", "mask")
"""Output index -> label. Index 0 is "no_mask", index 1 is "mask"; never derived from folders."""

CLASS_FOLDERS: dict[str, int] = {"without_mask": 0, "with_mask": 1}
"""Dataset sub-folder -> class index."""

MASK_INDEX = CLASS_NAMES.index("mask")

DEFAULT_INPUT_SIZE = 224
LAST_CONV_LAYER = "block5_conv3"
LOGITS_LAYER = "logits"
PROBS_LAYER = "probs"

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})

MAX_IMAGE_PIXELS = 50_000_000
"""Images above this many pixels are refused before decoding (decompression-bomb guard)."""
