"""maskdet web app: upload a photo or take a webcam snapshot; every face is boxed as mask / no mask
with its confidence and explained by a Grad-CAM heatmap.

    python app.py        # http://127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT override)
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Optional

import gradio as gr
from PIL import Image as PILImage

from maskdet.config import MAX_IMAGE_PIXELS
from maskdet.faces import DEFAULT_THRESHOLD
from maskdet.images import ImageError
from maskdet.inference import Prediction, Predictor, assume_frozen_weights
from maskdet.model import ModelFileError
from maskdet.precision import PrecisionError
from maskdet.serving import cached_image_file, install_safe_cache_sweep, uploaded_image

HERE = Path(__file__).resolve().parent
METRICS_FILE = HERE / "models" / "metrics.json"
EXAMPLE_FILES = sorted(str(p) for p in (HERE / "examples").glob("*.jpg"))
MAX_FILE_SIZE = "10mb"
CONCURRENCY_LIMIT = 2
"""Requests computed at once: one per core of a 2-vCPU machine (a free Space)."""
QUEUE_SIZE = 32
"""Requests waiting beyond this get a 'queue full' answer instead of hanging."""
CACHE_MAX_AGE_S = int(os.environ.get("MASKDET_CACHE_MAX_AGE", "1800"))
"""Uploads and results older than this are deleted, so the cache stays bounded."""
DELETE_CACHE = (max(1, CACHE_MAX_AGE_S // 2), CACHE_MAX_AGE_S)
"""Gradio's delete_cache (every, older than) in seconds."""

PILImage.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
"""Any PIL decode in this process (Gradio's included) refuses decompression bombs from the header."""
install_safe_cache_sweep()
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


def face_confidences(prediction: Prediction) -> dict[str, float]:
    """Label-component value: mask/no-mask for one face, the top label per face for several."""
    if len(prediction.faces) == 1:
        p = prediction.faces[0].prob_mask
        return {"mask": p, "no mask": 1.0 - p}
    return {f"face {i}: {face.caption().rsplit(' ', 1)[0]}": face.confidence
            for i, face in enumerate(prediction.faces, start=1)}


def summary_markdown(prediction: Prediction) -> str:
    lines = [f"**{prediction.headline()}**"] + [f"- {note}" for note in prediction.notes]
    return "\n".join(lines)


def render(prediction: Prediction, opacity: float) -> tuple:
    """The five outputs: annotated image, labels, heatmap gallery, summary text, JSON."""
    overlays = [(cached_image_file(overlay), caption) for overlay, caption in prediction.overlays(opacity)]
    return (cached_image_file(prediction.annotated()), face_confidences(prediction), overlays,
            summary_markdown(prediction), prediction.summary())


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
        f"{info['weights_origin']}), classes `no_mask` (0) and `mask` (1). On {test['n_images']} held-out "
        f"test images (grouped split, no copies of training photos): accuracy **{test['accuracy']:.1%}**, "
        f"recall mask {recall['mask']['recall']:.1%} / no mask {recall['no_mask']['recall']:.1%}, "
        f"ROC AUC {test['roc_auc']:.3f}, calibration error (ECE) {test['ece']:.1%}. "
        "Faces are found with OpenCV's YuNet detector; heatmaps are Grad-CAM on `block5_conv3`. "
        "See models/MODEL_CARD.md for data, recipe and limits."
    )


def build_demo(predictor: Predictor) -> gr.Blocks:
    """The Blocks UI; `analyse` is also the named API endpoint `/predict`."""

    def analyse(image: Optional[dict], threshold: float = DEFAULT_THRESHOLD,
                opacity: float = 0.45, show_cam: bool = True):
        """Runs with preprocess=False: `image` is Gradio's raw (already path-checked) upload."""
        source = uploaded_image(image)
        if source is None:
            raise gr.Error("Upload a photo, paste one, or take a webcam snapshot first.", print_exception=False)
        try:
            prediction = predictor.predict(source, threshold, explain=show_cam)
            outputs = render(prediction, opacity)
        except ImageError as err:
            raise gr.Error(f"Could not read that image: {err}", print_exception=False) from None
        except Exception:  # noqa: BLE001 - log it, show no internals, keep serving
            traceback.print_exc()
            raise gr.Error("Something went wrong analysing that image; the error was logged.",
                           print_exception=False) from None
        for note in prediction.notes:
            gr.Warning(note)
        return outputs

    def analyse_if_present(image: Optional[dict], *settings):
        """Runs on upload / snapshot / paste; clearing the image just leaves the outputs as they are."""
        return analyse(image, *settings) if image else gr.skip()

    with gr.Blocks(title="maskdet: face-mask detection", delete_cache=DELETE_CACHE) as demo:
        gr.Markdown("# maskdet\nFinds every face, says **mask** or **no mask** with a confidence, "
                    "and shows what the network looked at (Grad-CAM).")
        with gr.Row():
            with gr.Column():
                image = gr.Image(type="filepath", sources=["upload", "webcam", "clipboard"], label="Photo")
                with gr.Accordion("Settings", open=False):
                    threshold = gr.Slider(0.3, 0.95, value=DEFAULT_THRESHOLD, step=0.05,
                                          label="Face detection threshold")
                    opacity = gr.Slider(0.0, 1.0, value=0.45, step=0.05, label="Heatmap opacity")
                    show_cam = gr.Checkbox(value=True, label="Grad-CAM heatmaps")
                button = gr.Button("Detect masks", variant="primary")
                examples_slot = gr.Column()
            with gr.Column():
                annotated = gr.Image(label="Result", type="numpy", interactive=False, elem_id="result-image")
                summary = gr.Markdown(elem_id="summary")
                labels = gr.Label(label="Confidence", num_top_classes=8, elem_id="labels")
        heatmaps = gr.Gallery(label="Grad-CAM per face", columns=6, height=260, object_fit="contain",
                              elem_id="heatmaps")
        details = gr.JSON(label="JSON summary", open=False)
        inputs, outputs = [image, threshold, opacity, show_cam], [annotated, labels, heatmaps, summary, details]
        with examples_slot:
            gr.Examples(EXAMPLE_FILES, inputs=[image], outputs=outputs, fn=analyse, cache_examples=True,
                        cache_mode="lazy", label="Examples (click one)", examples_per_page=8, preprocess=False)
        with gr.Accordion("About the model", open=False):
            gr.Markdown(about_markdown())
        # preprocess=False: the raw upload goes to maskdet.images, which explains what is wrong with it
        button.click(analyse, inputs, outputs, api_name="predict", preprocess=False)
        image.input(analyse_if_present, inputs, outputs, api_visibility="private", preprocess=False)
    return demo


demo = build_demo(load_predictor())
startup_mark("ui_build")

if __name__ == "__main__":
    demo.queue(default_concurrency_limit=CONCURRENCY_LIMIT, max_size=QUEUE_SIZE).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        max_file_size=MAX_FILE_SIZE,
        show_error=True,
        share=False,
    )
