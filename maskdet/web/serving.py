"""Gradio pieces that keep the web app correct under hostile requests and concurrent users.

- uploaded_image: the raw upload for maskdet.core.images, only from Gradio's upload folder, so every bad
  file gets its clear message and no request can name another file on the server.
- checked_settings: the sliders' and checkbox's values, validated (API callers send anything).
- cached_image_file: result images are published atomically (Gradio rewrites shared files in place).
- install_safe_cache_sweep: Gradio's delete_cache sweep survives concurrent requests.
- install_lean_session_state: per-session state no longer keeps every request's inputs in memory.
- limit_queue_group (maskdet.web.queue_limits), skips_bad_inputs and refused_input
  (maskdet.web.input_errors) are re-exported here for the tabs: queue places per group, and inputs of
  the wrong form as a short message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import math
import os
import re
import tempfile
import time
import traceback
import urllib.parse
from pathlib import Path
from types import SimpleNamespace
from contextlib import contextmanager
from typing import Any, Iterator, Optional, Union

import gradio as gr
import numpy as np
from gradio import route_utils, state_holder
from gradio.context import LocalContext
from gradio.utils import get_upload_folder
from PIL import Image

from maskdet.config import UPLOAD_LIMIT_BYTES
from maskdet.core.faces import THRESHOLD_RANGE
from maskdet.web.input_errors import NOT_UPLOADED, refused_input, skips_bad_inputs  # noqa: F401 - re-exported for the tabs
from maskdet.web.queue_limits import limit_queue_group  # noqa: F401 - re-exported for the tabs

WEBP_MAX_SIDE = 16383
"""Result images with a longer side are written as PNG (WebP cannot encode them). WebP is written
with method=0, its fastest encoder: 19 -> ~3 ms per 640x480 image, which lets 4 concurrent users
get ~1.8x one user's throughput instead of ~1.6x on 2 cores."""

"""The one answer for every path that is not an upload: whether the file exists is not revealed."""
OPACITY_RANGE = (0.0, 1.0)
"""The sliders' ranges; values from API callers outside them are clamped, with a warning."""
_HASH_FOLDER = re.compile(r"[0-9a-f]{64}")
"""Gradio names each cached file's folder by a SHA-256 hex digest."""

_gradio_sweep = route_utils.delete_files_created_by_app


def uploaded_image(payload: Union[dict, str, None], max_bytes: Optional[int] = None) -> Union[str, bytes, None]:
    """What the user sent to an image input whose event runs with preprocess=False: the uploaded
    file's path, or the bytes of a data URL (HTTP API callers may send one); None when empty.

    Gradio's own preprocessing opens the file with PIL first, so a text file or a decompression bomb
    fails there with a generic "could not preprocess" error; maskdet.core.images gives a clear message.
    Gradio checks uploads only for file dicts that carry its `meta` tag, so the path is checked here
    again: it must resolve, symlinks followed, to a file inside Gradio's upload folder. Anything else
    gets NOT_UPLOADED (a gr.Error), as does a data URL larger than `max_bytes` (default: the running
    app's upload limit), which is refused before it is decoded."""
    if not payload:
        return None
    if isinstance(payload, dict):
        path, url = payload.get("path"), payload.get("url")
    else:
        path, url = payload, None
    if path:
        return upload_path(path)
    if isinstance(url, str) and url.startswith("data:"):
        return _data_url_bytes(url, _upload_limit() if max_bytes is None else max_bytes)
    return None


def upload_path(path: Any, root: Union[str, Path, None] = None) -> str:
    """`path` resolved, when it is a file inside `root` (Gradio's upload folder); else NOT_UPLOADED."""
    try:
        folder = Path(root or get_upload_folder()).resolve()
        resolved = Path(path).resolve(strict=True)
        if resolved.is_relative_to(folder) and resolved != folder and resolved.is_file():
            return str(resolved)
    except (OSError, ValueError, TypeError, RuntimeError):  # missing, too long, NUL byte, loop, not a str
        pass
    raise gr.Error(NOT_UPLOADED, print_exception=False)


def _upload_limit() -> int:
    blocks = LocalContext.blocks.get(None)
    limit = getattr(blocks, "max_file_size", None)
    return int(limit) if limit else UPLOAD_LIMIT_BYTES  # no running app: the app's own limit


def _data_url_bytes(url: str, max_bytes: int) -> bytes:
    header, _, data = url.partition(",")
    if len(data) > math.ceil(max_bytes / 3) * 4:  # more than max_bytes even as base64
        raise gr.Error(f"Could not read that image: the inline image is larger than the upload limit "
                       f"({max_bytes / 1024 / 1024:g} MB).", print_exception=False)
    if header.endswith(";base64"):
        try:
            return base64.b64decode(data, validate=True)
        except binascii.Error:
            pass  # not base64 after all: maskdet.core.images will say it is not an image
    return urllib.parse.unquote_to_bytes(data)


@contextmanager
def user_facing_errors(subject: str, expected: type[Exception], prefix: str) -> Iterator[None]:
    """Turn an `expected` error into a gr.Error the user reads ("<prefix>: <err>"); log anything else
    and show a message without internals, so the server keeps serving. `subject`: "that image"..."""
    try:
        yield
    except expected as err:
        raise gr.Error(f"{prefix}: {err}", print_exception=False) from None
    except gr.Error:
        raise
    except Exception:  # noqa: BLE001 - log it, show no internals, keep serving
        traceback.print_exc()
        raise gr.Error(f"Something went wrong analysing {subject}; the error was logged.",
                       print_exception=False) from None


def checked_settings(threshold: Any, opacity: Any, show_cam: Any) -> tuple[float, float, bool]:
    """The analysis settings as sent by the browser or an API caller, validated.

    Non-numbers and NaN get a gr.Error that names the setting; numbers outside a slider's range
    are clamped into it, with a gr.Warning saying so."""
    checked = (_number(threshold, "Face detection threshold", THRESHOLD_RANGE),
               _number(opacity, "Heatmap opacity", OPACITY_RANGE))
    if not isinstance(show_cam, bool):
        raise gr.Error("Grad-CAM heatmaps must be true or false.", print_exception=False)
    return checked[0], checked[1], show_cam


def _number(value: Any, name: str, limits: tuple[float, float]) -> float:
    low, high = limits
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise gr.Error(f"{name} must be a number from {low:g} to {high:g}.", print_exception=False)
    clamped = min(max(float(value), low), high)
    if clamped != value:
        gr.Warning(f"{name} {value:g} is outside {low:g} to {high:g}; {clamped:g} was used.")
    return clamped


def cached_image_file(image: np.ndarray, folder: Union[str, Path, None] = None) -> str:
    """Write a result image into Gradio's cache, named by its content, and return its path.

    Gradio's own array-to-file step rewrites that content-named file in place, so a user fetching a
    result while another request produces the identical image (same photo, same heatmap) can get a
    truncated file. Here each copy is written aside and renamed into place, which is atomic."""
    data, fmt = _encode(image)
    target_dir = Path(folder or get_upload_folder()) / hashlib.sha256(data).hexdigest()
    try:
        return _write_atomically(data, target_dir / f"result.{fmt}")
    except FileNotFoundError:  # a cache sweep removed the emptied folder just now: once more
        return _write_atomically(data, target_dir / f"result.{fmt}")


def _encode(image: np.ndarray) -> tuple[bytes, str]:
    """WebP (fast), or PNG where WebP cannot encode the image: a side over 16383 px, or a large
    detailed image whose first partition overflows ("encoding error 6", e.g. 5600x5600 px)."""
    buffer = io.BytesIO()
    if max(image.shape[:2]) <= WEBP_MAX_SIDE:
        try:
            Image.fromarray(image).save(buffer, "webp", method=0)
            return buffer.getvalue(), "webp"
        except (OSError, ValueError):
            buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "png", compress_level=1)
    return buffer.getvalue(), "png"


def _write_atomically(data: bytes, target: Path) -> str:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=target.parent, suffix=".part")
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    os.replace(partial, target)
    return str(target)


def safe_cache_sweep(blocks: Any, age: Optional[int]) -> None:
    """Gradio's delete_cache sweep, run on snapshots of its file sets, never raising.

    Gradio iterates its live sets while request threads add files to them; the resulting
    "Set changed size during iteration" ends its sweeping task for good, and the cache then grows
    without bound. Here Gradio's sweep runs on copies, what it deleted leaves the live sets, and
    the per-file folders it leaves behind are removed once empty."""
    live = list(blocks.temp_file_sets)
    copies = [set(files) for files in live]  # a C-level copy: atomic under the GIL
    before = [set(files) for files in copies]
    try:
        _gradio_sweep(SimpleNamespace(blocks=blocks.blocks, temp_file_sets=copies), age)
    except Exception:  # noqa: BLE001 - one failed sweep must not end the schedule
        traceback.print_exc()
    for files, was, now in zip(live, before, copies):
        deleted = was - now
        files -= deleted
        _remove_empty_folders(deleted)
    _remove_stale_empty_folders(age)


def _remove_empty_folders(deleted: set[str]) -> None:
    """rmdir the emptied per-file folders directly inside Gradio's upload folder (never others)."""
    root = Path(get_upload_folder()).resolve()
    for folder in {Path(path).parent for path in deleted}:
        if folder.resolve().parent != root:
            continue
        try:
            folder.rmdir()  # succeeds only when empty
        except OSError:
            pass


def _remove_stale_empty_folders(age: Optional[int]) -> None:
    """rmdir hash-named folders in the upload folder that are empty and older than `age`.

    Gradio makes a folder for every file dict with an http(s) URL before its SSRF check refuses the
    download, and nothing tracks it; a fresh empty folder may be an upload in progress."""
    root = Path(get_upload_folder())
    cutoff = time.time() - (age or 0)
    try:
        entries = list(os.scandir(root))
    except OSError:
        return
    for entry in entries:
        try:
            if (_HASH_FOLDER.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False)
                    and entry.stat(follow_symlinks=False).st_mtime < cutoff):
                os.rmdir(entry.path)  # succeeds only when empty
        except OSError:
            pass


def install_safe_cache_sweep() -> None:
    """Make Gradio's delete_cache schedule (and its shutdown clean-up) use safe_cache_sweep.

    Gap upstream (Gradio 6.31, gradio/route_utils.py): delete_files_created_by_app iterates each live
    temp_file_set (its comment says it copies; it does not), delete_files_on_schedule has no try, so
    one "Set changed size during iteration" ends the schedule, and emptied per-file folders stay.
    delete_cache has no hook for another sweep, so the module attribute is replaced: the schedule and
    the shutdown look it up by name when they run (tests/test_serving.py pins both, and the bug)."""
    route_utils.delete_files_created_by_app = safe_cache_sweep


GRADIO_UPDATE_VALUE_IN_CONFIG = getattr(state_holder.SessionState, "_update_value_in_config", None)
"""Gradio's own method, as it was before install_lean_session_state (tests restore it)."""


def install_lean_session_state() -> None:
    """Stop Gradio copying each request's input values into its per-session state.

    Gradio keeps them only to build deep links, which this app does not offer, and keeps up to
    state_session_capacity (10,000) sessions: every API call with a large data URL (or any large
    value) stayed in memory until 10,000 newer sessions had pushed it out.

    Gap upstream (Gradio 6.31, gradio/blocks.py): Blocks.preprocess_data and postprocess_data always
    copy each value into SessionState.config_values for the /gradio_api/deep_link route; only
    gr.Interface has a deep_link switch, and it hides the button without stopping the copy. Hence the
    patch; tests/test_serving.py pins that the copy goes through this one method."""
    method = getattr(state_holder.SessionState, "_update_value_in_config", None)
    if method is None:  # a Gradio upgrade renamed it: fail at start-up, not silently
        raise RuntimeError("gradio.state_holder.SessionState._update_value_in_config is gone")
    state_holder.SessionState._update_value_in_config = _keep_no_input_value


def _keep_no_input_value(self: Any, key: int, value: Any) -> None:
    """SessionState._update_value_in_config that records nothing."""
