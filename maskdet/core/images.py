"""Turn any image input (path, bytes, PIL, numpy) into an upright RGB uint8 array, safely."""

from __future__ import annotations

import io
import math
import re
import warnings
from pathlib import Path
from typing import Union

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from maskdet.config import MAX_IMAGE_PIXELS

ImageInput = Union[str, Path, bytes, Image.Image, np.ndarray]

DECODED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
"""The only formats PIL may decode (its JPEG reader also opens MPO, a camera JPEG with extra
frames). Everything else (EPS, which would start Ghostscript, PSD, TIFF, ...) is refused as not a
recognised image."""
_FORMAT_NAMES = ("JPEG", "PNG", "WebP", "GIF", "BMP")
MAX_JPEG_SCANS = 100
"""A JPEG with more scans is refused before decoding: ordinary progressive files have about 10."""
MAX_JPEG_SCAN_BLOCKS = 20_000_000
"""Decoding work allowed per JPEG, in 8x8 blocks visited summed over its scans. libjpeg visits every
block of a component in each scan that covers it, even a scan of a few bytes, so a file that repeats
one scan thousands of times decodes for minutes. 20 M blocks is ~2 s of decoding on one core, 3.5x a
standard progressive 50-megapixel photo."""


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
            image = Image.open(fp, formats=DECODED_FORMATS)
            _check_size(image.size, name)
            if image.format in ("JPEG", "MPO"):
                raw = fp.getvalue() if isinstance(fp, io.BytesIO) else fp.read_bytes()
                _check_jpeg_work(raw, image.size, name)
            image.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(f"{name}: image is too large to process (the limit is "
                         f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels)") from err
    except UnidentifiedImageError as err:
        raise ImageError(f"{name}: not a recognised image file (unknown format or damaged header; "
                         f"supported: {', '.join(_FORMAT_NAMES)})") from err
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


def _check_jpeg_work(data: bytes, size: tuple[int, int], name: str) -> None:
    """Refuse a JPEG whose scans would take more than a few seconds to decode (a scan bomb)."""
    scans, blocks = jpeg_decode_work(data, size)
    if scans > MAX_JPEG_SCANS or blocks > MAX_JPEG_SCAN_BLOCKS:
        raise ImageError(f"{name}: this JPEG would take too long to decode ({scans} scans over "
                         f"{size[0]}x{size[1]} pixels); save it again as an ordinary JPEG")


_MARKER = re.compile(rb"\xff+([^\x00\xd0-\xd7\xff])")
"""A JPEG marker: 0xFF (any fill bytes) then a code; 0xFF00 is a stuffed byte, 0xFFD0-D7 restarts."""
_SOF_CODES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_MAX_SEGMENTS = 10_000
"""More marker segments than this (ordinary files have tens) counts as too much work as well."""


def jpeg_decode_work(data: bytes, size: tuple[int, int]) -> tuple[int, int]:
    """(scans, 8x8 blocks visited over all scans) of the first image in a JPEG, from its markers.

    Markers are found the way libjpeg finds them (it skips stray bytes between segments), so a file
    cannot hide scans from this count that the decoder would still run."""
    width, height = size
    full = math.ceil(width / 8) * math.ceil(height / 8)
    sampling: dict[int, tuple[int, int]] = {}
    scans = blocks = segments = 0
    pos = 2  # after SOI
    while (found := _MARKER.search(data, pos)) is not None:
        code, start = found.group(1)[0], found.end()
        if code == 0xD9:  # EOI: the decoder stops here
            break
        segments += 1
        if segments > _MAX_SEGMENTS:
            return max(scans, MAX_JPEG_SCANS + 1), blocks
        if code in (0xD8, 0x01):  # SOI, TEM: no length
            pos = start
            continue
        length = int.from_bytes(data[start:start + 2], "big")
        body = data[start + 2:start + length]
        if code in _SOF_CODES:
            sampling = {body[i]: (body[i + 1] >> 4, body[i + 1] & 15) for i in range(6, len(body) - 2, 3)}
        elif code == 0xDA and body:  # SOS: count the blocks of each component it covers
            scans += 1
            components = body[1:1 + 2 * min(body[0], 4):2]
            blocks += sum(_component_blocks(sampling, c, width, height, full) for c in components)
        pos = start + max(length, 2)
    return scans, blocks


def _component_blocks(sampling: dict[int, tuple[int, int]], component: int, width: int, height: int,
                      full: int) -> int:
    """8x8 blocks of one component (subsampled chroma has fewer); unknown components count in full."""
    if component not in sampling or not all(h and v for h, v in sampling.values()):
        return full
    h_max = max(h for h, _ in sampling.values())
    v_max = max(v for _, v in sampling.values())
    h, v = sampling[component]
    return math.ceil(math.ceil(width * h / h_max) / 8) * math.ceil(math.ceil(height * v / v_max) / 8)


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
