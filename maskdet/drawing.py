"""Drawing results: coloured boxes with labels, and heatmap overlays."""

from __future__ import annotations

import cv2
import numpy as np

CLASS_COLOURS = {"mask": (46, 204, 113), "no_mask": (231, 76, 60)}
"""RGB colour per label: green for a mask, red for none."""


def draw_boxes(image: np.ndarray, boxes: list[tuple[int, int, int, int]], labels: list[str],
               captions: list[str]) -> np.ndarray:
    """A copy of `image` with one labelled box per face; line and text scale with the image."""
    canvas = image.copy()
    thickness = max(2, round(max(image.shape[:2]) / 300))
    font_scale = max(0.45, max(image.shape[:2]) / 1400)
    for (x1, y1, x2, y2), label, caption in zip(boxes, labels, captions):
        colour = CLASS_COLOURS[label]
        cv2.rectangle(canvas, (x1, y1), (x2 - 1, y2 - 1), colour, thickness)
        (text_w, text_h), baseline = cv2.getTextSize(caption, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        top = y1 - text_h - baseline - 4 if y1 - text_h - baseline - 4 >= 0 else y1
        cv2.rectangle(canvas, (x1, top), (x1 + text_w + 6, top + text_h + baseline + 4), colour, -1)
        cv2.putText(canvas, caption, (x1 + 3, top + text_h + 2), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return canvas


def overlay_heatmap(crop: np.ndarray, heatmap: np.ndarray, opacity: float = 0.45) -> np.ndarray:
    """Blend a [0, 1] heatmap (any size) over an RGB crop with the JET colormap."""
    height, width = crop.shape[:2]
    resized = cv2.resize(heatmap.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    coloured = cv2.applyColorMap(np.uint8(np.clip(resized, 0, 1) * 255), cv2.COLORMAP_JET)
    coloured = cv2.cvtColor(coloured, cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(crop, 1.0 - opacity, coloured, opacity, 0.0)
