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
    assert re.match(r"^\d+\.\d fps · no face now · live, \d+ s left$", readout), readout  # the fake camera's test pattern
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
    assert summary.startswith("**15 frames analysed over 1.5 s: faces in 15 of 15 frames;")


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
    page.wait_for_selector("#video-summary :text('15 frames analysed')", timeout=120_000)  # on upload: no button
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


# --- issue 21: a page that needs no manual ------------------------------------------------------

SCREENS = {"desktop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}
IN_VIEW = """(selector) => [...document.querySelectorAll(selector)].map(el => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight + 1 && r.right <= innerWidth + 1; })"""
LEFT_MINUS_RIGHT = """() => { const img = document.querySelector('#live-result img');
    const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
    const g = c.getContext('2d'); g.drawImage(img, 0, 0);
    const mean = x => { const d = g.getImageData(x, c.height / 4, c.width / 4, c.height / 2).data; let s = 0;
        for (let i = 0; i < d.length; i += 4) s += d[i] + d[i + 1] + d[i + 2]; return s / (d.length / 4) / 3; };
    return mean(0) - mean(c.width * 3 / 4); }"""
"""How much brighter the left quarter of the shown live frame is than its right quarter."""


def half_lit_frames(count: int = 20):
    """A camera picture whose left half is bright and right half dark: shows which way it is flipped."""
    import numpy as np

    for index in range(count):
        frame = np.full((240, 320, 3), 30, np.uint8)
        frame[:, :160] = 230
        frame[110:130, 150 + index:170 + index] = 128  # a moving mark: every frame differs
        yield frame


@pytest.mark.parametrize("kind", list(SCREENS))
def test_live_camera_and_result_in_one_view_neither_mirrored(browser, app_server, tmp_path, kind):
    video = write_y4m(tmp_path / "half.y4m", half_lit_frames(), fps=15)
    own = browser.browser_type.launch(executable_path=str(CHROMIUM),
                                      args=CHROMIUM_FLAGS + [f"--use-file-for-fake-video-capture={video}"])
    try:
        page = own.new_page(viewport=SCREENS[kind], is_mobile=kind == "phone", has_touch=kind == "phone")
        page.kind = kind
        page.goto(app_server.url)
        start_live(page)
        page.wait_for_function("window.liveSources.length >= 3", timeout=60_000)
        page.locator("#live-camera").scroll_into_view_if_needed()
        assert page.evaluate(IN_VIEW, "#live-camera video, #live-result img, #live-readout") == [True] * 3
        camera, result = page.locator("#live-camera").bounding_box(), page.locator("#live-result").bounding_box()
        assert abs(camera["y"] - result["y"]) < 5 and result["x"] > camera["x"]  # side by side
        flipped = page.evaluate("getComputedStyle(document.querySelector('#live-camera video')).transform")
        assert flipped in ("none", "matrix(1, 0, 0, 1, 0, 0)"), flipped  # the preview is not mirrored
        assert page.evaluate(LEFT_MINUS_RIGHT) > 100  # nor is the analysed frame: bright stays left
        shot(page, "live-one-view")
    finally:
        own.close()


def test_live_run_shows_plainly_that_it_stopped(browser, predictor, monkeypatch):
    """A run stops after LIVE_SECONDS of wall-clock time (here 4): the page says so, its button reads
    Record again and no more frames come; a viewer's own Stop is said as plainly."""
    import gradio as gr

    from maskdet.bench.localserver import free_port
    from maskdet.web import live_tab

    with gr.Blocks() as demo:
        live_tab.build_live_tab(predictor)
    monkeypatch.setattr(live_tab, "LIVE_SECONDS", 4)  # read by the frame handler as frames come
    monkeypatch.setattr(live_tab, "STOPPED", live_tab.STOPPED.replace("60 s", "4 s"))
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        start_live(page, tab=False)
        button = page.locator("#live-camera button[aria-label='capture photo']")
        page.wait_for_function("window.liveSources.length >= 2", timeout=60_000)
        assert "Stop" in button.inner_text() and "s left" in page.locator("#live-readout").inner_text()
        page.wait_for_selector("#live-readout :text('Stopped')", timeout=30_000)
        assert "Press Record under the camera to start again" in page.locator("#live-readout").inner_text()
        page.wait_for_function("() => /Record/.test(document.querySelector("
                               "'#live-camera button[aria-label=\"capture photo\"]').innerText)", timeout=10_000)
        shown = updates(page)
        time.sleep(2.5)
        assert updates(page) == shown  # stopped for real: no frame comes back any more
        button.click()  # Record again: a new run
        page.wait_for_function(f"window.liveSources.length > {shown}", timeout=60_000)
        assert "s left" in page.locator("#live-readout").inner_text()
        button.click()  # the viewer's own Stop
        page.wait_for_selector("#live-readout :text('Stopped by you')", timeout=10_000)
        assert "Record" in button.inner_text()
    finally:
        context.close()
        demo.close()


@pytest.mark.parametrize("kind", list(SCREENS))
def test_browser_video_tab_needs_no_button_and_errors_stay_one_message(browser, app_server, short_video, tmp_path,
                                                                      kind):
    context = browser.new_context(viewport=SCREENS[kind], is_mobile=kind == "phone", has_touch=kind == "phone")
    try:
        page = context.new_page()
        page.kind = kind
        page.goto(app_server.url)
        page.get_by_role("tab", name="Video file").click()
        page.locator("#video-summary").wait_for(state="visible", timeout=30_000)
        for empty in ("#video-result", "#video-chart", "#video-files"):  # nothing to show yet: no empty boxes
            assert page.locator(empty).is_hidden(), empty
        assert page.get_by_role("button", name=re.compile("Analyse", re.I)).count() == 0
        shot(page, "video-before")
        page.set_input_files("#video-input input[type=file]", str(short_video))
        page.wait_for_selector("#video-summary :text('faces in 15 of 15 frames')", timeout=120_000)
        page.wait_for_function("() => { const v = document.querySelector('#video-result video');"
                               " return v && v.readyState >= 2; }", timeout=30_000)
        expected = page.evaluate("""async () => {
            const link = [...document.querySelectorAll('#video-files a')].find(a => /\\.json/.test(a.href));
            const result = await (await fetch(link.href)).json();
            const settled = result.frames.find(f => f.faces.length && f.faces.every(face => face.verdict !== 'unsure'));
            return settled ? settled.time_s - result.frames[0].time_s : 0; }""")
        assert expected > 0  # a new face is unsure at first, so frame 0 would show it grey
        page.wait_for_timeout(1_000)
        opened = page.evaluate("document.querySelector('#video-result video').currentTime")
        assert abs(opened - expected) < 0.05, (opened, expected)  # the video opens on settled verdicts
        shot(page, "video-result")
        bogus = tmp_path / "notes.mp4"
        bogus.write_text("just some text, not a video")
        page.locator("#video-input").get_by_label(re.compile("^(Clear|Remove.*)$")).first.click()
        page.set_input_files("#video-input input[type=file]", str(bogus))
        page.wait_for_selector("#video-summary :text('Could not use that video')", timeout=60_000)
        page.wait_for_timeout(1_500)
        # one message, in the summary: no toast (not from the analysis, nor from a player trying the
        # text file: the input is a file box with none) and no error marks on the outputs
        toasts = [page.locator(".toast-body").nth(i).inner_text() for i in range(page.locator(".toast-body").count())]
        assert toasts == [], toasts
        assert page.locator("#video-input video").count() == 0
        assert page.get_by_text("Error", exact=True).count() == 0
        assert page.get_by_text("Could not use that video").count() == 1
        for emptied in ("#video-result", "#video-chart", "#video-files"):
            assert page.locator(emptied).is_hidden(), emptied
        shot(page, "video-error")
    finally:
        context.close()
