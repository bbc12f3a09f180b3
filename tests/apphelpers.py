"""Helpers for the tests that run the real app.py: the launcher is maskdet.bench.localserver (shared
with the benchmark), re-exported here; shot() saves screenshots of browser tests.
"""

from __future__ import annotations

import os
from pathlib import Path

from maskdet.bench.localserver import (  # noqa: F401 - re-exported for the tests
    app_env, free_port, launch, running_app, stderr_of, stdout_of, stop, wait_for_exit,
)


def shot(page, name: str) -> None:
    """With MASKDET_SCREENSHOTS set, save a screenshot of the page there (NAME-KIND.png for the
    phone and desktop pages of the app fixture, NAME.png for other pages)."""
    folder = os.environ.get("MASKDET_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        kind = getattr(page, "kind", None)
        page.screenshot(path=str(Path(folder) / (f"{name}-{kind}.png" if kind else f"{name}.png")))
