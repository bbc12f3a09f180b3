"""Figure L2: what one browser receives through the real app. Debian's Chromium plays the stream as
its fake camera into the Live tab of app.py (a subprocess on 127.0.0.1). Each frame carries its
number as a row of squares (synthvideo.draw_code); the page records when it sent each frame and when
each annotated frame appeared, so the lag of a frame is appear time - send time, on one clock."""

from __future__ import annotations

import base64
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from maskdet.bench.app_server import AppServer
from maskdet.bench.stream import STREAM_FPS, STREAM_SIZE
from maskdet.bench.synthvideo import face_frames, read_code, write_y4m

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
