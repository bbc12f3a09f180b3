"""Live and video figures of the benchmark (called by `python -m maskdet bench`), on a 640x480 stream
with one face (maskdet.bench.synthvideo: the masked astronaut gliding over grey).

- L1 engine frames per second, heatmaps off and on: JPEG frame -> decode -> detect -> classify
  (+ Grad-CAM) -> track -> draw -> JPEG for the browser, in this process, one frame after another.
- L2 what one browser receives through the real app (maskdet.bench.live_browser).
- L3 a video file (H.264 MP4) through maskdet.video.analysis: decode -> ... -> H.264 encode.
Each figure is also given as a ratio to the L1 engine figure (heatmaps off).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from maskdet.bench.live_browser import browser_figures
from maskdet.bench.report import Report, Row
from maskdet.bench.stream import STREAM_FPS, STREAM_SIZE, stream_jpegs
from maskdet.core.predictor import Predictor
from maskdet.video.engine import LiveSession, analyse_frame, jpeg_bytes, render_frame
from maskdet.bench.synthvideo import face_frames, write_mp4
from maskdet.video.analysis import analyse_video


def engine_fps(predictor: Predictor, frames: list[bytes], heatmaps: bool, stages: dict) -> float:
    """Frames per second of the live engine over `frames`, after a short warm-up."""
    session = LiveSession()
    for frame in frames[:5]:
        jpeg_bytes(render_frame(analyse_frame(predictor, session, frame, heatmaps=heatmaps)[0], heatmaps))
    start = time.perf_counter()
    for frame in frames:
        begin = time.perf_counter()
        prediction, _ = analyse_frame(predictor, session, frame, heatmaps=heatmaps)
        tracked = time.perf_counter()
        picture = render_frame(prediction, heatmaps)
        drawn = time.perf_counter()
        jpeg_bytes(picture)
        for stage, ms in {**prediction.timings_ms,
                          "track": (tracked - begin) * 1000 - sum(prediction.timings_ms.values()),
                          "draw": (drawn - tracked) * 1000,
                          "jpeg": (time.perf_counter() - drawn) * 1000}.items():
            stages.setdefault(stage, []).append(ms)
    return len(frames) / (time.perf_counter() - start)


def video_fps(predictor: Predictor, folder: Path, count: int) -> tuple[float, float]:
    """(frames per second of the frames loop, of the whole job with its reports) for an MP4."""
    video = write_mp4(folder / "stream.mp4", face_frames(count, STREAM_SIZE), fps=STREAM_FPS)
    result = analyse_video(predictor, video, folder / "video-out", sample_fps=None)
    return len(result.frames) / result.frames_seconds, len(result.frames) / result.seconds


def live_rows(report: Report, predictor: Predictor, model: Path, detector: Path, precision: str,
              quick: bool, browser: bool = True) -> None:
    """Measure and add the L1-L3 rows (and the engine's stage breakdown) to the report."""
    count = 30 if quick else 200
    frames = stream_jpegs(count)
    stages: dict[str, list[float]] = {}
    off = engine_fps(predictor, frames, False, stages)
    on = engine_fps(predictor, frames, True, {})
    report.breakdowns["L1 live engine stages, heatmaps off, ms (median)"] = {
        stage: statistics.median(values) for stage, values in stages.items()}
    report.add(Row("L1 live engine fps, 640x480, 1 face, heatmaps off (JPEG in -> JPEG out)", None, off, "fps",
                   "product >= 30", gate="product", limit=30.0, compare=">="))
    report.add(Row("L1 live engine fps: heatmaps off -> on", off, on, "fps", "product >= 25", gate="product",
                   limit=25.0, compare=">="))
    with tempfile.TemporaryDirectory(prefix="maskdet-bench-live-") as tmp:
        folder = Path(tmp)
        loop_fps, job_fps = video_fps(predictor, folder, 30 if quick else 150)
        report.add(Row("L3 video file fps (H.264 in -> H.264 out): engine -> video", off, loop_fps, "fps",
                       "ratio >= 0.8", limit=0.8, compare=">="))
        report.add(Row("L3 (info) the whole video job, reports and chart included: engine -> job", off, job_fps,
                       "fps"))
        figures = browser_figures(model, detector, precision, folder, 4.0 if quick else 15.0) if browser else None
    if figures is None:
        print("  (no Chromium or playwright: the browser figures L2 are skipped)", flush=True)
        return
    shown_fps, lag_ms, matched = figures
    report.add(Row("L2 fps one Chromium client receives through app.py: engine -> browser", off, shown_fps, "fps",
                   "product >= 10", gate="product", limit=10.0, compare=">="))
    report.add(Row(f"L2 median lag, frame sent -> its result shown ({matched} frames): engine frame -> lag, ms",
                   1000.0 / off, lag_ms, "ms", "product <= 250 ms", gate="product", limit=250.0))
