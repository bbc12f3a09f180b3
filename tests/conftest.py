"""Shared fixtures: tiny generated datasets and tiny models so the suite stays fast."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Same numbers on every CPU: bfloat16 serving (auto on CPUs with native support) has its own tests.
os.environ.setdefault("MASKDET_PRECISION", "float32")

from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

TINY_SIZE = 32
TINY_WIDTH = 1 / 16
TINY_SEED = 0


def synthetic_face(rng: np.random.Generator, masked: bool, size: int = 48) -> np.ndarray:
    """A smooth random 'photo' (distinct perceptual hash) with a flat blue band when masked."""
    coarse = rng.integers(0, 256, (4, 4, 3)).astype(np.uint8)
    image = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    if masked:
        image[size * 3 // 5:, size // 6: size * 5 // 6] = (30, 90, 200)
    return image


def make_dataset(root: Path, photos_per_class: int = 12, seed: int = 0) -> Path:
    """Write a dataset with leak traps: `x copy.jpg` copies and mirror images under other names."""
    rng = np.random.default_rng(seed)
    for folder, masked in (("with_mask", True), ("without_mask", False)):
        class_dir = root / folder
        class_dir.mkdir(parents=True)
        for i in range(photos_per_class):
            image = synthetic_face(rng, masked)
            Image.fromarray(image).save(class_dir / f"photo{i}.jpg", quality=95)
            if i % 3 == 0:
                Image.fromarray(image).save(class_dir / f"photo{i} copy.jpg", quality=90)
                Image.fromarray(image).save(class_dir / f"photo{i} copy 2.png")
            if i % 4 == 1:
                Image.fromarray(image[:, ::-1]).save(class_dir / f"mirror_{i}.jpg", quality=95)
    return root


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("dataset"))


def make_source(root: Path, classes: tuple[str, ...], people: int, photos_each: int, seed: int) -> Path:
    """One source with a manifest whose `group` is the person: files of one person share a group
    although their names and pixels are unrelated (only the manifest can keep them together)."""
    rng = np.random.default_rng(seed)
    rows = ["file,label,group"]
    for folder in classes:
        (root / folder).mkdir(parents=True)
        for person in range(people):
            for photo in range(photos_each):
                name = f"{folder}/img{int(rng.integers(1_000_000)):07d}.jpg"
                Image.fromarray(synthetic_face(rng, folder == "with_mask")).save(root / name, quality=95)
                rows.append(f"{name},{folder},person{person}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root


def make_sources(root: Path) -> Path:
    """A root of three sources: two with both classes, one with unmasked faces only."""
    make_source(root / "alpha", ("with_mask", "without_mask"), people=6, photos_each=3, seed=1)
    make_source(root / "beta", ("with_mask", "without_mask"), people=5, photos_each=2, seed=2)
    make_source(root / "gamma", ("without_mask",), people=8, photos_each=2, seed=3)
    return root


@pytest.fixture(scope="session")
def tiny_sources(tmp_path_factory) -> Path:
    return make_sources(tmp_path_factory.mktemp("sources"))


@pytest.fixture(scope="session")
def photo_source(tmp_path_factory) -> Path:
    """A source of real face photos (the examples, shifted, mirrored and scaled) in which YuNet finds
    faces and landmarks, so re-cropping and the pointing game have something to work on."""
    root = tmp_path_factory.mktemp("photos") / "photos"
    photos = {"with_mask": ["astronaut_mask.jpg", "astronaut_black_mask.jpg"],
              "without_mask": ["astronaut_no_mask.jpg", "cameraman_no_mask.jpg"]}
    for folder, names in photos.items():
        (root / folder).mkdir(parents=True)
        for name in names:
            photo = Image.open(EXAMPLES / name).convert("RGB")
            for k, (left, top, side) in enumerate([(75, 0, 300), (115, 20, 220), (135, 40, 180)]):
                variant = photo.crop((left, top, left + side, top + side)).resize((160, 160))
                variant.save(root / folder / f"{Path(name).stem}_{k}.jpg", quality=92)
    return root


@pytest.fixture(scope="session")
def tiny_model():
    """A random tiny classifier, seeded so every run sees the same one."""
    import keras

    from maskdet.core.model import build_model

    keras.utils.set_random_seed(TINY_SEED)
    return build_model(TINY_SIZE, TINY_WIDTH)


@pytest.fixture(scope="session")
def tiny_model_file(tmp_path_factory, tiny_model) -> Path:
    from maskdet.core.model import save_model

    return save_model(tiny_model, tmp_path_factory.mktemp("model") / "tiny.keras")


REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = REPO_ROOT / "examples"
SHARED_YUNET = REPO_ROOT.parent / "shared" / "models" / "face_detection_yunet_2026may.onnx"


@pytest.fixture(scope="session")
def yunet_file() -> Path:
    """YuNet from ../shared when present (offline machines), else the project's verified download."""
    if SHARED_YUNET.is_file():
        return SHARED_YUNET
    from maskdet.core.faces import DetectorUnavailableError, resolve_detector_file

    try:
        return resolve_detector_file()
    except DetectorUnavailableError as err:
        pytest.skip(f"YuNet model not available: {err}")


@pytest.fixture()
def cli_env(monkeypatch, tiny_model_file, yunet_file):
    """The command line with the tiny model and the cached detector (MASKDET_MODEL, MASKDET_YUNET_PATH)."""
    monkeypatch.setenv("MASKDET_MODEL", str(tiny_model_file))
    monkeypatch.setenv("MASKDET_YUNET_PATH", str(yunet_file))


def biased_model_file(folder: Path, class_names: tuple[str, ...], favourite: str) -> Path:
    """A tiny model that calls every face `favourite` with probability about 0.96: the way to see a
    given verdict (e.g. worn_wrong) end to end without a trained model."""
    from maskdet.core.model import build_model, save_model

    model = build_model(TINY_SIZE, TINY_WIDTH, class_names=class_names)
    logits = model.get_layer("logits")
    kernel, bias = logits.get_weights()
    bias = np.zeros_like(bias)
    bias[class_names.index(favourite)] = 4.0
    logits.set_weights([np.zeros_like(kernel), bias])
    return save_model(model, folder / f"{favourite}.keras")


@pytest.fixture(scope="session")
def worn_wrong_model_file(tmp_path_factory) -> Path:
    from maskdet.config import CLASS_NAMES

    return biased_model_file(tmp_path_factory.mktemp("worn"), CLASS_NAMES, "worn_wrong")


@pytest.fixture(scope="session")
def two_class_model_file(tmp_path_factory) -> Path:
    """A model saved before the third class: two outputs, no_mask and mask."""
    from maskdet.config import CLASS_NAMES

    return biased_model_file(tmp_path_factory.mktemp("two"), CLASS_NAMES[:2], "mask")


@pytest.fixture(scope="session")
def worn_wrong_predictor(worn_wrong_model_file, yunet_file):
    from maskdet.core.predictor import Predictor

    return Predictor(worn_wrong_model_file, yunet_file)


@pytest.fixture(scope="session")
def predictor(tiny_model_file, yunet_file):
    from maskdet.core.predictor import Predictor

    loaded = Predictor(tiny_model_file, yunet_file)
    loaded.warm_up()
    return loaded


@pytest.fixture(scope="session")
def app_server(tiny_model_file, yunet_file, tmp_path_factory):
    """The real app.py with the tiny model, on a free 127.0.0.1 port, shared by the end-to-end tests."""
    from tests.apphelpers import running_app

    with running_app(tiny_model_file, yunet_file, tmp_path_factory.mktemp("app")) as app:
        yield app


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by playwright (skipped where it is not installed)."""
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture()
def page(browser, app_server):
    """A fresh browser tab on the shared app, once its upload widget is there."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    opened = context.new_page()
    opened.goto(app_server.url)
    opened.wait_for_selector("input[type=file]", state="attached", timeout=60_000)
    yield opened
    context.close()
