"""Faces followed across video frames, with smoothed mask probabilities, so verdicts do not flicker.

Each frame's faces are matched to the tracks of earlier frames by box overlap (IoU, greedy, best
pair first). A track's class probabilities are exponential moving averages of its faces'
probabilities, so one odd frame cannot flip a verdict: going from "mask" to "no mask" (or to "worn
wrong") takes several frames and passes through "unsure" on the way. A new track shows "unsure" until it has been seen in
MIN_FRAMES frames. The honesty rules are those of a photo (maskdet.core.prediction.verdict_of), applied to
the smoothed probabilities: no class sure enough is "unsure", a small box is "too small".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Sequence

from maskdet.core.prediction import FaceResult
from maskdet.core.verdicts import DEFINITE, most_likely, verdict_of

Box = tuple[int, int, int, int]

MATCH_IOU = 0.3
"""A face continues a track when their boxes overlap at least this much (intersection over union)."""
SMOOTHING = 0.25
"""Weight of the newest frame in a track's probability. One wrong frame moves a confident face
(0.99) only to 0.75, still outside the unsure band; a real change shows within about five frames."""
MIN_FRAMES = 3
"""A track gets a verdict only once it has been seen in this many frames; before, it is "unsure"."""
MAX_MISSED = 5
"""A track survives this many frames without a matching face (a missed detection), then ends.
Unseen tracks are not drawn or counted: no face, no verdict."""


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Track:
    """One face followed over frames: its last box, smoothed probability and evidence so far."""

    track_id: int
    box: Box
    prob_mask: float
    prob_worn_wrong: Optional[float] = None
    frames: int = 1
    missed: int = 0
    verdict: str = "unsure"
    """The verdict shown and counted (see _next_verdict)."""

    def __post_init__(self) -> None:
        self.verdict = self._next_verdict()

    def observe(self, face: FaceResult) -> None:
        """Take this frame's face into the track."""
        self.box = face.box
        self.prob_mask = _smoothed(self.prob_mask, face.prob_mask)
        if face.prob_worn_wrong is not None:
            self.prob_worn_wrong = _smoothed(self.prob_worn_wrong, face.prob_worn_wrong)
        self.frames += 1
        self.missed = 0
        self.verdict = self._next_verdict()

    def _next_verdict(self) -> str:
        """The verdict of the smoothed probabilities; "unsure" until MIN_FRAMES frames were seen, and
        for the frame where it would jump straight from one definite verdict to another (with a
        narrow unsure band one smoothing step can cross it; the change still shows, one frame later)."""
        verdict = verdict_of(self.prob_mask, self.box, self.prob_worn_wrong)
        jumps = self.verdict in DEFINITE and verdict != self.verdict
        if verdict in DEFINITE and (self.frames < MIN_FRAMES or jumps):
            return "unsure"
        return verdict


def _smoothed(previous: Optional[float], new: float) -> float:
    return new if previous is None else previous + SMOOTHING * (new - previous)


@dataclass(frozen=True)
class TrackedFace:
    """A face of the current frame with the track it belongs to."""

    track_id: int
    face: FaceResult
    """This frame's own result (its probability and verdict from this frame alone)."""
    prob_mask: float
    """The track's smoothed mask probability."""
    verdict: str
    """The verdict shown and counted: from the smoothed probability and the evidence so far."""
    frames: int
    prob_worn_wrong: Optional[float] = None
    """The track's smoothed worn-wrong probability (None from a two-class model)."""

    def result(self) -> FaceResult:
        """This face as a FaceResult carrying the smoothed probabilities and verdict (for drawing,
        counting and JSON, which then read the same numbers)."""
        return replace(self.face, label=most_likely(self.prob_mask, self.prob_worn_wrong), prob_mask=self.prob_mask,
                       prob_worn_wrong=self.prob_worn_wrong, verdict=self.verdict)

    def to_dict(self) -> dict:
        """JSON: the shown (smoothed) verdict and probability, and this frame's own ones."""
        return {**self.result().to_dict(), "track": self.track_id, "frames_seen": self.frames,
                "frame_prob_mask": round(self.face.prob_mask, 4), "frame_verdict": self.face.verdict}


class Tracker:
    """Matches each frame's faces to tracks and keeps their smoothed probabilities."""

    def __init__(self) -> None:
        self.tracks: list[Track] = []
        self._next_id = 1

    def update(self, faces: Sequence[FaceResult]) -> list[TrackedFace]:
        """Take one frame's faces; return them, in the given order, with their tracks."""
        pairs = sorted(((iou(track.box, face.box), t, f) for t, track in enumerate(self.tracks)
                        for f, face in enumerate(faces)), reverse=True)
        track_of: dict[int, Track] = {}
        used: set[int] = set()
        for overlap, t, f in pairs:
            if overlap < MATCH_IOU:
                break
            if t in used or f in track_of:
                continue
            self.tracks[t].observe(faces[f])
            track_of[f] = self.tracks[t]
            used.add(t)
        for t, track in enumerate(self.tracks):
            if t not in used:
                track.missed += 1
        self.tracks = [track for track in self.tracks if track.missed <= MAX_MISSED]
        for f, face in enumerate(faces):
            if f not in track_of:
                track_of[f] = self._start(face)
        return [TrackedFace(track_of[f].track_id, face, track_of[f].prob_mask, track_of[f].verdict,
                            track_of[f].frames, track_of[f].prob_worn_wrong) for f, face in enumerate(faces)]

    def _start(self, face: FaceResult) -> Track:
        track = Track(self._next_id, face.box, face.prob_mask, face.prob_worn_wrong)
        self._next_id += 1
        self.tracks.append(track)
        return track
