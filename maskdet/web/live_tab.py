"""The Live tab's server side: webcam frames streamed by Gradio in, annotated frames out.

How frames flow (Gradio 6 `stream` event): every STREAM_EVERY seconds (holding back while its event
is still pending) the browser captures the camera's current picture as a JPEG and posts it to
/gradio_api/stream/<event>. Gradio keeps only the newest posted frame for the event (a post replaces
the one waiting) and calls `frame` with it as soon as the previous call returns. So a server slower
than the camera drops stale frames and never works through a queue of old ones: the lag stays about
one frame's round trip (tests/test_live_app.py checks it with a deliberately slow server;
`python -m maskdet bench` measures it: in one run on the loaded 2-core machine the browser posted
25 frames a second and about half were answered, the others replaced before they were taken).
A stream ends after LIVE_SECONDS (time_limit), and at most LIVE_STREAMS streams run at once (their
own concurrency group), so one viewer cannot hold the server and photo requests keep their slots.

The annotated frame goes back inline as a JPEG data URL (send_inline), not as a file in Gradio's cache:
no file per frame on disk, and no second request per frame.
"""

from __future__ import annotations

import base64
import traceback
from typing import Any, Callable, Optional

import gradio as gr
import numpy as np
from gradio.data_classes import Base64ImageData, ImageData

from maskdet.core.images import ImageError
from maskdet.core.predictor import Predictor
from maskdet.video.engine import LiveSession, jpeg_bytes, process_frame
from maskdet.web.serving import checked_settings, uploaded_image

STREAM_EVERY = 0.03
"""Seconds between the frames the browser posts (at most ~33 per second); frames the server has no
time for are replaced by newer ones, not queued."""
LIVE_SECONDS = 60
"""Each stream stops after this many seconds (press record again to go on)."""
LIVE_STREAMS = 1
"""Streams served at once on a 2-core machine; further viewers wait in the queue."""
FRAME_MAX_BYTES = 2 * 1024 * 1024
"""A streamed frame larger than this is refused (a 1920x1080 webcam JPEG is about 300 kB)."""
WAITING = "Press the record button under the camera to start; frames are analysed as they arrive."


def send_inline(image: gr.Image) -> gr.Image:
    """Make an output image send data URLs (what `frame` returns) inline to the browser, which shows
    them like any image. (An instance attribute, not a subclass: Gradio writes a .pyi file next to
    the module of every Component subclass it sees.)"""
    original = image.postprocess

    def postprocess(value: Any) -> Optional[ImageData | Base64ImageData]:
        if isinstance(value, str) and value.startswith("data:image/"):
            return Base64ImageData(url=value)
        return original(value)

    image.postprocess = postprocess  # type: ignore[method-assign]
    return image


def data_url(image: np.ndarray) -> str:
    """An RGB frame as a JPEG data URL."""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg_bytes(image)).decode("ascii")


def frame_source(payload: Any) -> Optional[bytes | str]:
    """The streamed frame as sent by the browser (a JPEG data URL, or an upload), at most
    FRAME_MAX_BYTES; None for no frame."""
    if isinstance(payload, str) and payload.startswith("data:"):
        payload = {"url": payload}
    return uploaded_image(payload, max_bytes=FRAME_MAX_BYTES)


def frame_handler(predictor: Predictor) -> Callable:
    """The `stream` event's function: (frame, heatmaps, opacity, session) -> (frame shown, readout,
    session). A bad frame is skipped with a message; the stream goes on."""

    def frame(payload: Any, heatmaps: bool, opacity: float, session: Optional[LiveSession]):
        _, opacity, heatmaps = checked_settings(0.5, opacity, heatmaps)
        session = session if isinstance(session, LiveSession) else LiveSession()
        source = frame_source(payload)
        if source is None:
            return gr.skip(), WAITING, session
        try:
            picture, readout = process_frame(predictor, session, source, heatmaps=heatmaps, opacity=opacity)
        except ImageError as err:
            return gr.skip(), f"Could not read that frame: {err}", session
        except Exception:  # noqa: BLE001 - log it, show no internals, keep streaming
            traceback.print_exc()
            return gr.skip(), "Something went wrong analysing that frame; the error was logged.", session
        return data_url(picture), readout.markdown(), session

    return frame


LIVE_HELP = ("**Live webcam.** Allow the camera, then press the record button: each frame is analysed as it "
             "arrives and comes back with its boxes. A face shows *unsure* until it has been seen in a few "
             f"frames; verdicts are smoothed over frames so they do not flicker. Each run stops after "
             f"{LIVE_SECONDS} s (press record again to go on). Frames are analysed in memory and not kept.")


def build_live_tab(predictor: Predictor) -> None:
    """The Live tab's components and its stream event, inside the current Blocks/Tab context."""
    gr.Markdown(LIVE_HELP)
    with gr.Row(equal_height=False):
        with gr.Column(min_width=300):
            camera = gr.Image(sources=["webcam"], streaming=True, type="filepath", label="Camera", height=360,
                              elem_id="live-camera")
            heatmaps = gr.Checkbox(False, label="Heatmaps on the faces (Grad-CAM; slower)")
            opacity = gr.Slider(0.0, 1.0, value=0.6, step=0.05, label="Heatmap opacity")
        with gr.Column(min_width=300):
            readout = gr.Markdown(WAITING, elem_id="live-readout")
            shown = send_inline(gr.Image(label="Live result", show_label=False, interactive=False, height=360,
                                         elem_id="live-result", buttons=["fullscreen"]))
    session = gr.State(None)
    camera.stream(frame_handler(predictor), [camera, heatmaps, opacity, session], [shown, readout, session],
                  stream_every=STREAM_EVERY, time_limit=LIVE_SECONDS, concurrency_limit=LIVE_STREAMS,
                  concurrency_id="live", preprocess=False, show_progress="hidden", api_visibility="private")
