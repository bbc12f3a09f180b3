"""The Live tab's server side: webcam frames streamed by Gradio in, annotated frames out.

How frames flow (Gradio 6 `stream` event): every STREAM_EVERY seconds (holding back while its event
is still pending) the browser captures the camera's current picture as a JPEG and posts it to
/gradio_api/stream/<event>. Gradio keeps only the newest posted frame for the event (a post replaces
the one waiting) and calls `frame` with it as soon as the previous call returns. So a server slower
than the camera drops stale frames and never works through a queue of old ones: the lag stays about
one frame's round trip (tests/test_live_app.py checks it with a deliberately slow server;
`python -m maskdet bench` measures it: in one run on the loaded 2-core machine the browser posted
25 frames a second and about half were answered, the others replaced before they were taken).
A stream ends after LIVE_SECONDS (time_limit), or STREAM_IDLE_S after its last frame; at most
LIVE_STREAMS streams run at once (their own concurrency group) and LIVE_WAITING more wait, one per
session, so neither one viewer nor a flood of joins can hold the server: photo requests keep their
slots and their queue places. A bad frame (empty, of the wrong form, too large, undecodable) is
skipped with a message, and the stream and the session go on.

The annotated frame goes back inline as a JPEG data URL (send_inline), not as a file in Gradio's cache:
no file per frame on disk, and no second request per frame.
"""

from __future__ import annotations

import base64
import io
import os
import time
import traceback
from typing import Any, Callable, Optional

import gradio as gr
import numpy as np
from gradio.data_classes import Base64ImageData, ImageData
from PIL import Image, UnidentifiedImageError

from maskdet.core.images import DECODED_FORMATS, ImageError
from maskdet.core.prediction import DEFAULT_OPACITY
from maskdet.core.predictor import Predictor
from maskdet.video.engine import LiveSession, jpeg_bytes, process_frame
from maskdet.web.serving import checked_settings, limit_queue_group, refused_input, skips_bad_inputs, uploaded_image

STREAM_EVERY = 0.03
"""Seconds between the frames the browser posts (at most ~33 per second); frames the server has no
time for are replaced by newer ones, not queued."""
LIVE_SECONDS = 60
"""Each stream stops after this many seconds (press record again to go on)."""
LIVE_STREAMS = 1
"""Streams served at once on a 2-core machine; further viewers wait in the queue."""
LIVE_WAITING = 2
"""Viewers who may wait for the stream slot; more are told "busy" at once (maskdet.web.serving.limit_queue_group),
so live joins take at most this many of the queue's places. One stream per session."""
LIVE_BUSY = "The live view is busy (one stream at a time, two waiting); try again in a minute."
FRAME_MAX_PIXELS = 3840 * 2160
"""A streamed frame larger than 4K (from its header, before decoding) is refused."""
FRAME_MAX_BYTES = 2 * 1024 * 1024
"""A streamed frame larger than this is refused (a 1920x1080 webcam JPEG is about 300 kB)."""
WAITING = "Press the record button under the camera to start; frames are analysed as they arrive."
RUN_GAP_S = 2.0
"""A frame this long after the previous one starts a new run (the viewer pressed record again)."""
STOPPED = (f"**Stopped**: a run lasts {LIVE_SECONDS} s. Press **Record** under the camera to start again.")


class TimedSession(LiveSession):
    """A viewer's stream session that also times the current run by the wall clock (Gradio's
    time_limit counts only the seconds spent in the handler, so a fast server streamed on for
    minutes)."""

    def __init__(self) -> None:
        super().__init__()
        self.run_started = self.last_frame = -float("inf")

    def run_seconds(self, now: float) -> float:
        """Seconds since the current run started; a frame after a pause of RUN_GAP_S starts one."""
        if now - self.last_frame > RUN_GAP_S:
            self.run_started = now
        self.last_frame = now
        return now - self.run_started


_INLINE = "_maskdet_inline"


def send_inline(image: gr.Image) -> gr.Image:
    """Make image outputs send data URLs (what `frame` returns) inline to the browser, which shows
    them like any image; other values are Gradio's as before (the app's outputs are file paths or
    arrays, never data URLs). Installed on gr.Image itself, once: a gr.skip() output makes Gradio
    replace the component in the session's state with a fresh gr.Image, which lost an instance-level
    change, so every later frame of that session failed ("File name too long"). (Not a subclass:
    Gradio writes a .pyi file next to the module of every Component subclass it sees.)"""
    if not getattr(gr.Image.postprocess, _INLINE, False):
        original = gr.Image.postprocess

        def postprocess(self: gr.Image, value: Any) -> Optional[ImageData | Base64ImageData]:
            if isinstance(value, str) and value.startswith("data:image/"):
                return Base64ImageData(url=value)
            return original(self, value)

        setattr(postprocess, _INLINE, True)
        gr.Image.postprocess = postprocess  # type: ignore[method-assign]
    return image


def data_url(image: np.ndarray) -> str:
    """An RGB frame as a JPEG data URL."""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg_bytes(image)).decode("ascii")


def frame_source(payload: Any) -> Optional[bytes | str]:
    """The streamed frame as sent by the browser (a JPEG data URL, or an upload), checked however it
    came (check_frame); None for no frame. Raises gr.Error or ImageError."""
    if isinstance(payload, str) and payload.startswith("data:"):
        payload = {"url": payload}
    source = uploaded_image(payload, max_bytes=FRAME_MAX_BYTES)
    if source is not None:
        check_frame(source)
    return source


def check_frame(source: bytes | str) -> None:
    """Refuse a frame over FRAME_MAX_BYTES or FRAME_MAX_PIXELS before it is decoded: a data URL was
    limited to 2 MB, but a 2.6 MB, 7000x7000 upload named by its path was decoded (1.3 s a frame)."""
    size = len(source) if isinstance(source, bytes) else os.stat(source).st_size
    if size > FRAME_MAX_BYTES:
        raise ImageError(f"the frame is {size / 2**20:.1f} MB; the limit is {FRAME_MAX_BYTES / 2**20:g} MB")
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source, formats=DECODED_FORMATS) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return  # not an image: maskdet.core.images says so when it reads it
    if width * height > FRAME_MAX_PIXELS:
        raise ImageError(f"the frame is {width}x{height} pixels; the limit is 3840x2160 (4K)")


def frame_handler(predictor: Predictor) -> Callable:
    """The `stream` event's function: (frame, heatmaps, opacity, session) -> (frame shown, readout,
    session). A bad frame is skipped with a message; the stream goes on."""

    def frame(payload: Any, heatmaps: bool, opacity: float, session: Optional[LiveSession]):
        _, opacity, heatmaps = checked_settings(0.5, opacity, heatmaps)
        session = session if isinstance(session, TimedSession) else TimedSession()
        refused = refused_input()  # a frame of the wrong form reaches here as None
        if refused:
            return gr.skip(), f"Could not read that frame: {refused}", session
        try:
            source = frame_source(payload)
        except (gr.Error, ImageError) as err:
            return gr.skip(), f"Could not read that frame: {_reason(err)}", session
        if source is None:
            return gr.skip(), WAITING, session
        elapsed = session.run_seconds(time.monotonic())
        if elapsed >= LIVE_SECONDS:  # the page presses Stop when it reads this (LIVE_STATE_JS)
            return gr.skip(), STOPPED, session
        try:
            picture, readout = process_frame(predictor, session, source, heatmaps=heatmaps, opacity=opacity)
        except ImageError as err:
            return gr.skip(), f"Could not read that frame: {err}", session
        except Exception:  # noqa: BLE001 - log it, show no internals, keep streaming
            traceback.print_exc()
            return gr.skip(), "Something went wrong analysing that frame; the error was logged.", session
        return data_url(picture), f"{readout.markdown()} · live, {LIVE_SECONDS - int(elapsed)} s left", session

    return skips_bad_inputs(frame)


def _reason(err: Exception) -> str:
    """An error's message without the "Could not read that image: " of the photo tab's answers."""
    return str(getattr(err, "message", None) or err).removeprefix("Could not read that image: ")


LIVE_HELP = ("**Live webcam.** Allow the camera, then press **Record**: each frame is analysed as it "
             "arrives and comes back with its boxes, next to the camera. A face shows *unsure* until it has "
             f"been seen in a few frames; verdicts are smoothed over frames so they do not flicker. Each run "
             f"stops after {LIVE_SECONDS} s (press Record again to go on). Frames are analysed in memory and "
             "not kept.")
LIVE_STATE_JS = """(text) => {
    const button = document.querySelector('#live-camera button[aria-label="capture photo"]');
    if (!button) return;
    const recording = () => /Stop/.test(button.innerText);
    const sayStopped = () => { const readout = document.querySelector('#live-readout .prose');
        if (readout && button.dataset.maskdetStopped) readout.innerHTML = '<p><strong>Stopped</strong> by you. '
            + 'Press <strong>Record</strong> under the camera to start again.</p>'; };
    if (!button.dataset.maskdetWatched) {
        button.dataset.maskdetWatched = '1';
        button.addEventListener('click', () => {
            if (!recording()) { delete button.dataset.maskdetStopped; return; }  // Record: a new run
            if (button.dataset.maskdetLimit) { delete button.dataset.maskdetLimit; return; }
            button.dataset.maskdetStopped = '1';
            setTimeout(sayStopped, 800);
        }, true);
    }
    if (button.dataset.maskdetStopped && !recording()) setTimeout(sayStopped, 50);  // a late frame's readout
    if (/^\\*?\\*?Stopped/.test(text || '') && recording()) { button.dataset.maskdetLimit = '1'; button.click(); }
}"""
"""The run's state, plainly: when the server says the run is over, press the camera's Stop button
(so it reads Record again and no more frames are sent); when the viewer presses Stop, say so."""
LIVE_CSS = """
#live-row { flex-wrap: nowrap; }
@media (max-width: 640px) { #live-camera, #live-result { height: 260px !important; } }
"""
"""The camera and the annotated frame side by side on any screen (on a phone too, scaled down), so a
viewer sees themself and the verdicts at once."""


def build_live_tab(predictor: Predictor) -> None:
    """The Live tab's components and its stream event, inside the current Blocks/Tab context."""
    gr.Markdown(LIVE_HELP)
    readout = gr.Markdown(WAITING, elem_id="live-readout")
    with gr.Row(equal_height=True, elem_id="live-row"):
        with gr.Column(min_width=150):
            # not mirrored: the preview and the analysed frames (and text in them) read the same way
            camera = gr.Image(sources=["webcam"], streaming=True, type="filepath", label="Camera", height=360,
                              elem_id="live-camera", webcam_options=gr.WebcamOptions(mirror=False))
        with gr.Column(min_width=150):
            shown = send_inline(gr.Image(label="Live result", show_label=False, interactive=False, height=360,
                                         elem_id="live-result", buttons=["fullscreen"]))
    with gr.Row():
        heatmaps = gr.Checkbox(False, label="Heatmaps on the faces (Grad-CAM; slower)")
        opacity = gr.Slider(0.0, 1.0, value=DEFAULT_OPACITY, step=0.05, label="Heatmap opacity")
    readout.change(None, [readout], None, js=LIVE_STATE_JS)
    session = gr.State(None)
    limit_queue_group("live", waiting=LIVE_WAITING, per_session=1, message=LIVE_BUSY)
    camera.stream(frame_handler(predictor), [camera, heatmaps, opacity, session], [shown, readout, session],
                  stream_every=STREAM_EVERY, time_limit=LIVE_SECONDS, concurrency_limit=LIVE_STREAMS,
                  concurrency_id="live", preprocess=False, show_progress="hidden", api_visibility="private")
