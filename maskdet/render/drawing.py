"""Drawing results: coloured boxes with readable, non-overlapping captions, and heatmap overlays.

Captions are sized from the image so they stay legible however the browser scales the picture, and
they are placed below (or inside) each box. When full captions would overlap each other or another
face, every face gets just its number instead; the app's per-face table is then the legend.
Heatmaps use a perceptually uniform colour map and colour only the hot part, so the photo under
them stays readable.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Optional, Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

Box = tuple[int, int, int, int]
RGB = tuple[int, int, int]

VERDICT_COLOURS: dict[str, RGB] = {
    "mask": (26, 127, 55),       # green
    "worn_wrong": (245, 166, 35),  # amber
    "no_mask": (207, 34, 46),    # red
    "unsure": (108, 108, 108),   # grey: no verdict
    "too_small": (108, 108, 108),
}
"""RGB colour per verdict: green for a mask, amber for one worn wrong, red for none, grey where no
verdict is given. Each keeps its caption text (see caption_text_colour) at a contrast of 4.5:1 or
more (WCAG AA for normal text)."""
CLASS_COLOURS = {name: VERDICT_COLOURS[name] for name in ("mask", "worn_wrong", "no_mask")}
WHITE, BLACK = (255, 255, 255), (0, 0, 0)


def relative_luminance(colour: RGB) -> float:
    """WCAG 2 relative luminance of an sRGB colour."""
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (v / 255 for v in colour)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(a: RGB, b: RGB) -> float:
    """WCAG 2 contrast ratio of two colours, from 1 to 21."""
    light, dark = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def caption_text_colour(background: RGB) -> RGB:
    """White or black, whichever reads better on `background`."""
    return WHITE if contrast_ratio(WHITE, background) >= contrast_ratio(BLACK, background) else BLACK

TEXT_FRACTION = 1 / 30
"""Caption height as a fraction of the image's longer side: about 12 CSS px when a 640 px photo is
shown 360 px wide on a phone, and the same proportion on larger photos."""
MIN_TEXT_PX = 12
HEAT_FLOOR = 0.35
"""Heat below this (as a fraction of the face's maximum) is not coloured at all."""
HEAT_FULL = 0.7
"""Heat from here up is coloured at the full chosen opacity (a linear ramp from HEAT_FLOOR)."""
COLOURMAP = cv2.COLORMAP_INFERNO
"""Perceptually uniform: brightness rises with heat, readable in greyscale and by colour-blind eyes."""


@dataclass(frozen=True)
class Label:
    """What to draw for one face: its box, colour, full caption and number."""

    box: Box
    colour: RGB
    caption: str
    number: int


@lru_cache(maxsize=32)
def font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's bundled scalable font at `size` pixels."""
    return ImageFont.load_default(size=size)


def text_size(image_shape: Sequence[int]) -> int:
    """Caption height in pixels for an image of this shape."""
    return max(MIN_TEXT_PX, round(max(image_shape[:2]) * TEXT_FRACTION))


def line_width(image_shape: Sequence[int]) -> int:
    return max(2, round(max(image_shape[:2]) / 320))


def draw_labels(image: np.ndarray, labels: Sequence[Label], numbered: Optional[bool] = None) -> np.ndarray:
    """A copy of `image` with a box per face and a caption per box that never overlaps another.

    `numbered`: prefix captions with the face number (default: when there are several faces)."""
    canvas = Image.fromarray(np.ascontiguousarray(image))
    draw = ImageDraw.Draw(canvas)
    width = line_width(image.shape)
    for label in labels:
        x1, y1, x2, y2 = label.box
        draw.rectangle((x1, y1, x2 - 1, y2 - 1), outline=label.colour, width=width)
    numbered = len(labels) > 1 if numbered is None else numbered
    texts = [f"{label.number} {label.caption}" if numbered else label.caption for label in labels]
    placed = layout_captions(image.shape, [label.box for label in labels], texts)
    sizes = [text_size(image.shape)] * len(labels)
    if placed is None:  # crowded: numbers only, in each box's top-left corner
        texts = [str(label.number) for label in labels]
        placed, sizes = number_tags(image.shape, labels)
    for label, text, size, (x, y, w, h) in zip(labels, texts, sizes, placed):
        draw.rectangle((x, y, x + w, y + h), fill=label.colour)
        draw.text((x + w / 2, y + h / 2), text, fill=caption_text_colour(label.colour), font=font(size), anchor="mm")
    return np.asarray(canvas)


def caption_box(text: str, size: int) -> tuple[int, int]:
    """(width, height) of a caption's filled background at this text size."""
    left, top, right, bottom = font(size).getbbox(text)
    pad = max(2, size // 5)
    return right - left + 2 * pad, size + 2 * pad


def layout_captions(shape: Sequence[int], boxes: Sequence[Box], texts: Sequence[str]
                    ) -> Optional[list[tuple[int, int, int, int]]]:
    """(x, y, w, h) per caption: below its box, else inside its bottom edge, else above it, kept
    inside the image; None when some caption would overlap another caption or another face."""
    height, width = shape[:2]
    size = text_size(shape)
    placed: list[tuple[int, int, int, int]] = []
    for index, (box, text) in enumerate(zip(boxes, texts)):
        w, h = caption_box(text, size)
        if w > width:
            return None
        x = min(max(0, box[0]), width - w)
        others = [other for j, other in enumerate(boxes) if j != index]
        for y in (box[3], box[3] - h, box[1] - h):
            if 0 <= y <= height - h and not _hits((x, y, w, h), placed, others):
                placed.append((x, y, w, h))
                break
        else:
            return None
    return placed


def _hits(rect: tuple[int, int, int, int], captions: Sequence[tuple[int, int, int, int]],
          boxes: Sequence[Box]) -> bool:
    x, y, w, h = rect
    mine = (x, y, x + w, y + h)
    return any(_overlap(mine, (cx, cy, cx + cw, cy + ch)) for cx, cy, cw, ch in captions) or any(
        _overlap(mine, box) for box in boxes)


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def number_tags(shape: Sequence[int], labels: Sequence[Label]
                ) -> tuple[list[tuple[int, int, int, int]], list[int]]:
    """(rect, text size) of a number tag inside each box's top-left corner, at most half the box's
    height so neighbours' tags stay apart (never below MIN_TEXT_PX)."""
    height, width = shape[:2]
    rects, sizes = [], []
    for label in labels:
        x1, y1, x2, y2 = label.box
        size = max(MIN_TEXT_PX, min(text_size(shape), (y2 - y1) // 2))
        w, h = caption_box(str(label.number), size)
        rects.append((max(0, min(x1, width - w)), max(0, min(y1, height - h)), w, h))
        sizes.append(size)
    return rects, sizes


def heat_rgba(heatmap: np.ndarray, opacity: float) -> tuple[np.ndarray, np.ndarray]:
    """(RGB colours, per-pixel alpha) for a [0, 1] heatmap: only the hot part gets any alpha."""
    heat = np.clip(heatmap.astype(np.float32), 0.0, 1.0)
    colours = cv2.cvtColor(cv2.applyColorMap(np.uint8(heat * 255), COLOURMAP), cv2.COLOR_BGR2RGB)
    alpha = np.clip((heat - HEAT_FLOOR) / (HEAT_FULL - HEAT_FLOOR), 0.0, 1.0) * float(opacity)
    return colours, alpha


def blend(image: np.ndarray, colours: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    mixed = image.astype(np.float32) * (1.0 - alpha[..., None]) + colours.astype(np.float32) * alpha[..., None]
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


def overlay_heatmap(crop: np.ndarray, heatmap: np.ndarray, opacity: float = 0.6,
                    min_side: int = 0) -> np.ndarray:
    """The crop with its heatmap (any size) blended on its hot part; crops smaller than `min_side`
    are enlarged first so a tiny face's map is still readable."""
    height, width = crop.shape[:2]
    if min_side and min(height, width) < min_side:
        factor = min_side / min(height, width)
        width, height = round(width * factor), round(height * factor)
        crop = cv2.resize(crop, (width, height), interpolation=cv2.INTER_CUBIC)
    resized = cv2.resize(heatmap.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    return blend(crop, *heat_rgba(resized, opacity))


def paint_heatmaps(image: np.ndarray, regions: Sequence[Box], heatmaps: Sequence[np.ndarray],
                   opacity: float = 0.6) -> np.ndarray:
    """The whole photo with each face's heatmap filling its own region (where regions overlap, the
    hotter map wins), so every explanation is seen in place at the photo's scale."""
    heat = np.zeros(image.shape[:2], np.float32)
    for (x1, y1, x2, y2), heatmap in zip(regions, heatmaps):
        if x2 <= x1 or y2 <= y1:
            continue
        resized = cv2.resize(heatmap.astype(np.float32), (x2 - x1, y2 - y1), interpolation=cv2.INTER_CUBIC)
        np.maximum(heat[y1:y2, x1:x2], resized, out=heat[y1:y2, x1:x2])
    return blend(image, *heat_rgba(heat, opacity))


def draw_boxes(image: np.ndarray, boxes: Sequence[Box], labels: Sequence[str], captions: Sequence[str]
               ) -> np.ndarray:
    """Boxes coloured by class label ("mask"/"no_mask"/...) with captions (as drawn by the benchmark's
    naive recipe and older callers); see draw_labels."""
    items = [Label(box, VERDICT_COLOURS[label], caption, number)
             for number, (box, label, caption) in enumerate(zip(boxes, labels, captions), start=1)]
    return draw_labels(image, items, numbered=False)
