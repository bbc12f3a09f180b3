"""End-to-end: the real app.py as a subprocess on 127.0.0.1, driven by gradio_client and Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
]
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"app exited with {process.returncode}: {process.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"app did not start within {timeout:.0f} s")


@pytest.fixture(scope="module")
def app_url(tiny_model_file, yunet_file, tmp_path_factory):
    port = free_port()
    workdir = tmp_path_factory.mktemp("app")
    env = {**os.environ, "MASKDET_MODEL": str(tiny_model_file), "MASKDET_YUNET_PATH": str(yunet_file),
           "GRADIO_SERVER_PORT": str(port), "GRADIO_TEMP_DIR": str(workdir / "tmp"),
           "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("GRADIO_SERVER_NAME", None)
    process = subprocess.Popen([sys.executable, str(REPO_ROOT / "app.py")], cwd=workdir, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_serving(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


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


def test_server_binds_loopback_only(app_url):
    assert app_url.startswith("http://127.0.0.1:")


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture()
def page(browser, app_url):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    opened = context.new_page()
    opened.goto(app_url)
    opened.wait_for_selector("input[type=file]", state="attached", timeout=60_000)
    yield opened
    context.close()


def expect_result(page, text: str) -> None:
    page.wait_for_selector(f"#summary :text('{text}')", timeout=60_000)
    assert page.locator("#result-image img").first.is_visible()


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
