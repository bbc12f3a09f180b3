"""Turn any image input (path, bytes, PIL, numpy) into an upright RGB uint8 array, safely."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Union

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from maskdet.config import MAX_IMAGE_PIXELS

ImageInput = Union[str, Path, bytes, Image.Image, np.ndarray]


class ImageError(ValueError):
    """An input could not be read as an image (corrupt, wrong type, too large, empty)."""


def load_image(source: ImageInput) -> np.ndarray:
    """Return the image as an upright (EXIF applied) RGB uint8 array of shape (H, W, 3).

    Raises ImageError with a human-readable reason for anything that is not a usable image.
    """
    if isinstance(source, np.ndarray):
        return _array_to_rgb(source)
    if isinstance(source, Image.Image):
        return _pil_to_rgb(source)
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise ImageError("the file is empty (0 bytes)")
        return _pil_to_rgb(_open(io.BytesIO(source), "<bytes>"))
    path = Path(source)
    if not path.is_file():
        raise ImageError(f"no such file: {path}")
    if path.stat().st_size == 0:
        raise ImageError(f"{path.name}: the file is empty (0 bytes)")
    return _pil_to_rgb(_open(path, path.name))


def _open(fp: Union[Path, io.BytesIO], name: str) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(fp)
            _check_size(image.size, name)
            image.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(f"{name}: image is too large to process (the limit is "
                         f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels)") from err
    except UnidentifiedImageError as err:
        raise ImageError(f"{name}: not a recognised image file (unknown format or damaged header)") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageError(f"{name}: the image is corrupt or truncated ({err})") from err
    return image


def _check_size(size: tuple[int, int], name: str) -> None:
    width, height = size
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageError(
            f"{name}: image is too large ({width}x{height} pixels; the limit is "
            f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels)"
        )
    if width < 1 or height < 1:
        raise ImageError(f"{name}: image has no pixels")


def _pil_to_rgb(image: Image.Image) -> np.ndarray:
    _check_size(image.size, "image")
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        scaled = np.asarray(image, dtype=np.float64)
        top = 65535.0 if scaled.max() > 255 else 255.0
        return _array_to_rgb((scaled / top * 255.0).round().astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def _array_to_rgb(array: np.ndarray) -> np.ndarray:
    if array.size == 0:
        raise ImageError("image has no pixels")
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise ImageError(f"expected an image array of shape (H, W[, 1|3|4]), got {array.shape}")
    _check_size((array.shape[1], array.shape[0]), "image")
    if array.dtype != np.uint8:
        array = np.asarray(array, dtype=np.float64)
        if array.max(initial=0) <= 1.0:
            array = array * 255.0
        array = np.clip(array, 0, 255).round().astype(np.uint8)
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    if array.shape[2] == 4:
        alpha = array[..., 3:4].astype(np.float32) / 255.0
        array = (array[..., :3] * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    return np.ascontiguousarray(array)


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """Resize an RGB array to size x size (area filter when shrinking); the model's input shape."""
    height, width = image.shape[:2]
    interpolation = cv2.INTER_AREA if height > size or width > size else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interpolation)
