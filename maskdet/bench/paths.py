"""The checkout's files the benchmark uses (app.py and an example photo: the benchmark needs a checkout)."""

from maskdet.config import CHECKOUT_DIR

REPO_ROOT = CHECKOUT_DIR
APP_FILE = REPO_ROOT / "app.py"
EXAMPLE_PHOTO = REPO_ROOT / "examples" / "astronaut_no_mask.jpg"
