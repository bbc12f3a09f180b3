"""The web app's serving settings: upload size, queue, sessions, cache age, and where it runs.

Read once at import (MASKDET_CACHE_MAX_AGE, SPACE_ID), as app.py did before it was split."""

from __future__ import annotations

import os

from maskdet.config import UPLOAD_LIMIT_BYTES

ON_SPACES = bool(os.environ.get("SPACE_ID"))
"""Hugging Face Spaces sets SPACE_ID; the Share buttons only work there."""
IMAGE_BUTTONS = ["download", "fullscreen"] + (["share"] if ON_SPACES else [])
MAX_FILE_SIZE = UPLOAD_LIMIT_BYTES
"""Gradio's max_file_size, in bytes (maskdet.config.UPLOAD_LIMIT_BYTES)."""
CONCURRENCY_LIMIT = 2
"""Requests computed at once: one per core of a 2-vCPU machine (a free Space)."""
QUEUE_SIZE = 32
"""Requests waiting beyond this get a 'queue full' answer instead of hanging."""
SESSION_CAPACITY = 200
"""Sessions whose state Gradio keeps in memory (its default: 10,000). Each keeps its last result for
re-rendering, ~1.3 MB for a 5-face photo and up to ~10 MB (1280 px picture, 32 face crops)."""
CACHE_MAX_AGE_S = int(os.environ.get("MASKDET_CACHE_MAX_AGE", "1800"))
"""Uploads and results older than this are deleted, so the cache stays bounded."""
DELETE_CACHE = (max(1, CACHE_MAX_AGE_S // 2), CACHE_MAX_AGE_S)
"""Gradio's delete_cache (every, older than) in seconds."""
CACHE_MINUTES = max(1, CACHE_MAX_AGE_S // 60)
