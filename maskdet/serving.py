"""Gradio pieces that keep the web app correct under hostile uploads and concurrent users.

- uploaded_image: the raw upload for maskdet.images, so every bad file gets its clear message.
- cached_image_file: result images are published atomically (Gradio rewrites shared files in place).
- install_safe_cache_sweep: Gradio's delete_cache sweep survives concurrent requests.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import tempfile
import traceback
import urllib.parse
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Optional, Union

import numpy as np
from gradio import route_utils
from gradio.utils import get_upload_folder
from PIL import Image

WEBP_MAX_SIDE = 16383
"""Result images with a longer side are written as PNG (WebP cannot encode them). WebP is written
with method=0, its fastest encoder: 19 -> ~3 ms per 640x480 image, which lets 4 concurrent users
get ~1.8x one user's throughput instead of ~1.6x on 2 cores."""

_gradio_sweep = route_utils.delete_files_created_by_app


def uploaded_image(payload: Union[dict, str, None]) -> Union[str, bytes, None]:
    """What the user sent to an image input whose event runs with preprocess=False: the uploaded
    file's path, or the bytes of a data URL (HTTP API callers may send one); None when empty.

    Gradio's own preprocessing opens the file with PIL first, so a text file or a decompression bomb
    fails there with a generic "could not preprocess" error; maskdet.images gives a clear message.
    Gradio has already checked that the path is one of its uploads before this runs."""
    if not payload:
        return None
    if isinstance(payload, str):
        return payload
    if payload.get("path"):
        return str(payload["path"])
    url = payload.get("url") or ""
    return _data_url_bytes(url) if url.startswith("data:") else None


def _data_url_bytes(url: str) -> bytes:
    header, _, data = url.partition(",")
    if header.endswith(";base64"):
        try:
            return base64.b64decode(data, validate=True)
        except binascii.Error:
            pass  # not base64 after all: maskdet.images will say it is not an image
    return urllib.parse.unquote_to_bytes(data)


def cached_image_file(image: np.ndarray, folder: Union[str, Path, None] = None) -> str:
    """Write a result image into Gradio's cache, named by its content, and return its path.

    Gradio's own array-to-file step rewrites that content-named file in place, so a user fetching a
    result while another request produces the identical image (same photo, same heatmap) can get a
    truncated file. Here each copy is written aside and renamed into place, which is atomic."""
    fmt = "webp" if max(image.shape[:2]) <= WEBP_MAX_SIDE else "png"
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, fmt, **({"method": 0} if fmt == "webp" else {}))
    data = buffer.getvalue()
    target_dir = Path(folder or get_upload_folder()) / hashlib.sha256(data).hexdigest()
    try:
        return _write_atomically(data, target_dir / f"result.{fmt}")
    except FileNotFoundError:  # a cache sweep removed the emptied folder just now: once more
        return _write_atomically(data, target_dir / f"result.{fmt}")


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


def install_safe_cache_sweep() -> None:
    """Make Gradio's delete_cache schedule (and its shutdown clean-up) use safe_cache_sweep."""
    route_utils.delete_files_created_by_app = safe_cache_sweep
