"""End-to-end: the real app.py as a subprocess on 127.0.0.1, driven by gradio_client and Chromium
(desktop 1366x768 and a 390x844 phone). Screenshots go to $MASKDET_SCREENSHOTS when it is set."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from tests.apphelpers import shot
from tests.conftest import EXAMPLES, REPO_ROOT

pytestmark = pytest.mark.slow

SHIPPED_MODEL = REPO_ROOT / "models" / "maskdet_vgg16.keras"
SCREENS = {"desktop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}
MODEL_FNS = {"predict", "analyse", "analyse_or_clear"}
"""api_name of every event that runs the model (the rest only redraw or fill inputs)."""


@pytest.fixture(scope="module")
def shipped_app(yunet_file, tmp_path_factory):
    """app.py with the shipped model: its heatmaps are what users see (a random tiny model's may be
    blank, and then a redraw at another opacity looks the same)."""
    from tests.apphelpers import running_app

    with running_app(SHIPPED_MODEL, yunet_file, tmp_path_factory.mktemp("shipped-app")) as app:
        yield app


@pytest.fixture(scope="module")
def app_url(shipped_app) -> str:
    return shipped_app.url


@pytest.fixture(scope="module")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)


def call_predict(client, path: Path, *settings):
    from gradio_client import handle_file

    return client.predict(handle_file(str(path)), *(settings or (0.6, 0.45, True)), api_name="/predict")


def test_api_returns_one_result_per_face(client):
    annotated, table, gallery, summary, details = call_predict(client, EXAMPLES / "group_mixed.jpg")
    assert Path(annotated).is_file()
    assert details["faces_found"] == 5 and len(details["faces"]) == 5
    assert len(gallery) == 5 and [row[0] for row in table["data"]] == [1, 2, 3, 4, 5]
    assert table["headers"] == ["#", "verdict", "confidence", "score"]
    verdicts = [row[1] for row in table["data"]]
    assert verdicts == [face["verdict"].replace("_", " ").replace("too small", "too small to judge")
                        for face in details["faces"]]
    assert all("background-color" in row[1] for row in table["metadata"]["styling"])  # coloured verdicts
    assert "5 faces" in summary


def test_api_no_face_gives_no_verdict_unless_one_face_is_said(client):
    annotated, table, gallery, summary, details = call_predict(client, EXAMPLES / "cat_no_face.jpg")
    assert summary == "**No face found — try a closer, frontal photo**"
    assert details["faces"] == [] and details["masked"] == details["unmasked"] == 0
    assert gallery == [] and table["data"] in ([], [[]], [["", "", "", ""]])
    *_, whole = call_predict(client, EXAMPLES / "cat_no_face.jpg", 0.6, 0.45, True, True, False)
    assert whole["whole_image"] is True and len(whole["faces"]) == 1


def test_bad_file_is_a_clear_error_and_the_next_request_is_served(client, tmp_path):
    bogus = tmp_path / "not-a-photo.jpg"
    bogus.write_text("definitely text")
    with pytest.raises(Exception) as caught:
        call_predict(client, bogus)
    assert "Traceback" not in str(caught.value)
    *_, details = call_predict(client, EXAMPLES / "astronaut_no_mask.jpg")
    assert details["faces_found"] == 1


def test_api_page_describes_predict_and_each_parameter(client):
    endpoint = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/predict"]
    names = [parameter["parameter_name"] for parameter in endpoint["parameters"]]
    assert names == ["image", "threshold", "opacity", "show_cam", "one_face", "on_photo"]
    description = endpoint["description"]
    assert description.startswith("Find every face in a photo")
    assert all(f"`{name}`" in description for name in names) and "preprocess" not in description
    assert "verdict" in description and "unsure" in description


def test_page_head_favicon_and_no_share_buttons_off_spaces(app_url):
    icon = httpx.get(app_url + "favicon.ico", timeout=30)
    assert icon.status_code == 200 and icon.content == (REPO_ROOT / "assets" / "favicon.png").read_bytes()
    config = httpx.get(app_url + "config", timeout=30).json()
    assert re.search(r'<meta name="description" content="Face-mask detection you can check', config["head"])
    results = [c["props"] for c in config["components"] if c["props"].get("elem_id") in ("result-image", "heatmaps")]
    assert len(results) == 2 and not any("share" in str(props.get("buttons")) for props in results)
    assert "[the model card](#model-card)" in json.dumps(config)
    shipped = json.loads((REPO_ROOT / "models" / "metrics.json").read_text())
    held_out = shipped["held_out_sources"]  # the honest figure comes first in the About text
    assert f"On {held_out['images']} faces from {held_out['sources']} photo sources" in json.dumps(config)


# --- Chromium ------------------------------------------------------------------------------------

@pytest.fixture(params=list(SCREENS))
def screen(request, browser, shipped_app):
    """A fresh tab at one screen size; `sent` records the api_name of each event it asks the server to
    run (queue/join and run/ requests)."""
    kind = request.param
    context = browser.new_context(viewport=SCREENS[kind], device_scale_factor=1,
                                  is_mobile=kind == "phone", has_touch=kind == "phone")
    opened = context.new_page()
    opened.sent = []  # api_name of every event the page asked the server to run
    names = fn_names(shipped_app.url)
    opened.on("request", lambda r: opened.sent.append(names.get(json.loads(r.post_data or "{}").get("fn_index")))
              if r.method == "POST" and re.search(r"/gradio_api/(queue/join|run/)", r.url) else None)
    opened.goto(shipped_app.url)
    opened.wait_for_selector("input[type=file]", state="attached", timeout=60_000)
    opened.kind = kind
    yield opened
    context.close()


def fn_names(url: str) -> dict[int, str]:
    """fn_index -> api_name of every event of the app."""
    config = httpx.get(url + "config", timeout=30).json()
    return {dep["id"]: dep.get("api_name") for dep in config["dependencies"]}


VERDICT_CELL_COLOURS = """() => [...document.querySelectorAll('#faces *')]
    .filter(el => el.children.length === 0 && /^(mask|no mask|unsure|too small to judge)$/.test(el.textContent.trim())
              && getComputedStyle(el).visibility === 'visible' && el.getBoundingClientRect().height > 0)
    .map(el => { for (let at = el; at; at = at.parentElement) {
        const colour = getComputedStyle(at).backgroundColor;
        if (colour !== 'rgba(0, 0, 0, 0)') return colour; } })"""
"""The background colour of each verdict cell of the table, as shown."""


def expect_result(page, text: str) -> None:
    """The summary says `text` (it may render a moment later)."""
    page.wait_for_selector(f"#summary :text('{text}')", timeout=60_000)


def on_screen_box(page, selector: str) -> dict:
    """The element's box after scrolling it into view; it must lie inside the viewport."""
    element = page.locator(selector).first
    element.wait_for(state="visible", timeout=30_000)
    element.scroll_into_view_if_needed()
    box = element.bounding_box()
    viewport = page.viewport_size
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"] + 1, box
    return box


def test_browser_first_screen_says_what_to_do_and_about_privacy(screen):
    description = screen.locator("meta[name=description]").first.get_attribute("content")
    assert description.startswith("Face-mask detection you can check")
    intro = screen.locator("#intro").inner_text()
    assert "Upload, paste or snap a photo" in intro and "deleted after" in intro
    assert screen.locator("#intro").bounding_box()["y"] < SCREENS[screen.kind]["height"]
    assert screen.locator("#faces").is_hidden() and screen.locator("#heatmaps").is_hidden()  # nothing yet
    shot(screen, "start")


def test_browser_cat_example_shows_no_verdict(screen):
    screen.get_by_text("A cat: no face, so no verdict").click()
    expect_result(screen, "No face found — try a closer, frontal photo")
    screen.locator("#result-image img").first.wait_for(state="visible", timeout=30_000)
    assert screen.locator("#faces").is_hidden() and screen.locator("#heatmaps").is_hidden()
    assert "mask" not in screen.locator("#summary").inner_text()
    assert screen.sent.count("analyse") == 1  # the example ran the model once, with the settings
    shot(screen, "cat-example")


def test_browser_one_face_heatmap_visible_and_settings_redraw_without_the_model(screen):
    screen.set_input_files("input[type=file]", str(EXAMPLES / "astronaut_mask.jpg"))
    expect_result(screen, "1 face")
    if screen.kind == "phone":  # the page scrolled down to the result, which is right under the photo
        screen.wait_for_function("() => window.scrollY > 200", timeout=10_000)
        top = screen.locator("#result").bounding_box()["y"]
        assert -5 <= top <= 120, top
    box = on_screen_box(screen, "#heatmaps img")
    assert box["width"] >= 200 and box["height"] >= 200, box  # one face: one big, readable tile
    shot(screen, "one-face")
    model_calls = [name for name in screen.sent if name in MODEL_FNS]
    assert len(model_calls) == 1
    before = screen.evaluate("document.querySelector('#result-image img').src")
    tile_before = screen.evaluate("document.querySelector('#heatmaps img').src")
    screen.locator("#settings").get_by_text("Settings", exact=True).first.click()
    screen.get_by_label("Heatmaps on the photo, each face in its box").check()
    screen.wait_for_function(f"() => document.querySelector('#result-image img').src !== {json.dumps(before)}",
                             timeout=30_000)
    slider = screen.locator("input[type=range]").nth(1)  # threshold, then opacity
    slider.focus()
    for _ in range(4):
        slider.press("ArrowLeft")
    screen.wait_for_function(
        f"() => document.querySelector('#heatmaps img').src !== {json.dumps(tile_before)}", timeout=30_000)
    shot(screen, "redrawn")
    assert [name for name in screen.sent if name in MODEL_FNS] == model_calls  # no new model call
    assert "rerender" in screen.sent


def test_browser_webcam_snapshot(screen):
    screen.get_by_label("Capture from camera").click()
    screen.get_by_text("Click to Access Webcam").click()
    screen.wait_for_function("() => { const v = document.querySelector('video'); return v && v.readyState >= 2; }",
                             timeout=30_000)
    screen.get_by_label("capture photo").click()
    expect_result(screen, "No face found")  # Chromium's fake camera shows a test pattern, not a face
    shot(screen, "webcam")


@pytest.mark.parametrize("screen", ["desktop"], indirect=True)
def test_browser_group_table_pick_a_face_and_clear(screen):
    screen.set_input_files("input[type=file]", str(EXAMPLES / "group_mixed.jpg"))
    expect_result(screen, "5 faces")
    assert screen.locator("#faces [role=grid]").get_attribute("aria-rowcount") == "6"  # header + 5 faces
    colours = screen.evaluate(VERDICT_CELL_COLOURS)
    assert len(colours) == 5, colours
    assert set(colours) <= {"rgb(46, 160, 67)", "rgb(215, 48, 39)", "rgb(128, 128, 128)"}, colours  # as the boxes
    assert screen.locator("#heatmaps img").count() == 5
    small = on_screen_box(screen, "#heatmaps .grid-container img")
    screen.locator("#heatmaps .grid-container img").nth(2).click()
    large = screen.locator("#heatmaps .media-button img").first
    large.wait_for(state="visible", timeout=10_000)
    assert large.bounding_box()["width"] > small["width"] * 1.3  # the picked face, enlarged
    shot(screen, "picked-face")
    screen.locator("#photo").get_by_label(re.compile("^(Clear|Remove Image)$")).first.click()
    screen.wait_for_selector("#summary :text('Your result will appear here.')", timeout=30_000)
    assert screen.locator("#result-image img").count() == 0 and screen.locator("#heatmaps").is_hidden()
    assert screen.locator("#faces").is_hidden() and screen.get_by_label("Share").count() == 0
