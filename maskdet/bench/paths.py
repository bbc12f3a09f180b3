"""The repository's files the benchmark uses (this package is maskdet/bench/, two levels down)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
APP_FILE = REPO_ROOT / "app.py"
EXAMPLE_PHOTO = REPO_ROOT / "examples" / "astronaut_no_mask.jpg"
