"""End-to-end: the real app.py as a subprocess on 127.0.0.1, driven by gradio_client and Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import EXAMPLES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def app_url(app_server) -> str:
    return app_server.url


@pytest.fixture(scope="module")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)


def call_predict(client, path: Path):
    from gradio_client import handle_file

    return client.predict(handle_file(str(path)), 0.6, 0.45, True, api_name="/predict")


def test_api_returns_one_result_per_face(client):
    annotated, labels, gallery, summary, details = call_predict(client, EXAMPLES / "group_mixed.jpg")
    assert Path(annotated).is_file()
    assert details["faces_found"] == 5 and len(details["faces"]) == 5
    assert len(gallery) == 5 and len(labels["confidences"]) == 5
    assert "5 faces" in summary


def test_bad_file_is_a_clear_error_and_the_next_request_is_served(client, tmp_path):
    bogus = tmp_path / "not-a-photo.jpg"
    bogus.write_text("definitely text")
    with pytest.raises(Exception) as caught:
        call_predict(client, bogus)
    assert "Traceback" not in str(caught.value)
    *_, details = call_predict(client, EXAMPLES / "astronaut_no_mask.jpg")
    assert details["faces_found"] == 1



def expect_result(page, text: str) -> None:
    """The summary says `text` and the annotated image is shown (it may render a moment later)."""
    page.wait_for_selector(f"#summary :text('{text}')", timeout=60_000)
    page.locator("#result-image img").first.wait_for(state="visible", timeout=30_000)


def test_browser_upload_shows_boxes_labels_and_heatmaps(page):
    page.set_input_files("input[type=file]", str(EXAMPLES / "group_mixed.jpg"))
    expect_result(page, "5 faces")
    assert page.locator("#labels").inner_text().count("face ") >= 5
    assert page.locator("#heatmaps img").count() == 5


def test_browser_example_click(page):
    page.locator("img[src*='astronaut_mask']").first.click()
    expect_result(page, "1 face")


def test_browser_webcam_snapshot(page):
    page.get_by_label("Capture from camera").click()
    page.get_by_text("Click to Access Webcam").click()
    page.wait_for_function("() => { const v = document.querySelector('video'); return v && v.readyState >= 2; }",
                           timeout=30_000)
    page.get_by_label("capture photo").click()
    expect_result(page, "classified")  # the fake camera shows no face: whole-image result, stated
