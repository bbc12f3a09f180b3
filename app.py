"""maskdet web app: upload a photo or take a webcam snapshot; every face is boxed as mask / no mask
(or unsure / too small to judge) with its confidence and explained by a Grad-CAM heatmap.

    python app.py        # http://127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT override)
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Optional

import gradio as gr
from PIL import Image as PILImage

from maskdet.config import MAX_IMAGE_PIXELS, MIN_FACE_SIZE, UNSURE_BAND
from maskdet.faces import DEFAULT_THRESHOLD
from maskdet.images import ImageError
from maskdet.inference import Prediction, Predictor, assume_frozen_weights
from maskdet.model import ModelFileError
from maskdet.precision import PrecisionError
from maskdet.results import DEFAULT_OPACITY
from maskdet.guard import request_guard
from maskdet.loglimit import cap_output_lines
from maskdet.serving import (cached_image_file, checked_settings, install_lean_session_state,
                             install_safe_cache_sweep, uploaded_image, user_facing_errors)
from maskdet.liveview import build_live_tab
from maskdet.videoview import build_video_tab
from maskdet.webview import DISPLAY_MAX_SIDE, KeptResults, View, face_table, summary_markdown

HERE = Path(__file__).resolve().parent
METRICS_FILE = HERE / "models" / "metrics.json"
MODEL_CARD = HERE / "models" / "MODEL_CARD.md"
FAVICON = HERE / "assets" / "favicon.png"
EXAMPLES = [  # (file, caption): shown as a table under the result
    ("astronaut_mask.jpg", "One face, surgical mask"),
    ("astronaut_black_mask.jpg", "One face, black cloth mask"),
    ("astronaut_no_mask.jpg", "One face, no mask"),
    ("cameraman_no_mask.jpg", "Side view, greyscale, no mask: a hard case"),
    ("group_mixed.jpg", "Five faces, two masked"),
    ("cat_no_face.jpg", "A cat: no face, so no verdict"),
]
ON_SPACES = bool(os.environ.get("SPACE_ID"))
"""Hugging Face Spaces sets SPACE_ID; the Share buttons only work there."""
IMAGE_BUTTONS = ["download", "fullscreen"] + (["share"] if ON_SPACES else [])
PAGE_DESCRIPTION = ("Face-mask detection you can check: every face in a photo is boxed as mask or no mask, "
                    "with a heatmap of what the model looked at.")
MAX_FILE_SIZE = "10mb"
CONCURRENCY_LIMIT = 2
"""Requests computed at once: one per core of a 2-vCPU machine (a free Space)."""
QUEUE_SIZE = 32
"""Requests waiting beyond this get a 'queue full' answer instead of hanging."""
SESSION_CAPACITY = 200
"""Sessions whose state Gradio keeps in memory (its default: 10,000). Each keeps its last result for
re-rendering, ~1.3 MB for a 5-face photo and up to ~10 MB (1280 px picture, 32 face crops)."""
CACHE_MAX_AGE_S = int(os.environ.get("MASKDET_CACHE_MAX_AGE", "1800"))
"""Uploads and results older than this are deleted, so the cache stays bounded."""
DELETE_CACHE = (max(1, CACHE_MAX_AGE_S // 2), CACHE_MAX_AGE_S)
"""Gradio's delete_cache (every, older than) in seconds."""

PILImage.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
"""Any PIL decode in this process (Gradio's included) refuses decompression bombs from the header."""
install_safe_cache_sweep()
install_lean_session_state()
cap_output_lines()
STARTUP_LOG_ENV = "MASKDET_STARTUP_LOG"


def startup_mark(stage: str) -> None:
    """With MASKDET_STARTUP_LOG set, print a wall-clock stamp per start-up stage (read by maskdet.bench)."""
    if os.environ.get(STARTUP_LOG_ENV):
        print(f"maskdet-startup {stage} {time.time():.3f}", flush=True)


startup_mark("imports")


def load_predictor() -> Predictor:
    """Load and warm up the model once per process; a bad model file stops start-up with its name."""
    assume_frozen_weights()
    try:
        predictor = Predictor()
    except (ModelFileError, PrecisionError) as err:
        raise SystemExit(f"error: {err}") from None
    print(f"maskdet: classifier computes in {predictor.engine.precision}", file=sys.stderr)
    startup_mark("model_load")
    predictor.warm_up()
    startup_mark("warm_up")
    if predictor.detector_problem:
        print(f"warning: {predictor.detector_problem}; whole images will be classified", file=sys.stderr)
    return predictor


HEADER = (
    "# 😷 maskdet: who wears a mask?\n"
    "**Upload, paste or snap a photo, or click an example below: every face is boxed as mask or no mask, "
    "with a heatmap of what the model looked at.** The Live webcam tab does it on your camera's video as it "
    "streams, the Video file tab on a whole video.  \n"
    "Your photo is processed in memory on this server and is not kept: its temporary copy and the "
    "results are deleted after {minutes} minutes."
)
SCROLL_TO_RESULT = """() => { const result = document.getElementById('result');
    const top = result ? result.getBoundingClientRect().top : 0;
    if (result && (window.innerWidth < 768 || top < 0 || top > window.innerHeight / 2)) {
        result.scrollIntoView({behavior: 'instant', block: 'start'}); } }"""
"""Bring the result into view once it is there: on a phone it sits below the photo, and an example
clicked further down the page would otherwise run out of sight."""
CSS = """
#result-image:not(:has(img)), #heatmaps:not(:has(img)), #faces:not(:has(tbody td)) { display: none !important; }
#heatmaps .grid-container:has(> :only-child) { grid-template-columns: minmax(0, 420px) !important; }
#examples img { max-height: 64px; }
#heatmaps .grid-container:has(> :nth-child(2):last-child) { grid-template-columns: repeat(2, minmax(0, 1fr)) !important; }
#heatmaps .grid-container { grid-template-columns: repeat(3, minmax(0, 1fr)) !important;
    grid-template-rows: none !important; grid-auto-rows: auto !important; }
#heatmaps .caption-label { font-size: 12px; padding: 1px 4px; }
#heatmaps-block:not(:has(img)) { display: none !important; }
"""
"""Empty result parts take no room (so the examples stay near the top on a phone); heatmap tiles
are one per row for one face, two for two, else three: readable on a phone and on a desktop."""
WAITING = "Your result will appear here."


def checked_switches(one_face: object, on_photo: object) -> tuple[bool, bool]:
    """The two on/off settings as sent by the browser or an API caller: booleans or a clear error."""
    if not isinstance(one_face, bool) or not isinstance(on_photo, bool):
        raise gr.Error("one_face and on_photo must be true or false.", print_exception=False)
    return one_face, on_photo


def api_description(cache_minutes: int) -> str:
    """What /predict does and what each parameter means, for the API page and its clients."""
    low, high = UNSURE_BAND
    return (
        "Find every face in a photo and say whether it wears a mask. "
        "Parameters: `image`: the photo (JPEG, PNG, WebP, BMP or GIF; at most 10 MB and 50 megapixels). "
        f"`threshold`: lowest face-detection score looked at, 0.3-0.95 (default {DEFAULT_THRESHOLD}); "
        "weaker detections must be found again in a close-up before they count. "
        f"`opacity`: strength of the heatmaps, 0-1 (default {DEFAULT_OPACITY}). "
        "`show_cam`: include a Grad-CAM heatmap per face. "
        "`one_face`: the photo is one cropped face: skip the face search and classify the whole picture. "
        "`on_photo`: draw each face's heatmap in its box on the photo. "
        "Returns: the annotated photo, a per-face table, the heatmap tiles, a one-line summary, and a JSON "
        "object whose `faces` list has, per face, `box` [x1, y1, x2, y2] in the photo's pixels, `label` "
        "(the classifier's pick, mask or no_mask), `verdict` (mask, no_mask, unsure when the mask "
        f"probability is within {low}-{high}, or too_small under {MIN_FACE_SIZE} px), `prob_mask` and "
        "`detection_score`. A photo without faces gives no verdict: `faces` is empty and `headline` says so. "
        f"Photos and results are deleted from the server after {cache_minutes} minutes."
    )


def about_markdown(metrics_file: Path = METRICS_FILE) -> str:
    """What the model is and its held-out test metrics, read from models/metrics.json."""
    try:
        metrics = json.loads(metrics_file.read_text())
    except (OSError, ValueError):
        return "Model metrics are not available (models/metrics.json is missing)."
    test, info = metrics["test"], metrics["model_info"]
    recall = test["per_class"]
    return (
        f"VGG16-topology classifier (width {info['width']:g}, {info['input_size']} px, weights: "
        f"{info['weights_origin']}), classes `no_mask` (0) and `mask` (1). "
        f"{held_out_sources_sentence(metrics.get('held_out_sources'))}"
        f"On {test['n_images']} held-out test images of its training sources "
        f"(grouped split, no copies of training photos): accuracy **{test['accuracy']:.1%}**, "
        f"recall mask {recall['mask']['recall']:.1%} / no mask {recall['no_mask']['recall']:.1%}, "
        f"ROC AUC {test['roc_auc']:.3f}, calibration error (ECE) {test['ece']:.1%}. "
        "Faces are found with OpenCV's YuNet detector; heatmaps are Grad-CAM on `block5_conv3`. "
        f"Data, recipe and known limits: {model_card_link()}."
    )


def held_out_sources_sentence(figures: Optional[dict]) -> str:
    """The recipe's figure on photo sources the model was not trained on, when metrics.json has it."""
    if not figures:
        return ""
    return (f"On {figures['images']} faces from {figures['sources']} photo sources that its recipe's models "
            f"were not trained on (held-out-source folds): accuracy **{figures['accuracy']:.1%}**, "
            f"recall mask {figures['recall_mask']:.1%} / no mask {figures['recall_no_mask']:.1%}, "
            f"wrong at 90% confidence or more {figures['confident_errors']:.1%}. ")


def model_card_link() -> str:
    """A working link to the model card: on the Space's file page there, else to its copy below."""
    if ON_SPACES:
        return (f"[the model card](https://huggingface.co/spaces/{os.environ['SPACE_ID']}"
                "/blob/main/models/MODEL_CARD.md)")
    return "[the model card](#model-card) (below)"


def model_card_markdown() -> str:
    try:
        return MODEL_CARD.read_text()
    except OSError:
        return "The model card (models/MODEL_CARD.md) is missing."


def build_demo(predictor: Predictor) -> gr.Blocks:
    """The Blocks UI; `analyse` is also the named API endpoint `/predict`. The last result (at display
    size) is kept per session, so display settings re-render it without calling the model."""
    cache_minutes = max(1, CACHE_MAX_AGE_S // 60)
    kept = KeptResults(max_age_s=CACHE_MAX_AGE_S)

    def show(prediction: Prediction, view: View) -> tuple:
        """Outputs for a result: picture, table, heatmap tiles, summary (JSON and state set by callers)."""
        tiles = [(cached_image_file(tile), caption) for tile, caption in view.tiles(prediction)]
        return (cached_image_file(view.picture(prediction)), face_table(prediction), tiles,
                summary_markdown(prediction))

    def analyse(image: Optional[dict], threshold: float = DEFAULT_THRESHOLD, opacity: float = DEFAULT_OPACITY,
                show_cam: bool = True, one_face: bool = False, on_photo: bool = False,
                request: Optional[gr.Request] = None):
        threshold, opacity, show_cam = checked_settings(threshold, opacity, show_cam)
        one_face, on_photo = checked_switches(one_face, on_photo)
        source = uploaded_image(image)  # the raw upload (preprocess=False): maskdet.images reads it
        if source is None:
            raise gr.Error("Upload a photo, paste one, or take a webcam snapshot first.", print_exception=False)
        with user_facing_errors("that image", ImageError, "Could not read that image"):
            prediction = predictor.predict(source, threshold, explain=True, whole_image=one_face)
            shown = prediction.scaled(DISPLAY_MAX_SIDE)
            outputs = show(shown, View(opacity, show_cam, on_photo)) + (prediction.summary(),)
        kept.put(request.session_hash if request else None, shown)
        for note in prediction.notes:
            if note != prediction.headline():
                gr.Warning(note)
        return outputs

    def analyse_or_clear(image: Optional[dict], threshold: float, opacity: float, show_cam: bool,
                         one_face: bool, on_photo: bool, request: gr.Request):
        """Runs on upload / snapshot / paste; clearing the photo clears the result too."""
        if image:
            return analyse(image, threshold, opacity, show_cam, one_face, on_photo, request)
        kept.drop(request.session_hash)
        return None, face_table(None), [], WAITING, None

    def rerender(opacity: float, show_cam: bool, on_photo: bool, request: gr.Request):
        """A display setting changed: redraw the session's kept result, no model call."""
        shown = kept.get(request.session_hash)
        if shown is None:
            return gr.skip(), gr.skip()
        _, opacity, show_cam = checked_settings(DEFAULT_THRESHOLD, opacity, show_cam)
        _, on_photo = checked_switches(False, on_photo)
        picture, _, tiles, _ = show(shown, View(opacity, show_cam, on_photo))
        return picture, tiles

    with gr.Blocks(title="maskdet: face-mask detection", delete_cache=DELETE_CACHE) as demo:
        gr.Markdown(HEADER.format(minutes=cache_minutes), elem_id="intro")
        with gr.Tabs(elem_id="modes"):
            with gr.Tab("Photo", elem_id="photo-tab"):
                with gr.Row(equal_height=False):
                    with gr.Column(min_width=300):
                        image = gr.Image(type="filepath", sources=["upload", "webcam", "clipboard"],
                                         label="Photo", height=360, elem_id="photo")
                        one_face = gr.Checkbox(False, label="This photo is one cropped face: "
                                               "classify the whole picture")
                        button = gr.Button("Detect masks", variant="primary")
                        with gr.Accordion("Settings", open=False, elem_id="settings"):
                            threshold = gr.Slider(0.3, 0.95, value=DEFAULT_THRESHOLD, step=0.05,
                                                  label="Face detection: lowest score looked at",
                                                  info="Lower finds more faces; weak ones are double-checked")
                            opacity = gr.Slider(0.0, 1.0, value=DEFAULT_OPACITY, step=0.05,
                                                label="Heatmap opacity")
                            show_cam = gr.Checkbox(True, label="Show heatmaps (Grad-CAM)")
                            on_photo = gr.Checkbox(False, label="Heatmaps on the photo, each face in its box")
                    with gr.Column(min_width=300, elem_id="result"):
                        summary = gr.Markdown(WAITING, elem_id="summary")
                        annotated = gr.Image(label="Result", show_label=False, type="numpy", interactive=False,
                                             elem_id="result-image", buttons=IMAGE_BUTTONS)
                        table = gr.Dataframe(face_table(None), label="Faces, numbered as on the photo (score: how "
                                             "sure the face detector is that it is a face)", interactive=False,
                                             elem_id="faces", max_height=420, buttons=["copy"],
                                             column_widths=["10%", "32%", "40%", "18%"])
                        with gr.Column(elem_id="heatmaps-block"):
                            gr.Markdown("**What the model looked at**, per face: brighter = more influence on "
                                        "its verdict. Click a face to see it large.")
                            heatmaps = gr.Gallery(label="Heatmaps per face", show_label=False, columns=3, height="auto",
                                                  object_fit="contain", fit_columns=False, elem_id="heatmaps",
                                                  buttons=IMAGE_BUTTONS)
                        with gr.Accordion("JSON result", open=False):
                            details = gr.JSON(label="JSON result", show_label=False)
                inputs = [image, threshold, opacity, show_cam, one_face, on_photo]
                outputs = [annotated, table, heatmaps, summary, details]
                example_caption = gr.Textbox(visible=False, label="What it shows")
                examples = gr.Examples([[str(HERE / "examples" / name), caption] for name, caption in EXAMPLES],
                                       inputs=[image, example_caption], cache_examples=False,
                                       label="Examples (click one: it runs with your settings)", examples_per_page=8,
                                       elem_id="examples")
            with gr.Tab("Live webcam", elem_id="live-tab"):
                build_live_tab(predictor)
            with gr.Tab("Video file", elem_id="video-tab"):
                build_video_tab(predictor)
        with gr.Accordion("About the model", open=False):
            gr.Markdown(about_markdown())
            with gr.Accordion("Model card", open=False, elem_id="model-card"):
                gr.Markdown(model_card_markdown())
        # preprocess=False: the raw upload goes to maskdet.images, which explains what is wrong with it
        runs = [
            button.click(analyse, inputs, outputs, api_name="predict", preprocess=False,
                         api_description=api_description(cache_minutes)),
            image.input(analyse_or_clear, inputs, outputs, api_visibility="private", preprocess=False),
            examples.load_input_event.then(analyse, inputs, outputs, api_visibility="private", preprocess=False),
        ]
        for run in runs:
            run.success(None, js=SCROLL_TO_RESULT)
        for setting in (opacity, show_cam, on_photo):
            setting.input(rerender, [opacity, show_cam, on_photo], [annotated, heatmaps],
                          api_visibility="private", show_progress="hidden")
    return demo


demo = build_demo(load_predictor())
startup_mark("ui_build")

if __name__ == "__main__":
    demo.queue(default_concurrency_limit=CONCURRENCY_LIMIT, max_size=QUEUE_SIZE).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        max_file_size=MAX_FILE_SIZE,
        app_kwargs=request_guard(MAX_FILE_SIZE),  # body, parts and upload-disk limits on every route
        state_session_capacity=SESSION_CAPACITY,
        show_error=False,  # only gr.Error messages reach users: Gradio's own errors hold internals
        share=False,
        favicon_path=FAVICON,
        head=f'<meta name="description" content="{PAGE_DESCRIPTION}">',
        css=CSS,
    )
