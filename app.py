"""maskdet web app: upload a photo or take a webcam snapshot; every face is boxed as mask, mask worn
wrong or no mask (or unsure / too small to judge) with its confidence and explained by a heatmap.

    python app.py        # http://127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT override)

This file only builds and launches: each tab is built by its own module in maskdet/web/.
"""

from __future__ import annotations

import os
from pathlib import Path

import gradio as gr
from PIL import Image as PILImage

from maskdet.config import MAX_IMAGE_PIXELS
from maskdet.core.predictor import Predictor
from maskdet.web import settings
from maskdet.web.about import HEADER, PAGE_CSS, PAGE_DESCRIPTION, build_about
from maskdet.web.guard import request_guard
from maskdet.web.input_errors import install_short_input_errors
from maskdet.web.live_tab import LIVE_CSS, build_live_tab
from maskdet.web.loglimit import cap_output_lines
from maskdet.web.photo_tab import PHOTO_CSS, build_photo_tab
from maskdet.web.serving import install_lean_session_state, install_safe_cache_sweep
from maskdet.web.startup import load_predictor, startup_mark
from maskdet.web.video_tab import VIDEO_CSS, build_video_tab

CSS = PAGE_CSS + PHOTO_CSS + LIVE_CSS + VIDEO_CSS
FAVICON = Path(__file__).resolve().parent / "assets" / "favicon.png"

PILImage.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
"""Any PIL decode in this process (Gradio's included) refuses decompression bombs from the header."""
install_safe_cache_sweep()
install_lean_session_state()
install_short_input_errors()
cap_output_lines()
startup_mark("imports")


def build_demo(predictor: Predictor) -> gr.Blocks:
    """The page: a header, the Photo, Live webcam and Video file tabs, and the About section."""
    with gr.Blocks(title="maskdet: face-mask detection", delete_cache=settings.DELETE_CACHE) as demo:
        gr.Markdown(HEADER.format(minutes=settings.CACHE_MINUTES), elem_id="intro")
        with gr.Tabs(elem_id="modes"):
            with gr.Tab("Photo", elem_id="photo-tab"):
                build_photo_tab(predictor)
            with gr.Tab("Live webcam", elem_id="live-tab"):
                build_live_tab(predictor)
            with gr.Tab("Video file", elem_id="video-tab"):
                build_video_tab(predictor)
        build_about()
    return demo


demo = build_demo(load_predictor())
startup_mark("ui_build")

if __name__ == "__main__":
    demo.queue(default_concurrency_limit=settings.CONCURRENCY_LIMIT, max_size=settings.QUEUE_SIZE).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        max_file_size=settings.MAX_FILE_SIZE,
        app_kwargs=request_guard(settings.MAX_FILE_SIZE),  # body, parts and upload-disk limits on every route
        state_session_capacity=settings.SESSION_CAPACITY,
        show_error=False,  # only gr.Error messages reach users: Gradio's own errors hold internals
        share=False,
        favicon_path=FAVICON,
        head=f'<meta name="description" content="{PAGE_DESCRIPTION}">',
        css=CSS,
    )
