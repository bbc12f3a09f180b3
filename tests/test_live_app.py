"""End-to-end: the Live and Video tabs of the real app.py (tiny model) in Chromium with a fake camera,
and the video endpoint through gradio_client. Screenshots go to $MASKDET_SCREENSHOTS when set."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest

from maskdet.bench.synthvideo import face_frames, write_mp4, write_y4m
from maskdet.video.files import probe
from tests.apphelpers import shot
from tests.conftest import CHROMIUM, CHROMIUM_FLAGS

pytestmark = pytest.mark.slow

WATCH_RESULT = """() => { window.liveSources = []; const look = () => {
    const img = document.querySelector('#live-result img');
    if (img && img.src && img.src !== window.lastLive) { window.lastLive = img.src; window.liveSources.push(img.src.length); }
    requestAnimationFrame(look); }; look(); }"""
"""Record every new picture shown in the live result (its data URL length), checked each frame."""


def start_live(page, tab: bool = True) -> None:
    """Open the Live tab, allow the (fake) camera and press record."""
    if tab:
        page.get_by_role("tab", name="Live webcam").click()
    camera = page.locator("#live-camera")
    camera.get_by_text(re.compile("Click to Access Webcam", re.I)).click()
    page.wait_for_function("() => { const v = document.querySelector('#live-camera video'); "
                           "return v && v.readyState >= 2; }", timeout=30_000)
    page.evaluate(WATCH_RESULT)
    camera.get_by_label("capture photo").click()


def updates(page) -> int:
    return page.evaluate("window.liveSources.length")


def test_live_tab_streams_annotated_frames(page):
    start_live(page)
    page.wait_for_function("window.liveSources.length >= 10", timeout=60_000)
    assert updates(page) >= 10
    readout = page.locator("#live-readout .prose").first.inner_text()
    assert re.match(r"^\d+\.\d fps · no face now$", readout), readout  # the fake camera's test pattern
    shot(page, "live-test-pattern")


def test_live_face_is_boxed_tracked_and_counted(browser, app_server, tmp_path):
    """Chromium's fake camera playing a generated video of a face: the readout counts one face."""
    video = write_y4m(tmp_path / "face.y4m", face_frames(30, (320, 240), with_code=True), fps=15)
    flags = CHROMIUM_FLAGS + [f"--use-file-for-fake-video-capture={video}"]
    own = browser.browser_type.launch(executable_path=str(CHROMIUM), args=flags)
    try:
        page = own.new_page(viewport={"width": 1280, "height": 900})
        page.goto(app_server.url)
        start_live(page)
        page.wait_for_function("() => /1 face now/.test(document.querySelector('#live-readout').innerText)",
                               timeout=60_000)
        page.wait_for_function("window.liveSources.length >= 10", timeout=60_000)
        shot(page, "live-face")
    finally:
        own.close()


def test_stale_frames_are_dropped_not_queued(browser, predictor):
    """A server slower than the camera builds no backlog: a frame posted while the server is busy
    replaces the one waiting, so there are never more calls than frames posted, the answers keep
    coming, and nothing is left to work through once the viewer stops."""
    import gradio as gr

    from maskdet.web.live_tab import build_live_tab
    from maskdet.bench.localserver import free_port

    calls: list[float] = []

    class Slow:
        """The real predictor, 0.4 s slower per frame."""

        def predict(self, *args, **kwargs):
            calls.append(time.monotonic())
            time.sleep(0.4)
            return predictor.predict(*args, **kwargs)

    with gr.Blocks() as demo:
        build_live_tab(Slow())
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    context = browser.new_context()
    try:
        page = context.new_page()
        posted: list[float] = []
        lock = threading.Lock()

        def record(request) -> None:
            if request.method == "POST" and re.search(r"/gradio_api/stream/[0-9a-f]+$", request.url):
                with lock:
                    posted.append(time.monotonic())

        page.on("request", record)
        page.goto(f"http://127.0.0.1:{port}/")
        start_live(page, tab=False)
        page.wait_for_function("window.liveSources.length >= 6", timeout=60_000)
        page.get_by_text("Stop", exact=True).click()
        stopped = time.monotonic()
        time.sleep(2.0)
        after_stop = [t for t in calls if t > stopped + 0.5]
        during = [t for t in calls if t <= stopped]
        assert len(during) <= len([t for t in posted if t <= stopped]) + 1  # + the frame sent with the join
        assert not after_stop, "frames were still being worked through after the stream stopped"
        assert updates(page) >= 6
    finally:
        context.close()
        demo.close()


# --- Video tab ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def short_video(tmp_path_factory) -> Path:
    return write_mp4(tmp_path_factory.mktemp("video") / "walk.mp4", face_frames(15, (320, 240)), fps=10)


def test_video_endpoint_returns_video_chart_and_json(app_server, short_video):
    import json

    from gradio_client import Client, handle_file
    from PIL import Image

    client = Client(app_server.url, verbose=False)
    video, chart, files, summary = client.predict(handle_file(str(short_video)), False, api_name="/video")
    path = Path(video["video"] if isinstance(video, dict) else video)
    info = probe(path)
    assert info.codec == "h264" and (info.width, info.height) == (320, 240) and info.frames == 15
    assert Image.open(chart).format == "PNG"
    names = sorted(Path(f).name for f in files)
    assert names == ["walk.csv", "walk.json"]
    result = json.loads(Path(next(f for f in files if f.endswith(".json"))).read_text())
    assert result["file"] == "walk.mp4" and result["frames_analysed"] == 15
    assert all(len(frame["faces"]) == 1 for frame in result["frames"])
    assert summary.startswith("**15 frames analysed over 1.5 s: faces in 15")


@pytest.mark.parametrize("name, message", [
    ("empty.mp4", "the file is empty (0 bytes)"),
    ("notes.mp4", "not a video file this app reads (mp4, webm or mov)"),
    ("cut.mp4", "damaged or truncated"),
    ("voice.m4a", "the file has no video track (is it audio only?)"),
])
def test_bad_video_is_a_clear_error_and_the_app_keeps_serving(app_server, short_video, tmp_path, name, message):
    from gradio_client import Client, handle_file

    from tests.test_video import audio_only

    client = Client(app_server.url, verbose=False)
    bad = tmp_path / name
    if name == "voice.m4a":
        audio_only(bad)
    else:
        data = short_video.read_bytes()
        bad.write_bytes({"empty.mp4": b"", "notes.mp4": b"just some text", "cut.mp4": data[: len(data) // 2]}[name])
    with pytest.raises(Exception) as caught:
        client.predict(handle_file(str(bad)), False, api_name="/video")
    assert str(caught.value).startswith("Could not use that video: ") and message in str(caught.value)
    *_, summary = client.predict(handle_file(str(short_video)), False, api_name="/video")
    assert "15 frames analysed" in summary


def test_browser_video_tab_plays_the_annotated_video(page, short_video):
    page.get_by_role("tab", name="Video file").click()
    assert "at most 10 MB, 60 s and 1920x1080" in page.locator("#video-tab").inner_text()
    page.set_input_files("#video-input input[type=file]", str(short_video))
    page.wait_for_selector("#video-summary :text('15 frames analysed')", timeout=120_000)
    page.wait_for_function("() => { const v = document.querySelector('#video-result video');"
                           " return v && v.readyState >= 2 && v.videoWidth === 320; }", timeout=30_000)
    played = page.evaluate("""async () => { const v = document.querySelector('#video-result video');
        v.muted = true; await v.play(); await new Promise(r => setTimeout(r, 600)); v.pause();
        return v.currentTime; }""")
    assert played > 0.2  # Chromium decodes and plays it
    assert page.locator("#video-chart img").first.is_visible()
    assert page.locator("#video-files").get_by_text("walk").count() == 2
    shot(page, "video-tab")


@pytest.mark.parametrize("meta", [False, True])
def test_video_endpoint_reads_only_uploads(app_server, meta):
    """A request naming a server file as its video is refused and the file is not read. Gradio itself
    refuses both (a Video input's file dict must carry `meta`, and then lie in the upload folder);
    maskdet.web.serving.uploaded_image checks the path again behind it."""
    import httpx

    video = {"path": "/etc/passwd", **({"meta": {"_type": "gradio.FileData"}} if meta else {})}
    joined = httpx.post(app_server.url + "gradio_api/call/video", json={"data": [video, False]}, timeout=30)
    assert joined.status_code == 200
    answer = httpx.get(app_server.url + f"gradio_api/call/video/{joined.json()['event_id']}", timeout=60).text
    assert "event: error" in answer and "root:" not in answer
