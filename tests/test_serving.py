"""maskdet.web.serving: raw uploads, atomic result files, and a cache sweep that survives concurrency."""

from __future__ import annotations

import base64
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
from gradio import route_utils
from gradio.data_classes import FileData
from PIL import Image

from maskdet.web import serving
from maskdet.core.images import ImageError, load_image
from tests.conftest import EXAMPLES


def test_uploaded_image_is_the_raw_file(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))  # uploads are read only from the upload folder
    text = tmp_path / "not-a-photo.jpg"
    text.write_text("text")
    payload = FileData(path=str(text), orig_name="not-a-photo.jpg").model_dump()
    assert serving.uploaded_image(payload) == str(text.resolve())
    assert serving.uploaded_image(None) is None and serving.uploaded_image({"path": None}) is None
    with pytest.raises(ImageError, match="not-a-photo.jpg: not a recognised image file"):
        load_image(serving.uploaded_image(payload))
    with pytest.raises(Exception, match="cannot identify image file"):  # what Gradio's own decode says
        gr.Image(type="filepath").preprocess(FileData(**payload))


def test_data_urls_become_bytes():
    photo = (EXAMPLES / "cat_no_face.jpg").read_bytes()
    url = "data:image/jpeg;base64," + base64.b64encode(photo).decode()
    assert serving.uploaded_image({"url": url, "path": None}) == photo
    assert serving.uploaded_image({"url": "data:image/png;base64,!!not base64"}) == b"!!not base64"
    assert serving.uploaded_image({"url": "data:,plain%20text"}) == b"plain text"
    assert serving.uploaded_image({"url": "https://example.invalid/x.jpg"}) is None


def test_result_files_are_named_by_content_and_complete(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    first, again = serving.cached_image_file(image, tmp_path), serving.cached_image_file(image, tmp_path)
    assert first == again and Path(first).suffix == ".webp"
    assert Image.open(first).size == (60, 40)
    assert not list(tmp_path.rglob("*.part"))
    strip = serving.cached_image_file(np.zeros((4, serving.WEBP_MAX_SIDE + 1, 3), np.uint8), tmp_path)
    assert Path(strip).suffix == ".png" and Image.open(strip).size == (serving.WEBP_MAX_SIDE + 1, 4)


def test_concurrent_writers_never_expose_a_partial_file(tmp_path):
    image = np.random.default_rng(1).integers(0, 256, (200, 200, 3), dtype=np.uint8)
    path = Path(serving.cached_image_file(image, tmp_path))
    size, stop, short_reads = path.stat().st_size, threading.Event(), []

    def rewrite() -> None:
        while not stop.is_set():
            serving.cached_image_file(image, tmp_path)

    writers = [threading.Thread(target=rewrite) for _ in range(2)]
    for writer in writers:
        writer.start()
    for _ in range(300):
        data = path.read_bytes()
        if len(data) != size:
            short_reads.append(len(data))
    stop.set()
    for writer in writers:
        writer.join()
    assert short_reads == []


def make_files(folder: Path, count: int, start: int = 0) -> set[str]:
    names = set()
    for i in range(start, start + count):
        path = folder / f"f{i}"
        path.write_text("x")
        names.add(str(path))
    return names


def test_gradio_sweep_breaks_when_requests_add_files_but_the_safe_one_does_not(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "uploads"))
    def sweep_while_adding(sweep, seconds: float) -> tuple[int, set[str]]:
        """Sweeps (stopping at the first that raises) while a thread adds files, for up to `seconds`."""
        files = make_files(tmp_path, 300)
        blocks = SimpleNamespace(blocks={}, temp_file_sets=[files])
        stop, counter = threading.Event(), [10_000]

        def add() -> None:
            while not stop.is_set():
                files.update(make_files(tmp_path, 1, counter[0]))
                counter[0] += 1

        adder = threading.Thread(target=add)
        adder.start()
        raised, deadline = 0, time.monotonic() + seconds
        while not raised and time.monotonic() < deadline:  # the race is hit by chance: keep trying a while
            try:
                sweep(blocks, 3600)  # nothing is old enough: the set stays large
            except RuntimeError:
                raised += 1
        stop.set()
        adder.join()
        return raised, files

    raised, _ = sweep_while_adding(serving._gradio_sweep, 10.0)
    assert raised > 0  # Gradio 6.31: "Set changed size during iteration" (ends its schedule for good)
    raised, files = sweep_while_adding(serving.safe_cache_sweep, 2.0)
    assert raised == 0
    serving.safe_cache_sweep(SimpleNamespace(blocks={}, temp_file_sets=[files]), None)
    assert files == set() and not any(tmp_path.iterdir())  # tracked files deleted, and forgotten


def test_sweep_removes_emptied_per_file_folders_only(tmp_path, monkeypatch):
    uploads = tmp_path / "uploads"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(uploads))
    kept, swept, elsewhere = uploads / "kept", uploads / "swept", tmp_path / "elsewhere"
    files = {str(folder / "f.webp") for folder in (kept, swept, elsewhere)}
    for path in files:
        Path(path).parent.mkdir(parents=True)
        Path(path).write_text("x")
    (kept / "other.webp").write_text("y")
    serving.safe_cache_sweep(SimpleNamespace(blocks={}, temp_file_sets=[files]), None)
    assert files == set() and not swept.exists()
    assert kept.is_dir() and elsewhere.is_dir() and uploads.is_dir()  # not empty / not a per-file folder


def test_install_replaces_the_sweep_gradio_schedules(monkeypatch):
    monkeypatch.setattr(route_utils, "delete_files_created_by_app", serving._gradio_sweep)
    serving.install_safe_cache_sweep()
    assert route_utils.delete_files_created_by_app is serving.safe_cache_sweep


def test_gradio_schedule_and_shutdown_call_the_sweep_by_its_module_name(monkeypatch):
    """install_safe_cache_sweep relies on Gradio looking up route_utils.delete_files_created_by_app
    when its delete_cache schedule and its shutdown run (not binding it at import)."""
    import asyncio

    calls = []
    monkeypatch.setattr(route_utils, "delete_files_created_by_app", lambda blocks, age: calls.append(age))
    app = SimpleNamespace(get_blocks=lambda: "blocks")

    async def one_round() -> None:
        task = asyncio.create_task(route_utils.delete_files_on_schedule(app, 0, 7))
        while not calls:
            await asyncio.sleep(0.01)
        task.cancel()

    run_coroutine(one_round())
    assert calls[0] == 7
    assert "delete_files_created_by_app" in route_utils._lifespan_handler.__wrapped__.__code__.co_names


def run_coroutine(coroutine):
    """Run a coroutine to its end on a thread of its own: the session's browser fixture may keep an
    event loop running on this one (asyncio.run refuses to start inside it)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _session_value_after_a_request(value: str):
    """What Gradio's per-session state records of one request's input (its deep-link copy)."""
    from gradio import state_holder

    with gr.Blocks() as demo:
        box, out = gr.Textbox(), gr.Textbox()
        box.submit(lambda text: text[:3], box, out)
    state = state_holder.SessionState(demo)
    run_coroutine(demo.preprocess_data(next(iter(demo.fns.values())), [value], state))
    return state.config_values[box._id]["props"].get("value")


def test_gradio_keeps_each_input_in_session_state_and_the_lean_state_does_not(monkeypatch):
    """install_lean_session_state relies on Blocks.preprocess_data recording inputs only through
    SessionState._update_value_in_config (Gradio 6.31 offers no option to turn that copy off)."""
    from gradio import state_holder

    monkeypatch.setattr(state_holder.SessionState, "_update_value_in_config",
                        serving.GRADIO_UPDATE_VALUE_IN_CONFIG)  # Gradio's own (an app built earlier patched it)
    large = "x" * 100_000
    assert _session_value_after_a_request(large) == large  # Gradio keeps it, for deep links
    serving.install_lean_session_state()
    assert _session_value_after_a_request(large) != large


def test_gradio_examples_load_input_event_is_the_click_that_fills_the_inputs():
    """The Photo tab runs an example by chaining on gr.Examples.load_input_event (private in Gradio
    6.31; no public event fires once an example has filled the inputs): it must stay a Dependency
    whose function is the examples' dataset click writing the example into the inputs, so that a
    `.then` runs after the photo is in place."""
    from gradio.events import Dependency

    with gr.Blocks() as demo:
        image, caption, out = gr.Image(type="filepath"), gr.Textbox(visible=False), gr.Textbox()
        examples = gr.Examples([[str(EXAMPLES / "cat_no_face.jpg"), "A cat"]], inputs=[image, caption],
                               cache_examples=False)
        follow = examples.load_input_event.then(lambda path: path, image, out)
    load = examples.load_input_event
    assert isinstance(load, Dependency)
    assert load["targets"] == [(examples.dataset._id, "click")]
    assert load["outputs"] == [image._id, caption._id] and demo.fns[load["id"]].fn is load.fn
    assert follow["trigger_after"] == load["id"]
