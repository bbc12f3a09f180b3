"""The Photo tab: upload, paste or snap a photo; every face boxed, tabled and explained by a heatmap.

`analyse` is also the named API endpoint `/predict`. The last result (at display size) is kept per
session (maskdet.web.session_store), so display settings re-render it without calling the model.
"""

from __future__ import annotations

from typing import Optional

import gradio as gr

from maskdet.config import CHECKOUT_DIR
from maskdet.core.faces import DEFAULT_THRESHOLD, THRESHOLD_RANGE
from maskdet.core.images import ImageError
from maskdet.core.prediction import DEFAULT_OPACITY, NO_FACE_MESSAGE, Prediction
from maskdet.core.predictor import Predictor
from maskdet.web.about import api_description
from maskdet.web.result_view import DISPLAY_MAX_SIDE, View, face_table, summary_markdown
from maskdet.web.serving import cached_image_file, checked_settings, uploaded_image, user_facing_errors
from maskdet.web.session_store import KeptResults
from maskdet.web.settings import CACHE_MAX_AGE_S, CACHE_MINUTES, IMAGE_BUTTONS

EXAMPLES_DIR = CHECKOUT_DIR / "examples"
EXAMPLES = [  # (file, caption): a strip of thumbnails under the upload box
    ("astronaut_mask.jpg", "One face, surgical mask"),
    ("astronaut_black_mask.jpg", "One face, black cloth mask"),
    ("astronaut_mask_under_nose.jpg", "Mask under the nose: the model is unsure"),
    ("astronaut_mask_on_chin.jpg", "Mask pulled down to the chin"),
    ("astronaut_no_mask.jpg", "One face, no mask"),
    ("cameraman_no_mask.jpg", "No mask, side view: the model gets it wrong"),
    ("group_mixed.jpg", "Five faces, two masked"),
    ("cat_no_face.jpg", "A cat: no face, so no verdict"),
]
WRONG_EXAMPLE = "cameraman_no_mask.jpg"
"""The example the shipped model gets wrong; its caption says so (tests/test_app.py checks it still does)."""
SCROLL_TO_RESULT = """() => { const result = document.getElementById('result');
    const top = result ? result.getBoundingClientRect().top : 0;
    if (result && (window.innerWidth < 768 || top < 0 || top > window.innerHeight / 2)) {
        result.scrollIntoView({behavior: 'instant', block: 'start'}); } }"""
"""Bring the result into view once it is there: on a phone it sits below the photo, and an example
clicked further down the page would otherwise run out of sight. Gap upstream (Gradio 6.31): the
events' own `scroll_to_output=True` scrolls to the topmost output (here the photo, which a run also
updates) every time, when the run starts as well as when it ends, smoothly, and also on a wide
screen where the result is already in view beside the photo; it has no "only when out of sight"."""
PHOTO_CSS = """
#result-image:not(:has(img)), #heatmaps:not(:has(img)), #faces:not(:has(tbody td)) { display: none !important; }
#heatmaps .grid-container:has(> :only-child) { grid-template-columns: minmax(0, 420px) !important; }
#examples thead { display: none; }
#examples .table-wrap, #examples table, #examples tbody { display: block; border: none; overflow: visible;
    padding: 0 !important; margin: 0 !important; }
#examples tbody { display: flex; flex-wrap: wrap; gap: 6px; }
#examples tr { display: flex; flex-direction: column; flex: 1 1 0; min-width: 0; cursor: pointer; background: none !important;
    padding: 0 !important; margin: 0 !important; }
#examples td .container { width: 100%; height: auto; border: none; margin: 0; }
#examples td { display: block; padding: 0 !important; margin: 0 !important; max-width: none !important; border: none; }
#examples td img { width: 100%; height: 52px; object-fit: cover; }
#examples td.textbox div { font-size: 12px; line-height: 1.25; --local-text-width: 100% !important; }
#heatmaps .caption-label { white-space: normal; overflow: visible; text-overflow: clip; max-width: calc(100% - 8px); }
#result-image .icon-button-wrapper { position: static; justify-content: flex-end; margin: 0 0 4px auto;
    width: fit-content; }
@media (max-width: 640px) { #photo { height: 220px !important; }
    #examples tr { flex: 0 0 calc(25% - 5px); } #examples td img { width: 100%; height: 44px; }
    #examples td.textbox div { font-size: 11px; } }
#heatmaps .grid-container:has(> :nth-child(2):last-child) { grid-template-columns: repeat(2, minmax(0, 1fr)) !important; }
#heatmaps .grid-container { grid-template-columns: repeat(3, minmax(0, 1fr)) !important;
    grid-template-rows: none !important; grid-auto-rows: auto !important; }
#heatmaps .caption-label { font-size: 12px; padding: 1px 4px; }
#heatmaps-block:not(:has(img)) { display: none !important; }
"""
"""Empty result parts take no room; the examples are a compact strip of captioned thumbnails under
the upload box (on screen on arrival, on a phone too); heatmap tiles are one per row for one face,
two for two, else three, captions wrapped rather than cut; the result photo's buttons sit above it,
not on its corner (where they hid a face's number)."""
WAITING = "Your result will appear here."


def error_markdown(message: str) -> str:
    """A problem, said where the result would be."""
    return f"**⚠ {message}**"


def below_threshold(predictor: Predictor, prediction: Prediction, threshold: float) -> int:
    """How many more faces the default detection threshold finds than `threshold` did (0 when the
    threshold is at or below the default, or the photo was classified whole)."""
    if prediction.whole_image or threshold <= DEFAULT_THRESHOLD or predictor.detector is None:
        return 0
    found = len(predictor.detector.detect(prediction.image, DEFAULT_THRESHOLD))
    return max(0, found - len(prediction.faces))


def with_threshold_note(summary: str, hidden: int, threshold: float) -> str:
    """The summary, saying so when the threshold (not the photo) left faces out."""
    if not hidden:
        return summary
    faces = "1 more face scores" if hidden == 1 else f"{hidden} more faces score"
    note = (f"{faces} below the face-detection threshold {threshold:g}: lower it in Settings "
            f"(default {DEFAULT_THRESHOLD:g}) to include them")
    if summary.startswith(f"**{NO_FACE_MESSAGE}**"):
        return f"**No face at the face-detection threshold {threshold:g}**\n- {note}"
    return f"{summary}\n- {note}"


def checked_switches(one_face: object, on_photo: object) -> tuple[bool, bool]:
    """The two on/off settings as sent by the browser or an API caller: booleans or a clear error."""
    if not isinstance(one_face, bool) or not isinstance(on_photo, bool):
        raise gr.Error("one_face and on_photo must be true or false.", print_exception=False)
    return one_face, on_photo


class PhotoHandlers:
    """The tab's event handlers around one predictor and the sessions' kept results."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self.kept = KeptResults(max_age_s=CACHE_MAX_AGE_S)

    @staticmethod
    def show(prediction: Prediction, view: View) -> tuple:
        """Outputs for a result: picture, table, heatmap tiles, summary (JSON and state set by callers)."""
        tiles = [(cached_image_file(tile), caption) for tile, caption in view.tiles(prediction)]
        return (cached_image_file(view.picture(prediction)), face_table(prediction), tiles,
                summary_markdown(prediction))

    def predict(self, image: Optional[dict], threshold: float = DEFAULT_THRESHOLD, opacity: float = DEFAULT_OPACITY,
                show_cam: bool = True, one_face: bool = False, on_photo: bool = False,
                request: Optional[gr.Request] = None):
        """The /predict endpoint: a result, or a gr.Error the API caller reads."""
        threshold, opacity, show_cam = checked_settings(threshold, opacity, show_cam)
        one_face, on_photo = checked_switches(one_face, on_photo)
        source = uploaded_image(image)  # the raw upload (preprocess=False): maskdet.core.images reads it
        if source is None:
            raise gr.Error("Upload a photo, paste one, or take a webcam snapshot first.", print_exception=False)
        with user_facing_errors("that image", ImageError, "Could not read that image"):
            prediction = self.predictor.predict(source, threshold, explain=True, whole_image=one_face)
            shown = prediction.scaled(DISPLAY_MAX_SIDE)
            picture, table, tiles, summary = self.show(shown, View(opacity, show_cam, on_photo))
            summary = with_threshold_note(summary, below_threshold(self.predictor, prediction, threshold), threshold)
        self.kept.put(request.session_hash if request else None, shown)
        return picture, table, tiles, summary, prediction.summary()  # notes are in the summary: no toasts

    def analyse(self, image: Optional[dict], threshold: float, opacity: float, show_cam: bool, one_face: bool,
                on_photo: bool, request: gr.Request):
        """The page's run (button, example, threshold or one-face change): as /predict, but a problem
        becomes one message where the result would be, until the next action (no toast, no error
        marks), and an unreadable upload is removed rather than shown as a broken picture."""
        try:
            return (gr.skip(),) + self.predict(image, threshold, opacity, show_cam, one_face, on_photo, request)
        except gr.Error as err:
            self.kept.drop(request.session_hash)
            unreadable = image is not None and "Could not read" in str(err.message)
            return (None if unreadable else gr.skip(), None, face_table(None), [], error_markdown(err.message), None)

    def analyse_or_clear(self, image: Optional[dict], threshold: float, opacity: float, show_cam: bool,
                         one_face: bool, on_photo: bool, request: gr.Request):
        """Runs on upload / snapshot / paste; clearing the photo clears the result too."""
        if image:
            return self.analyse(image, threshold, opacity, show_cam, one_face, on_photo, request)
        self.kept.drop(request.session_hash)
        return gr.skip(), None, face_table(None), [], WAITING, None

    def analyse_kept_photo(self, image: Optional[dict], threshold: float, opacity: float, show_cam: bool,
                           one_face: bool, on_photo: bool, request: gr.Request):
        """The threshold or "one cropped face" changed: analyse the photo again (nothing without one)."""
        if not image:
            return (gr.skip(),) * 6
        return self.analyse(image, threshold, opacity, show_cam, one_face, on_photo, request)

    def rerender(self, opacity: float, show_cam: bool, on_photo: bool, request: gr.Request):
        """A display setting changed: redraw the session's kept result, no model call."""
        shown = self.kept.get(request.session_hash)
        if shown is None:
            return gr.skip(), gr.skip()
        _, opacity, show_cam = checked_settings(DEFAULT_THRESHOLD, opacity, show_cam)
        _, on_photo = checked_switches(False, on_photo)
        picture, _, tiles, _ = self.show(shown, View(opacity, show_cam, on_photo))
        return picture, tiles


def build_photo_tab(predictor: Predictor) -> None:
    """The Photo tab's components and events, inside the current Blocks/Tab context."""
    handlers = PhotoHandlers(predictor)
    with gr.Row(equal_height=False):
        with gr.Column(min_width=300):
            image = gr.Image(type="filepath", sources=["upload", "webcam", "clipboard"],
                             label="Photo", height=320, elem_id="photo")
            example_caption = gr.Textbox(visible=False, label="What it shows")
            examples = gr.Examples([[str(EXAMPLES_DIR / name), caption] for name, caption in EXAMPLES],
                                   inputs=[image, example_caption], cache_examples=False,
                                   label="Examples: click one (it runs with your settings)", examples_per_page=8,
                                   elem_id="examples")
            one_face = gr.Checkbox(False, label="This photo is one cropped face: "
                                   "classify the whole picture")
            button = gr.Button("Detect masks", variant="primary")
            with gr.Accordion("Settings", open=False, elem_id="settings"):
                threshold = gr.Slider(*THRESHOLD_RANGE, value=DEFAULT_THRESHOLD, step=0.05,
                                      label="Face detection: lowest score looked at",
                                      info="Lower finds more faces; weak ones are double-checked")
                opacity = gr.Slider(0.0, 1.0, value=DEFAULT_OPACITY, step=0.05,
                                    label="Heatmap opacity")
                show_cam = gr.Checkbox(True, label="Show heatmaps (Grad-CAM)")
                on_photo = gr.Checkbox(False, label="Heatmaps on the photo, each face in its box")
        with gr.Column(min_width=300, elem_id="result"):
            summary = gr.Markdown(WAITING, label="Summary: the faces counted by verdict, and any notes",
                                  elem_id="summary")
            annotated = gr.Image(label="Result", show_label=False, type="numpy", interactive=False,
                                 elem_id="result-image", buttons=IMAGE_BUTTONS)
            table = gr.Dataframe(face_table(None), label="Faces, numbered as on the photo (score: how "
                                 "sure the face detector is that it is a face)", interactive=False,
                                 elem_id="faces", max_height=420, buttons=["copy"],
                                 column_widths=["10%", "32%", "40%", "18%"])
            with gr.Column(elem_id="heatmaps-block"):
                gr.Markdown("**What the model looked at**, per face: brighter = more influence on "
                            "its verdict. Click a face to see it large.")
                heatmaps = gr.Gallery(label="Heatmaps per face", show_label=False, columns=3, height="fit-content",
                                      object_fit="contain", fit_columns=False, elem_id="heatmaps",
                                      buttons=IMAGE_BUTTONS)
            with gr.Accordion("JSON result", open=False):
                details = gr.JSON(label="JSON result", show_label=False)
    inputs = [image, threshold, opacity, show_cam, one_face, on_photo]
    outputs = [annotated, table, heatmaps, summary, details]
    page_outputs = [image] + outputs  # the page's runs also remove an unreadable upload
    api_only = gr.Button("predict (API only)", visible=False)
    # preprocess=False: the raw upload goes to maskdet.core.images, which explains what is wrong with it
    api_only.click(handlers.predict, inputs, outputs, api_name="predict", preprocess=False,
                   api_description=api_description(CACHE_MINUTES))
    page_run = dict(api_visibility="private", preprocess=False, show_progress_on=outputs)
    runs = [
        button.click(handlers.analyse, inputs, page_outputs, api_name="analyse_button", **page_run),
        image.input(handlers.analyse_or_clear, inputs, page_outputs, **page_run),
        # Private in Gradio 6.31 (tests/test_serving.py pins it): load_input_event is the dataset click
        # that fills the inputs with the example. Gap upstream: no public event fires after that, and
        # Examples(fn=..., run_on_click=True) runs fn on the examples' own inputs only (not the
        # settings), with preprocess on and no event returned to scroll after.
        examples.load_input_event.then(handlers.analyse, inputs, page_outputs, **page_run),
        gr.on([threshold.change, one_face.change], handlers.analyse_kept_photo, inputs, page_outputs,
              trigger_mode="always_last", **page_run),
    ]
    for run in runs:
        run.success(None, js=SCROLL_TO_RESULT)
    for setting in (opacity, show_cam, on_photo):
        setting.input(handlers.rerender, [opacity, show_cam, on_photo], [annotated, heatmaps],
                      api_visibility="private", show_progress="hidden")
