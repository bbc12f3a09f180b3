"""The third verdict end to end: app.py with a model that calls every face "mask worn wrong",
driven through Chromium (the amber box and the table) and gradio_client (the JSON)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from maskdet.render.drawing import VERDICT_COLOURS
from tests.apphelpers import running_app, shot
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.slow
UNDER_NOSE = EXAMPLES / "astronaut_mask_under_nose.jpg"


@pytest.fixture(scope="module")
def worn_app(worn_wrong_model_file, yunet_file, tmp_path_factory):
    with running_app(worn_wrong_model_file, yunet_file, tmp_path_factory.mktemp("worn-app")) as app:
        yield app


def amber_pixels(png: bytes) -> int:
    """Pixels within a few levels of the worn-wrong colour."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return int((np.abs(pixels - np.array(VERDICT_COLOURS["worn_wrong"])).max(axis=2) <= 6).sum())


def test_browser_shows_an_amber_box_and_the_worn_wrong_verdict(browser, worn_app):
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    try:
        page.goto(worn_app.url)
        page.wait_for_selector("input[type=file]", state="attached", timeout=60_000)
        page.set_input_files("input[type=file]", str(UNDER_NOSE))
        page.wait_for_selector("#summary :text('1 worn wrong')", timeout=60_000)
        picture = page.locator("#result-image img").first
        picture.wait_for(state="visible", timeout=30_000)
        assert amber_pixels(picture.screenshot()) > 200  # the box and its caption
        assert page.locator("#faces :text('mask worn wrong')").count() >= 1
        shot(page, "worn-wrong")
    finally:
        context.close()


def test_api_json_has_the_verdict_its_probability_and_counts(worn_app):
    from gradio_client import Client, handle_file

    client = Client(worn_app.url, verbose=False)
    *_, headline, result = client.predict(handle_file(str(UNDER_NOSE)), 0.4, 0.6, False, False, False,
                                          api_name="/predict")
    assert headline == "**1 face: 0 with mask, 1 worn wrong, 0 without**"
    (face,) = result["faces"]
    assert face["verdict"] == face["label"] == "worn_wrong" and face["prob_worn_wrong"] > 0.9
    assert (result["masked"], result["worn_wrong"], result["unmasked"]) == (0, 1, 0)
