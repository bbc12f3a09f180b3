import io

import numpy as np
import pytest
from PIL import Image

from maskdet.config import MAX_IMAGE_PIXELS
from maskdet.images import ImageError, load_image, resize_square


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
