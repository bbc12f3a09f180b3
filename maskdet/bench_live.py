"""Live and video figures of the benchmark (called by `python -m maskdet.bench`), on a 640x480 stream
with one face (maskdet.synthvideo: the masked astronaut gliding over grey).

- L1 engine frames per second, heatmaps off and on: JPEG frame -> decode -> detect -> classify
  (+ Grad-CAM) -> track -> draw -> JPEG for the browser, in this process, one frame after another.
- L2 what one browser receives through the real app: Debian's Chromium plays the stream as its fake
  camera into the Live tab of app.py (a subprocess on 127.0.0.1). Each frame carries its number as a
  row of squares (synthvideo.draw_code); the page records when it sent each frame and when each
  annotated frame appeared, so the lag of a frame is appear time - send time, on one clock.
- L3 a video file (H.264 MP4) through maskdet.videoanalysis: decode -> ... -> H.264 encode.
Each figure is also given as a ratio to the L1 engine figure (heatmaps off).
"""

from __future__ import annotations

import base64
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from maskdet.bench import AppServer, Report, Row
from maskdet.inference import Predictor
from maskdet.live import LiveSession, analyse_frame, jpeg_bytes, render_frame
from maskdet.synthvideo import face_frames, read_code, write_mp4, write_y4m
from maskdet.videoanalysis import analyse_video

STREAM_SIZE = (640, 480)
STREAM_FPS = 30
LOOP_FRAMES = 150
"""The fake camera's video loops every 5 s; frame numbers are unique within a loop."""
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
                  "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
RECORD_PAGE = """() => {
    window.sentFrames = []; window.shownFrames = [];
    const send = window.fetch;
    window.fetch = function (input, init) {
        const url = typeof input === 'string' ? input : (input && input.url) || '';
        const body = init && typeof init.body === 'string' ? init.body : '';
        if (/gradio_api\\/(stream\\/|queue\\/join)/.test(url) && body.includes('data:image/jpeg')) {
            window.sentFrames.push([performance.now(), body.match(/data:image\\/jpeg;base64,[A-Za-z0-9+\\/=]+/)[0]]);
        }
        return send.apply(this, arguments);
    };
    const look = () => {
        const img = document.querySelector('#live-result img');
        if (img && img.src && img.src !== window.lastShown) {
            window.lastShown = img.src; window.shownFrames.push([performance.now(), img.src]);
        }
        requestAnimationFrame(look);
    };
    look();
}"""
"""Installed before the page loads: records (time, JPEG data URL) of every frame sent to the stream
and of every new picture in the live result, on the page's clock."""


def stream_jpegs(count: int) -> list[bytes]:
    """The stream's frames as the browser sends them: JPEG, numbered."""
    return [jpeg_bytes(frame) for frame in face_frames(count, STREAM_SIZE, with_code=True)]


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


def browser_figures(model: Path, detector: Path, precision: str, folder: Path, seconds: float
                    ) -> Optional[tuple[float, float, int]]:
    """(frames per second shown, median lag in ms, frames matched) for one Chromium client of the real
    app, or None when Chromium or playwright is missing."""
    if not CHROMIUM.exists():
        return None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    camera = write_y4m(folder / "camera.y4m", face_frames(LOOP_FRAMES, STREAM_SIZE, with_code=True), STREAM_FPS)
    server = AppServer(model, detector, precision, folder)

    def drive() -> tuple[list, list]:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS + [
                f"--use-file-for-fake-video-capture={camera}"])
            try:
                return _record_stream(browser.new_page(), server.url, seconds)
            finally:
                browser.close()

    try:
        server.wait_serving()
        # its own thread: playwright's sync API refuses a thread where it already runs (e.g. in tests)
        with ThreadPoolExecutor(1) as pool:
            sent, shown = pool.submit(drive).result()
    finally:
        server.stop()
    return _match(sent, shown, seconds)


def _record_stream(page, url: str, seconds: float) -> tuple[list, list]:
    """Start the Live tab's stream, let it run `seconds` after a 2 s warm-up, return what was recorded."""
    page.add_init_script(f"({RECORD_PAGE})()")
    page.goto(url)
    page.get_by_role("tab", name="Live webcam").click()
    page.locator("#live-camera").get_by_text("Click to Access Webcam").click()
    page.wait_for_function("() => { const v = document.querySelector('#live-camera video');"
                           " return v && v.readyState >= 2; }", timeout=60_000)
    page.locator("#live-camera").get_by_label("capture photo").click()
    page.wait_for_function("window.shownFrames.length >= 3", timeout=60_000)
    time.sleep(2.0)
    page.evaluate("() => { window.sentFrames = []; window.shownFrames = []; }")
    time.sleep(seconds)
    return page.evaluate("window.sentFrames"), page.evaluate("window.shownFrames")


def _code_of(data_url: str) -> Optional[int]:
    data = base64.b64decode(data_url.split(",", 1)[1])
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    return None if image is None else read_code(image)


def _match(sent: list, shown: list, seconds: float) -> tuple[float, float, int]:
    """Frames shown per second, and the median time from sending a frame to showing its result."""
    sends: dict[int, list[float]] = {}
    for at, url in sent:
        code = _code_of(url)
        if code is not None:
            sends.setdefault(code, []).append(at)
    lags = []
    for at, url in shown:
        code = _code_of(url)
        earlier = [t for t in sends.get(code, []) if t <= at] if code is not None else []
        if earlier:
            lags.append(at - max(earlier))
    return len(shown) / seconds, statistics.median(lags) if lags else float("nan"), len(lags)


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
    report.add(Row("L1 live engine fps: heatmaps off -> on", off, on, "fps", "product >= 20", gate="product",
                   limit=20.0, compare=">="))
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
