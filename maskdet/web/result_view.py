"""What the web app shows for a Prediction: the pictures at a chosen opacity, the per-face table and
the summary text. Pure functions of a kept result (maskdet.web.session_store), so a settings change
re-renders with no model call; the tab modules only wire them to Gradio components.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from maskdet.render.drawing import VERDICT_COLOURS, caption_text_colour
from maskdet.core.prediction import VERDICT_TEXT, Prediction

DISPLAY_MAX_SIDE = 1280
"""The result kept per browser session (for re-rendering) and shown is at most this many pixels:
bounded memory per session (under 5 MB), as much as a browser shows. JSON boxes stay in the
photo's pixels."""
TABLE_COLUMNS = ["#", "verdict", "confidence", "score"]
"""Short headers: the table fits a 390 px phone screen without scrolling sideways."""


@dataclass(frozen=True)
class View:
    """The display settings a result is drawn with."""

    opacity: float
    show_heatmaps: bool
    heatmaps_on_photo: bool

    def picture(self, prediction: Prediction) -> np.ndarray:
        """The annotated photo, with each face's heatmap in its box when asked for."""
        return prediction.annotated(self.show_heatmaps and self.heatmaps_on_photo, self.opacity)

    def tiles(self, prediction: Prediction) -> list[tuple[np.ndarray, str]]:
        """(heatmap tile, caption) per face, or none when heatmaps are off."""
        return prediction.overlays(self.opacity) if self.show_heatmaps else []


def face_rows(prediction: Prediction) -> list[list[object]]:
    """One row per face: number, verdict in words, arg-max confidence, detector score."""
    rows = []
    for number, face in enumerate(prediction.faces, start=1):
        confidence = f"{face.confidence:.0%} {VERDICT_TEXT[face.label]}"
        score = "—" if prediction.whole_image else f"{face.detection_score:.2f}"  # no detection: no score
        rows.append([number, VERDICT_TEXT[face.verdict], confidence, score])
    return rows


def face_table(prediction: Optional[Prediction]):
    """The per-face table as a pandas Styler: the verdict cell coloured like the face's box."""
    rows = face_rows(prediction) if prediction else []
    frame = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    colours = {VERDICT_TEXT[v]: VERDICT_COLOURS[v] for v in VERDICT_TEXT}

    def paint(cell: str) -> str:
        background = colours.get(cell, VERDICT_COLOURS["unsure"])
        text = caption_text_colour(background)
        return f"background-color: rgb{background}; color: rgb{text}; font-weight: 600"

    return frame.style.map(paint, subset=["verdict"]).hide(axis="index")


def summary_markdown(prediction: Prediction) -> str:
    """The headline in bold, then each note (the face cap, the detector, ...) as a bullet."""
    notes = [note for note in prediction.notes if note != prediction.headline()]
    return "\n".join([f"**{prediction.headline()}**"] + [f"- {note}" for note in notes])
