import io
import math
import time

import numpy as np
import pytest
from PIL import Image

from maskdet.config import MAX_IMAGE_PIXELS
from maskdet.core.images import (MAX_JPEG_SCAN_BLOCKS, MAX_JPEG_SCANS, ImageError, jpeg_decode_work, load_image,
                            resize_square)
from tests.badinputs import jpeg_scans, write_postscript, write_scan_bomb


def _encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "LA", "1"])
def test_any_mode_becomes_rgb_uint8(mode):
    image = Image.new("RGB", (20, 10), (200, 40, 40)).convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    array = load_image(_encode(image, fmt))
    assert array.shape == (10, 20, 3) and array.dtype == np.uint8


def test_transparent_pixels_become_white():
    image = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert load_image(_encode(image, "PNG"))[0, 0].tolist() == [255, 255, 255]


def test_sixteen_bit_png_keeps_its_range():
    array16 = np.full((6, 6), 65535, dtype=np.uint16)
    array16[:3] = 0
    loaded = load_image(_encode(Image.fromarray(array16), "PNG"))
    assert loaded[0, 0, 0] == 0 and loaded[5, 5, 0] == 255


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (40, 20), (0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    assert load_image(_encode(image, "JPEG", exif=exif)).shape == (40, 20, 3)


def test_animated_gif_gives_first_frame():
    frames = [Image.new("RGB", (8, 8), colour) for colour in ((255, 0, 0), (0, 255, 0))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    assert load_image(buffer.getvalue())[0, 0].tolist() == [255, 0, 0]


@pytest.mark.parametrize(
    "payload, message",
    [(b"", "empty"), (b"hello, I am text", "not a recognised image"), (None, "corrupt or truncated")],
)
def test_bad_bytes_raise_image_error(payload, message):
    if payload is None:
        payload = _encode(Image.new("RGB", (64, 64), (9, 9, 9)), "JPEG")[:200]
    with pytest.raises(ImageError, match=message):
        load_image(payload)


def test_huge_image_is_refused_before_decoding(tmp_path):
    side = int(MAX_IMAGE_PIXELS ** 0.5) + 100
    bomb = Image.new("1", (side, side))
    path = tmp_path / "bomb.png"
    bomb.save(path, optimize=True)
    with pytest.raises(ImageError, match="too large"):
        load_image(path)


def test_missing_file_and_arrays(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "nothing.jpg")
    assert load_image(np.zeros((5, 5), dtype=np.uint8)).shape == (5, 5, 3)
    assert load_image(np.ones((5, 5, 4), dtype=np.float32))[0, 0].tolist() == [255, 255, 255]


def test_resize_square():
    assert resize_square(np.zeros((300, 100, 3), np.uint8), 32).shape == (32, 32, 3)


def _blocks(width: int, height: int) -> int:
    return math.ceil(width / 8) * math.ceil(height / 8)


def test_jpeg_decode_work_counts_scans_and_the_blocks_they_cover():
    photo = Image.new("RGB", (160, 96), (10, 120, 200))
    assert jpeg_decode_work(_encode(photo, "JPEG"), photo.size) == (1, _blocks(160, 96) + 2 * _blocks(80, 48))
    scans, blocks = jpeg_decode_work(_encode(photo, "JPEG", progressive=True), photo.size)
    assert scans == 10  # libjpeg's standard progression for colour images
    assert _blocks(160, 96) * 5 < blocks < _blocks(160, 96) * 3 * 10


def test_a_standard_progressive_50_megapixel_photo_is_within_the_budget():
    """The budget is counted from the markers: a small file's scans, over 7000 x 7000 pixels."""
    data = _encode(Image.new("RGB", (64, 64), (90, 90, 90)), "JPEG", progressive=True)
    scans, blocks = jpeg_decode_work(data, (7000, 7000))
    assert scans == 10 and blocks < MAX_JPEG_SCAN_BLOCKS / 3


def test_a_scan_bomb_is_refused_from_its_markers_without_decoding(tmp_path):
    bomb = tmp_path / "scan-bomb.jpg"
    write_scan_bomb(bomb)
    start = time.perf_counter()
    with pytest.raises(ImageError, match="scan-bomb.jpg: this JPEG would take too long to decode"):
        load_image(bomb)
    assert time.perf_counter() - start < 1.0  # libjpeg would decode it for ~13 s


def test_stray_bytes_between_segments_cannot_hide_scans(tmp_path):
    """libjpeg skips bytes that are not a marker between segments ("extraneous bytes" warning),
    so the count must do the same: here every repeated scan is preceded by junk."""
    bomb = tmp_path / "small-bomb.jpg"
    write_scan_bomb(bomb, side=64, repeats=MAX_JPEG_SCANS + 20)
    data = bomb.read_bytes()
    scans = jpeg_scans(data)
    start, end = scans[-1][0], scans[-1][1]
    last = data[start:end]
    first_repeat = scans[-(MAX_JPEG_SCANS + 20)][0]
    hidden = data[:first_repeat] + (b"junk" + last) * (MAX_JPEG_SCANS + 20) + data[end:]
    Image.open(io.BytesIO(hidden)).load()  # libjpeg does run all those scans
    with pytest.raises(ImageError, match="would take too long to decode"):
        load_image(hidden)


@pytest.mark.parametrize("fmt", ["TIFF", "ICO", "PPM", "TGA", "PCX"])
def test_formats_outside_the_allow_list_are_not_decoded(fmt):
    with pytest.raises(ImageError, match="not a recognised image file .*supported: JPEG, PNG, WebP, GIF, BMP"):
        load_image(_encode(Image.new("RGB", (16, 16), (1, 2, 3)), fmt))


def test_postscript_never_reaches_ghostscript(tmp_path):
    eps = tmp_path / "drawing.eps"
    write_postscript(eps)
    with pytest.raises(ImageError) as caught:
        load_image(eps)
    assert "not a recognised image file" in str(caught.value) and "Ghostscript" not in str(caught.value)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "MPO"])
def test_allowed_formats_are_decoded(fmt):
    extra = {"save_all": True, "append_images": [Image.new("RGB", (16, 16))]} if fmt == "MPO" else {}
    assert load_image(_encode(Image.new("RGB", (16, 16), (200, 30, 30)), fmt, **extra)).shape == (16, 16, 3)
