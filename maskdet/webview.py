"""What the web app shows for a Prediction: the pictures at a chosen opacity, the per-face table and
the summary text. Pure functions of a kept result, so a settings change re-renders with no model
call; app.py only wires them to Gradio components.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pandas as pd

from maskdet.drawing import VERDICT_COLOURS
from maskdet.results import VERDICT_TEXT, Prediction

DISPLAY_MAX_SIDE = 1280
"""The result kept per browser session (for re-rendering) and shown is at most this many pixels:
bounded memory per session (under 5 MB), as much as a browser shows. JSON boxes stay in the
photo's pixels."""
KEPT_SESSIONS = 48
"""At most this many sessions' last results are kept (the least recently used go first): about
250 MB at worst. A session whose result was dropped gets no redraw until it analyses again."""
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


class KeptResults:
    """The last result of each session, kept so display settings redraw it with no model call.

    Bounded in number (least recently used dropped) and in age; safe to use from request threads."""

    def __init__(self, capacity: int = KEPT_SESSIONS, max_age_s: float = 1800.0) -> None:
        self.capacity, self.max_age_s = capacity, max_age_s
        self._kept: OrderedDict[str, tuple[float, Prediction]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, session: Optional[str], prediction: Prediction) -> None:
        if not session:
            return
        with self._lock:
            self._kept[session] = (time.monotonic(), prediction)
            self._kept.move_to_end(session)
            while len(self._kept) > self.capacity:
                self._kept.popitem(last=False)

    def get(self, session: Optional[str]) -> Optional[Prediction]:
        with self._lock:
            stamp, prediction = self._kept.get(session or "", (0.0, None))
            if prediction is None or time.monotonic() - stamp > self.max_age_s:
                self._kept.pop(session or "", None)
                return None
            self._kept.move_to_end(session)
            return prediction

    def drop(self, session: Optional[str]) -> None:
        with self._lock:
            self._kept.pop(session or "", None)

    def __len__(self) -> int:
        return len(self._kept)


def face_rows(prediction: Prediction) -> list[list[object]]:
    """One row per face: number, verdict in words, arg-max confidence, detector score."""
    rows = []
    for number, face in enumerate(prediction.faces, start=1):
        confidence = f"{face.confidence:.0%} {VERDICT_TEXT[face.label]}"
        score = "whole image" if prediction.whole_image else f"{face.detection_score:.2f}"
        rows.append([number, VERDICT_TEXT[face.verdict], confidence, score])
    return rows


def face_table(prediction: Optional[Prediction]):
    """The per-face table as a pandas Styler: the verdict cell coloured like the face's box."""
    rows = face_rows(prediction) if prediction else []
    frame = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    colours = {VERDICT_TEXT[v]: VERDICT_COLOURS[v] for v in VERDICT_TEXT}

    def paint(cell: str) -> str:
        red, green, blue = colours.get(cell, (128, 128, 128))
        return f"background-color: rgb({red}, {green}, {blue}); color: white; font-weight: 600"

    return frame.style.map(paint, subset=["verdict"]).hide(axis="index")


def summary_markdown(prediction: Prediction) -> str:
    """The headline in bold, then each note (the face cap, the detector, ...) as a bullet."""
    notes = [note for note in prediction.notes if note != prediction.headline()]
    return "\n".join([f"**{prediction.headline()}**"] + [f"- {note}" for note in notes])
