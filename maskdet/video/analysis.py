"""A whole video file: every face in every sampled frame classified, tracked and drawn.

Each sampled frame goes through the live engine (maskdet.video.engine: the photo pipeline plus tracking, so
verdicts are as steady as in the Live tab) and is written to an annotated H.264 MP4. Alongside it:
per-frame results as JSON (every face: box, shown verdict and smoothed probability, and that frame's
own probability and verdict) and CSV (counts per frame), and a chart of masked / unmasked faces over
time. The web app and `python -m maskdet predict video.mp4 --out DIR` both call analyse_video.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Optional, Union

import cv2
import numpy as np

from maskdet import config
from maskdet.core.faces import DEFAULT_THRESHOLD, DETECT_MAX_SIDE
from maskdet.core.predictor import Predictor
from maskdet.video.engine import LiveSession, analyse_frame
from maskdet.core.prediction import DEFAULT_OPACITY
from maskdet.core.verdicts import COUNT_KEYS, VERDICTS, count_verdicts
from maskdet.render.drawing import VERDICT_COLOURS
from maskdet.video.tracking import TrackedFace
from maskdet.video.files import APP_LIMITS, FrameReader, VideoInfo, VideoLimits, VideoWriter

SAMPLE_FPS = 15.0
"""Frames analysed per second of video at most (a 30 fps video: every second frame)."""
OUTPUT_MAX_SIDE = 1280
"""The annotated video is at most this large (a 1080p upload comes back as 720p)."""
COUNTS = tuple(COUNT_KEYS[verdict] for verdict in VERDICTS)
"""CSV count columns: masked, worn_wrong, unmasked, unsure, too_small."""
Progress = Callable[[int, Optional[int]], None]


@dataclass
class FrameRecord:
    """One analysed frame: where it is in the video and its tracked faces."""

    frame: int
    source_frame: int
    time_s: float
    faces: list[TrackedFace]

    def counts(self) -> dict[str, int]:
        return count_verdicts(face.verdict for face in self.faces)

    def to_dict(self) -> dict:
        return {"frame": self.frame, "source_frame": self.source_frame, "time_s": round(self.time_s, 3),
                "faces_found": len(self.faces), **self.counts(), "faces": [face.to_dict() for face in self.faces]}


@dataclass
class VideoResult:
    """The analysis of one video and the files written for it."""

    source: str
    info: VideoInfo
    fps: float
    frames: list[FrameRecord]
    notes: list[str]
    video_path: Path
    json_path: Path
    csv_path: Path
    chart_path: Path
    seconds: float = 0.0
    """Wall time of the whole analysis, reports included."""
    frames_seconds: float = 0.0
    """Wall time of the frames alone: decode -> detect -> classify -> track -> draw -> encode."""

    def headline(self) -> str:
        """E.g. '150 frames analysed over 10.0 s: faces in 150 of 150 frames; at most 2 with mask and 1
        without at once' (and '1 worn wrong' when any face was)."""
        span = self.frames[-1].time_s - self.frames[0].time_s + 1 / self.fps if self.frames else 0.0
        text = f"{len(self.frames)} frames analysed over {span:.1f} s"
        with_faces = sum(bool(record.faces) for record in self.frames)
        if not with_faces:
            return f"{text}: no face found, so no verdict"
        most = {key: max(record.counts()[key] for record in self.frames) for key in COUNTS}
        worn = f", {most['worn_wrong']} worn wrong" if most["worn_wrong"] else ""
        return (f"{text}: faces in {with_faces} of {len(self.frames)} frames; at most {most['masked']} with mask{worn} and "
                f"{most['unmasked']} without at once")

    def summary(self) -> dict:
        """The JSON written next to the video (per-frame results included)."""
        return {"file": self.source, "video": self.info.to_dict(), "analysed_fps": round(self.fps, 3),
                "frames_analysed": len(self.frames), "headline": self.headline(), "notes": self.notes,
                "unsure_band": list(config.UNSURE_BAND), "min_face_size": config.MIN_FACE_SIZE,
                "processing_s": round(self.frames_seconds, 2),
                "frames": [record.to_dict() for record in self.frames]}


def analyse_video(predictor: Predictor, path: Union[str, Path], out_dir: Union[str, Path],
                  limits: VideoLimits = APP_LIMITS, sample_fps: Optional[float] = SAMPLE_FPS,
                  threshold: float = DEFAULT_THRESHOLD, heatmaps: bool = False,
                  opacity: float = DEFAULT_OPACITY, progress: Optional[Progress] = None,
                  name: Optional[str] = None) -> VideoResult:
    """Analyse `path` and write `<stem>_annotated.mp4`, `.json`, `.csv` and `_chart.png` into
    `out_dir`. Raises maskdet.video.files.VideoError for an unusable video (before anything is written)."""
    start = time.perf_counter()
    reader = FrameReader(path, limits, sample_fps)
    stem = Path(name or Path(path).name).stem
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    expected, session, records = reader.expected_frames(), LiveSession(), []
    with VideoWriter(out / f"{stem}_annotated.mp4", reader.output_fps) as writer:
        size: Optional[tuple[int, int]] = None
        for frame in reader:
            prediction, tracked = analyse_frame(predictor, session, frame.rgb, threshold, heatmaps,
                                                detect_max_side=DETECT_MAX_SIDE)
            picture = prediction.scaled(OUTPUT_MAX_SIDE).annotated(heatmaps_on_photo=heatmaps, opacity=opacity)
            size = size or (picture.shape[1], picture.shape[0])
            writer.write(_fit(picture, size))
            facts = [_facts_only(face) for face in tracked]
            records.append(FrameRecord(len(records), frame.index, frame.time_s, facts))
            if progress:
                progress(len(records), max(expected or 0, len(records)) or None)
    result = VideoResult(Path(name or path).name, reader.info, reader.output_fps, records, reader.notes,
                         writer.path, out / f"{stem}.json", out / f"{stem}.csv", out / f"{stem}_chart.png")
    result.frames_seconds = time.perf_counter() - start
    write_reports(result)
    result.seconds = time.perf_counter() - start
    return result


_NO_PIXELS = np.zeros((0, 0, 3), np.uint8)


def _facts_only(tracked: TrackedFace) -> TrackedFace:
    """The face without its pixels, once drawn: its crop is a view into the whole frame, so a record
    that kept it kept every analysed frame alive (a 60 s 1080p video: +5 GB), and heatmaps as well."""
    return replace(tracked, face=replace(tracked.face, crop=_NO_PIXELS, heatmap=None))


def _fit(picture: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The frame at the video's size (a stream whose frames change size is resized to its first)."""
    if (picture.shape[1], picture.shape[0]) == size:
        return picture
    return cv2.resize(picture, size, interpolation=cv2.INTER_AREA)


def write_reports(result: VideoResult) -> None:
    """The JSON, the CSV and the chart of a result."""
    result.json_path.write_text(json.dumps(result.summary(), indent=1))
    with open(result.csv_path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["frame", "source_frame", "time_s", "faces_found", *COUNTS])
        for record in result.frames:
            counts = record.counts()
            writer.writerow([record.frame, record.source_frame, f"{record.time_s:.3f}", len(record.faces),
                             *(counts[key] for key in COUNTS)])
    write_chart(result, result.chart_path)


def _hex(colour: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour)


def write_chart(result: VideoResult, path: Path) -> None:
    """Faces per frame over time, stacked: with mask (green), worn wrong (amber), without (red), unsure
    or too small (grey), in the colours of the boxes, as PNG. Stacked, so equal counts do not hide each other and the top is all faces."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = [record.time_s for record in result.frames]
    counts = [record.counts() for record in result.frames]
    layers = [[c["masked"] for c in counts], [c["worn_wrong"] for c in counts], [c["unmasked"] for c in counts],
              [c["unsure"] + c["too_small"] for c in counts]]
    colours = [_hex(VERDICT_COLOURS[v]) for v in ("mask", "worn_wrong", "no_mask", "unsure")]
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.stackplot(times, *layers, step="post", colors=colours,
                 labels=["with mask", "mask worn wrong", "without mask", "unsure / too small"])
    ax.set(xlabel="time in the video (s)", ylabel="faces", title="Faces per frame")
    ax.set_xlim(0, max(times[-1] + 1 / result.fps, 1e-3) if times else 1)
    ax.set_ylim(bottom=0, top=max([1] + [sum(c.values()) for c in counts]) + 0.5)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
