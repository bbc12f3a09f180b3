"""The app's words: the page header, the /predict API description and the About section (the model's
held-out metrics from models/metrics.json, and the model card)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import gradio as gr

from maskdet.config import CHECKOUT_DIR, HEATMAP_LAYERS, MAX_IMAGE_PIXELS, MIN_FACE_SIZE, UNSURE_BAND, UPLOAD_LIMIT_BYTES
from maskdet.core.faces import DEFAULT_THRESHOLD, THRESHOLD_RANGE
from maskdet.core.prediction import DEFAULT_OPACITY
from maskdet.web.settings import ON_SPACES

METRICS_FILE = CHECKOUT_DIR / "models" / "metrics.json"
MODEL_CARD = CHECKOUT_DIR / "models" / "MODEL_CARD.md"
PAGE_DESCRIPTION = ("Face-mask detection you can check: every face in a photo is boxed as mask, mask worn wrong "
                    "or no mask, "
                    "with a heatmap of what the model looked at.")
HEADER = (
    "# 😷 maskdet: who wears a mask?\n"
    "**Upload, paste or snap a photo, or click an example under the upload box: every face is boxed as mask, "
    "mask worn wrong (under the nose or on the chin) or no mask, "
    "with a heatmap of what the model looked at.** The Live webcam tab does it on your camera's video as it "
    "streams, the Video file tab on a whole video.  \n"
    "Your photo is processed in memory on this server and is not kept: its temporary copy and the "
    "results are deleted after {minutes} minutes."
)

PAGE_CSS = """
:root { --block-info-text-color: #4b5563; --body-text-color-subdued: #4b5563; --color-accent: #c2410c;
    --button-primary-background-fill: #c2410c; --button-primary-background-fill-hover: #9a3412; }
.dark { --block-info-text-color: #c4c4cc; --body-text-color-subdued: #c4c4cc; }
@media (max-width: 640px) { #intro h1 { font-size: 22px; margin-bottom: 4px; }
    #intro p { font-size: 14px; line-height: 1.4; } }
"""
"""Help text and slider numbers at 4.5:1 or more on their background (Gradio's light grey was 1.9:1);
a compact header on a phone, so the photo box and the examples fit the first screen."""


def api_description(cache_minutes: int) -> str:
    """What /predict does and what each parameter means, for the API page and its clients (plain
    text: the API page shows it as written)."""
    high = UNSURE_BAND[1]
    return (
        "Find every face in a photo and say whether it wears a mask. "
        f"Parameters: image: the photo (JPEG, PNG, WebP, BMP or GIF; at most {UPLOAD_LIMIT_BYTES // 2**20} MB and "
        f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels). "
        f"threshold: lowest face-detection score looked at, {THRESHOLD_RANGE[0]:g}-{THRESHOLD_RANGE[1]:g} "
        f"(default {DEFAULT_THRESHOLD:g}); "
        "weaker detections must be found again in a close-up before they count. "
        f"opacity: strength of the heatmaps, 0-1 (default {DEFAULT_OPACITY}). "
        "show_cam: include a Grad-CAM heatmap per face. "
        "one_face: the photo is one cropped face: skip the face search and classify the whole picture. "
        "on_photo: draw each face's heatmap in its box on the photo. "
        "Returns: the annotated photo, a per-face table, the heatmap tiles, a one-line summary, and a JSON "
        "object whose faces list has, per face, box [x1, y1, x2, y2] in the photo's pixels, label "
        "(the classifier's pick), verdict (mask, worn_wrong for a mask that leaves the nose uncovered, "
        f"no_mask, unsure when no class is more likely than {high}, or too_small under {MIN_FACE_SIZE} px), "
        "prob_mask (a mask worn right), prob_worn_wrong (with a three-class model) and detection_score; "
        "the counts masked, worn_wrong, unmasked, unsure and too_small. "
        "A photo without faces gives no verdict: faces is empty and headline says so. "
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
        f"VGG16-topology classifier (width {info['width']:g}, {info['input_size']} px, "
        f"{weights_words(info['weights_origin'])}), classes {classes_words(info)}. "
        f"{held_out_sources_sentence(metrics.get('held_out_sources'))}"
        f"On {test['n_images']} held-out test images of its training sources "
        f"(grouped split, no copies of training photos): accuracy **{test['accuracy']:.1%}**, "
        f"recall mask {recall['mask']['recall']:.1%} / no mask {recall['no_mask']['recall']:.1%}"
        f"{worn_wrong_words(recall)}, "
        f"ROC AUC {test['roc_auc']:.3f}, calibration error (ECE) {test['ece']:.1%}. "
        "Faces are found with OpenCV's YuNet detector; heatmaps are LayerCAM (a Grad-CAM variant) "
        f"fused from {' and '.join(f'`{name}`' for name, _ in HEATMAP_LAYERS)}. "
        f"Data, recipe and known limits: {model_card_link()}."
    )


def worn_wrong_words(per_class: dict) -> str:
    """The worn-wrong recall and precision, when the test split has such faces."""
    worn = per_class.get("worn_wrong") or {}
    if not worn.get("support"):
        return ""
    return (f" / mask worn wrong {worn['recall']:.1%} (of {worn['support']} such faces; "
            f"{worn['precision']:.0%} of the faces it calls worn wrong are)")


def weights_words(origin: str) -> str:
    """Where the weights started, in words ("none" read as if the model had no weights)."""
    return "trained from scratch, no ImageNet weights" if origin == "none" else f"started from {origin} weights"


def classes_words(info: dict) -> str:
    names = info.get("class_names", ["no_mask", "mask"])
    return ", ".join(f"`{name}` ({index})" for index, name in enumerate(names))


def held_out_sources_sentence(figures: Optional[dict]) -> str:
    """The recipe's figure on photo sources the model was not trained on, when metrics.json has it."""
    if not figures:
        return ""
    return (f"On {figures['images']} faces from {figures['sources']} photo sources that its recipe's models "
            f"were not trained on (held-out-source folds): mask / no mask right **{figures['accuracy']:.1%}**, "
            f"recall mask {figures['recall_mask']:.1%} / no mask {figures['recall_no_mask']:.1%}, "
            f"wrong at 90% confidence or more {figures['confident_errors']:.1%}. ")


def model_card_link() -> str:
    """A working link to the model card: on the Space's file page there, else to its copy below."""
    if ON_SPACES:
        return (f"[the model card](https://huggingface.co/spaces/{os.environ['SPACE_ID']}"
                "/blob/main/models/MODEL_CARD.md)")
    return "[the model card](#model-card) (below, open)"


def model_card_markdown() -> str:
    try:
        return MODEL_CARD.read_text()
    except OSError:
        return "The model card (models/MODEL_CARD.md) is missing."


CARD_SUMMARY = (
    "**In short.** A small VGG16-style network, trained from scratch, that says whether a face found "
    "by OpenCV's YuNet detector wears a mask, and whether it covers the nose. **How right:** {held_out} "
    "**Where it fails:** things held in front of the face (a camera, a hand) can read as a mask, "
    "sunglasses and tiny greyscale faces as well; about 1 in 5 masks worn under the nose is missed, and "
    "about 1 in 80 faces wearing a mask right or none is called worn wrong; a face the detector misses "
    "gets no verdict. **Licences:** one training source is MIT, the other eleven are "
    "research-only or unlicensed, so the model is for research and demonstration. The full card "
    "follows."
)
"""The model card's opening: what it is, how right it is on unseen photos, where it fails, licences."""


def card_summary(metrics_file: Path = METRICS_FILE) -> str:
    try:
        figures = json.loads(metrics_file.read_text()).get("held_out_sources")
    except (OSError, ValueError):
        figures = None
    held_out = (f"{figures['accuracy']:.1%} of {figures['images']:,} faces right on photo sources it "
                f"was never trained on; wrong with 90%+ confidence on {figures['confident_errors']:.1%}."
                if figures else "see the results below.")
    return CARD_SUMMARY.format(held_out=held_out)


def build_about() -> None:
    """The About accordion (metrics and the model card), inside the current Blocks context. The card
    is open inside it, so the link "(below)" lands on its text, which starts with a short summary."""
    with gr.Accordion("About the model", open=False, elem_id="about"):
        gr.Markdown(about_markdown())
        with gr.Accordion("Model card", open=True, elem_id="model-card"):
            gr.Markdown(card_summary(), elem_id="card-summary")
            gr.Markdown(model_card_markdown())
