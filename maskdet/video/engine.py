"""The live engine: one webcam frame in, the annotated frame and a readout out.

A frame goes the way a photo goes (decode -> faces -> crops -> one batched forward pass ->
labels + heatmaps -> drawing), with two differences for speed and steadiness: faces are searched at
the frame's own size (never upscaled, at most LIVE_MAX_SIDE), and each face is tracked across frames
(maskdet.video.tracking) so that its verdict comes from a smoothed probability. Everything here is
independent of Gradio; maskdet.web.live_tab wires it to the app.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Optional

import cv2
import numpy as np

from maskdet.core.faces import DEFAULT_THRESHOLD
from maskdet.core.images import ImageInput
from maskdet.core.predictor import Prediction, Predictor
from maskdet.core.prediction import DEFAULT_OPACITY
from maskdet.core.verdicts import count_verdicts, describe_counts
from maskdet.video.tracking import TrackedFace, Tracker

LIVE_MAX_SIDE = 640
"""Frames are analysed and sent back at most this large (a 1280x720 webcam frame becomes 640x360)."""
FPS_WINDOW_S = 2.0
"""The readout's frames per second count the frames answered in this many last seconds."""
NEW_STREAM_GAP_S = 3.0
"""A frame arriving this long after the previous one starts afresh (new tracks, new fps count)."""
JPEG_QUALITY = 80


@dataclass(frozen=True)
class Readout:
    """What the live readout says about the latest frame: fps and the verdicts of its faces."""

    fps: float
    verdicts: tuple[str, ...]

    def counts(self) -> dict[str, int]:
        return count_verdicts(self.verdicts)

    @property
    def faces(self) -> int:
        return len(self.verdicts)

    @property
    def masked(self) -> int:
        return self.verdicts.count("mask")

    @property
    def unmasked(self) -> int:
        return self.verdicts.count("no_mask")

    @property
    def unsure(self) -> int:
        return self.verdicts.count("unsure")

    def markdown(self) -> str:
        """E.g. '**14.2 fps** · 2 faces now: 1 with mask, 1 without, 1 unsure'."""
        if not self.verdicts:
            return f"**{self.fps:.1f} fps** · no face now"
        return f"**{self.fps:.1f} fps** · " + describe_counts(self.verdicts).replace(":", " now:", 1)


class LiveSession:
    """One viewer's stream: the face tracker and the times of recent frames (for the fps)."""

    def __init__(self) -> None:
        self.tracker = Tracker()
        self.times: deque[float] = deque()

    def tick(self, now: float) -> float:
        """Record a frame answered at `now` (seconds, monotonic); return the frames per second."""
        self.times.append(now)
        while now - self.times[0] > FPS_WINDOW_S:
            self.times.popleft()
        if len(self.times) < 2:
            return 0.0
        return (len(self.times) - 1) / (self.times[-1] - self.times[0])

    def restart_if_paused(self, now: float) -> None:
        """After a pause (a new stream), forget the tracks and the frame times."""
        if self.times and now - self.times[-1] > NEW_STREAM_GAP_S:
            self.tracker = Tracker()
            self.times.clear()


def analyse_frame(predictor: Predictor, session: LiveSession, frame: ImageInput,
                  threshold: float = DEFAULT_THRESHOLD, heatmaps: bool = False,
                  detect_max_side: int = LIVE_MAX_SIDE) -> tuple[Prediction, list[TrackedFace]]:
    """One frame through the photo pipeline plus tracking: the prediction whose faces carry their
    tracks' smoothed verdicts, and the tracked faces. Faces are searched at the frame's size, at
    most `detect_max_side`, never upscaled. Raises maskdet.core.images.ImageError."""
    prediction = predictor.predict(frame, threshold, explain=heatmaps, detect_max_side=detect_max_side)
    tracked = session.tracker.update(prediction.faces)
    return replace(prediction, faces=[face.result() for face in tracked]), tracked


def render_frame(prediction: Prediction, heatmaps: bool = False, opacity: float = DEFAULT_OPACITY) -> np.ndarray:
    """The frame as shown: at most LIVE_MAX_SIDE, boxes and verdicts, each face's heatmap in its box
    when asked for."""
    return prediction.scaled(LIVE_MAX_SIDE).annotated(heatmaps_on_photo=heatmaps, opacity=opacity)


def readout_of(prediction: Prediction, fps: float) -> Readout:
    """The readout for a frame's (tracked) prediction."""
    return Readout(fps, tuple(face.verdict for face in prediction.faces))


def process_frame(predictor: Predictor, session: LiveSession, frame: ImageInput,
                  threshold: float = DEFAULT_THRESHOLD, heatmaps: bool = False,
                  opacity: float = DEFAULT_OPACITY, now: Optional[float] = None) -> tuple[np.ndarray, Readout]:
    """decode -> detect -> classify (+ Grad-CAM) -> track -> draw: (annotated RGB frame, readout)."""
    now = time.monotonic() if now is None else now
    session.restart_if_paused(now)
    prediction, _ = analyse_frame(predictor, session, frame, threshold, heatmaps)
    picture = render_frame(prediction, heatmaps, opacity)
    fps = session.tick(now)
    return picture, readout_of(prediction, fps)


def jpeg_bytes(image: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """An RGB frame as JPEG (what goes back to the browser: small and fast to encode)."""
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("could not encode the frame as JPEG")
    return encoded.tobytes()
