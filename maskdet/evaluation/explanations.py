"""A contact sheet of explanations: held-out faces of each class with their Grad-CAM heatmaps.

Faces are drawn at random with a fixed seed, never picked by hand, so the sheet shows what the
network typically looks at, not its best cases. Each tile says the true class, the prediction and
whether the heatmap's peak lies on the nose and mouth (maskdet.evaluation.pointing).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from maskdet.config import CLASS_NAMES
from maskdet.core.gradcam import GradCam
from maskdet.evaluation import plots
from maskdet.evaluation.pointing import cam_peak, in_nose_mouth_region
from maskdet.render.drawing import overlay_heatmap

FACES_PER_CLASS = 8


def sample_per_class(labels: np.ndarray, per_class: int = FACES_PER_CLASS, seed: int = 0) -> np.ndarray:
    """Positions of up to `per_class` faces of each class present, drawn at random (seeded), class by class."""
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(np.nonzero(labels == index)[0])[:per_class] for index in range(len(CLASS_NAMES))]
    return np.concatenate(chosen).astype(np.int64)


def heatmap_sheet(engine: GradCam, images: np.ndarray, labels: np.ndarray, landmarks: np.ndarray, path: Path,
                  per_class: int = FACES_PER_CLASS, seed: int = 0) -> int:
    """Write the sheet to `path` (one row per class); returns how many faces it shows."""
    index = sample_per_class(labels, per_class, seed)
    if not len(index):
        return 0
    probs, cams = engine.explain(images[index].astype(np.float32))
    tiles, captions = [], []
    for position, prob, cam in zip(index, probs, cams):
        tiles.append(overlay_heatmap(images[position], cam, 0.6))
        predicted = engine.class_names[int(np.argmax(prob))]
        caption = f"true {CLASS_NAMES[labels[position]]}\npred {predicted} {prob.max():.0%}"
        if not np.isnan(landmarks[position]).any():
            peak = np.array(cam_peak(cam, images.shape[1]))
            caption += "\npeak on nose/mouth" if in_nose_mouth_region(peak, landmarks[position]) else "\npeak elsewhere"
        captions.append(caption)
    plots.contact_sheet(np.stack(tiles), captions, path, columns=per_class)
    return len(index)
