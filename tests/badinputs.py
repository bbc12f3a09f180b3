"""Hostile and unusual image files, generated on the fly (nothing binary is committed).

Each `Case` says what a correct system does with the file: refuse it with an ImageError whose
message contains `error`, or return a result with `faces` classified (None: no face found, no verdict).
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from PIL import Image

from maskdet.core.predictor import MAX_FACES
from tests.conftest import EXAMPLES

FACE_PHOTO = EXAMPLES / "astronaut_no_mask.jpg"
NO_FACE_PHOTO = EXAMPLES / "cat_no_face.jpg"
BOMB_SIDE = 20_000
MANY_FACES = MAX_FACES + 16
SCAN_BOMB_SIDE = 2000
SCAN_BOMB_REPEATS = 2000
"""2000 copies of a 14-byte scan over 2000 x 2000 px: a 44 kB file that libjpeg decodes for ~13 s."""


@dataclass(frozen=True)
class Case:
    """One input file and the expected outcome."""

    name: str
    make: Callable[[Path], None]
    error: Optional[str] = None
    faces: Optional[int] = None

    @property
    def refused(self) -> bool:
        return self.error is not None


def _photo(path: Path = FACE_PHOTO) -> Image.Image:
    return Image.open(path).convert("RGB")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_bomb_png(path: Path, side: int = BOMB_SIDE) -> None:
    """A valid 1-bit side x side PNG of ~50 kB that would need side^2 bytes (400 MB) once decoded."""
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    squeezer = zlib.compressobj(9)
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    body = b"".join(squeezer.compress(row * 1000) for _ in range(side // 1000)) + squeezer.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", body)
                     + _png_chunk(b"IEND", b""))


def write_bad_crc_png(path: Path, chunk: bytes = b"IHDR") -> None:
    """A real PNG with one wrong chunk checksum (the CRC after `chunk`'s data)."""
    buffer = io.BytesIO()
    _photo().save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    start = data.index(chunk)
    (length,) = struct.unpack(">I", data[start - 4: start])
    data[start + 4 + length] ^= 0xFF
    path.write_bytes(bytes(data))


def write_truncated_jpeg(path: Path) -> None:
    data = FACE_PHOTO.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def write_sixteen_bit_png(path: Path) -> None:
    grey = np.asarray(_photo().convert("L"), dtype=np.uint16) * 257  # full 0..65535 range
    Image.fromarray(grey).save(path)


def write_rgba_png(path: Path) -> None:
    image = _photo().convert("RGBA")
    image.putalpha(Image.new("L", image.size, 255))
    image.paste((0, 0, 0, 0), (0, 0, image.width, 40))  # a transparent band at the top
    image.save(path)


def write_palette_png(path: Path) -> None:
    _photo().quantize(256).save(path)


def write_animated_gif(path: Path, first: Path = FACE_PHOTO, second: Path = NO_FACE_PHOTO) -> None:
    """Two frames; only the first must be analysed."""
    frames = [_photo(first), _photo(second).resize(_photo(first).size)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=200, loop=0)


def upright_photo() -> Image.Image:
    """A landscape (non-square) crop of the face photo: how the EXIF-rotated file must look."""
    return _photo().crop((0, 0, 512, 320))


def write_exif_rotated_jpeg(path: Path) -> None:
    """upright_photo() stored rotated 90 degrees (portrait), with the EXIF tag that turns it upright."""
    exif = Image.Exif()
    exif[0x0112] = 6  # display: rotate 90 degrees clockwise
    upright_photo().transpose(Image.Transpose.ROTATE_90).save(path, quality=95, exif=exif)


def write_many_faces(path: Path, count: int = MANY_FACES, tile: int = 96, columns: int = 10) -> None:
    """`count` copies of one face on a grid: more faces than maskdet.core.predictor.MAX_FACES."""
    face = _photo().resize((tile, tile))
    rows = -(-count // columns)
    canvas = Image.new("RGB", (tile * columns, tile * rows), (120, 120, 120))
    for i in range(count):
        canvas.paste(face, ((i % columns) * tile, (i // columns) * tile))
    canvas.save(path, quality=92)


def jpeg_scans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each scan (SOS header and entropy-coded data) in a well-formed JPEG."""
    pos, scans = 2, []
    while data[pos + 1] != 0xD9:  # EOI
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        end = pos + 2 + length
        if data[pos + 1] == 0xDA:  # entropy-coded data runs to the next marker that is not FF00/RSTn
            while data[end] != 0xFF or data[end + 1] == 0 or 0xD0 <= data[end + 1] <= 0xD7:
                end += 1
            scans.append((pos, end))
        pos = end
    return scans


def write_scan_bomb(path: Path, side: int = SCAN_BOMB_SIDE, repeats: int = SCAN_BOMB_REPEATS) -> None:
    """A flat progressive JPEG whose last scan (a refinement that every block takes part in, coded
    in a few bytes) is repeated `repeats` times: decoding visits every block once per copy."""
    buffer = io.BytesIO()
    Image.new("L", (side, side), 128).save(buffer, "JPEG", progressive=True, quality=90)
    data = buffer.getvalue()
    start, end = jpeg_scans(data)[-1]
    path.write_bytes(data[:end] + data[start:end] * (repeats - 1) + data[end:])


def write_postscript(path: Path) -> None:
    """An EPS file: PIL would hand it to Ghostscript (and say so when Ghostscript is missing)."""
    path.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\n"
                     b"0 0 moveto 64 64 lineto stroke\nshowpage\n%%EOF\n")


def write_detailed_jpeg(path: Path, side: int = 5600, quality: int = 40) -> None:
    """side x side random 4 px blocks: more detail than WebP's first partition holds (its encoder
    fails with "encoding error 6"), in a JPEG under the 10 MB upload limit."""
    rng = np.random.default_rng(5600)
    blocks = rng.integers(0, 256, (side // 4, side // 4, 3), dtype=np.uint8)
    Image.fromarray(blocks).resize((side, side), Image.Resampling.NEAREST).save(path, quality=quality)


def _save(image_fn: Callable[[], Image.Image], **kwargs) -> Callable[[Path], None]:
    return lambda path: image_fn().save(path, **kwargs)


CASES: tuple[Case, ...] = (
    Case("zero-byte.jpg", lambda p: p.write_bytes(b""), error="empty"),
    Case("text-named.jpg", lambda p: p.write_text("text, not a photo\n" * 20), error="not a recognised"),
    Case("truncated.jpg", write_truncated_jpeg, error="truncated"),
    Case("broken-header-crc.png", write_bad_crc_png, error="damaged header"),
    Case("broken-data-crc.png", lambda p: write_bad_crc_png(p, b"IDAT"), faces=1),  # pixels intact: decoded
    Case("bomb-20000x20000.png", write_bomb_png, error="too large"),
    Case("one-pixel.png", _save(lambda: Image.new("RGB", (1, 1), (200, 30, 30)))),
    Case("sixteen-bit.png", write_sixteen_bit_png, faces=1),
    Case("cmyk.jpg", _save(lambda: _photo().convert("CMYK"), quality=95), faces=1),
    Case("greyscale.jpg", _save(lambda: _photo().convert("L"), quality=95), faces=1),
    Case("rgba.png", write_rgba_png, faces=1),
    Case("palette.png", write_palette_png, faces=1),
    Case("animated.gif", write_animated_gif, faces=1),
    Case("exif-rotated.jpg", write_exif_rotated_jpeg, faces=1),
    Case("strip-10000x10.png", _save(lambda: Image.new("RGB", (10_000, 10), (90, 90, 90)))),
    Case("strip-50000x10.png", _save(lambda: Image.new("RGB", (50_000, 10), (90, 90, 90)))),
    Case(f"{MANY_FACES}-faces.jpg", write_many_faces, faces=MAX_FACES),
    Case("scan-bomb.jpg", write_scan_bomb, error="would take too long to decode"),
    Case("postscript.eps", write_postscript, error="not a recognised image file"),
)
"""Every case; `faces=None` without `error` means no face found (and no verdict)."""


def write_all(folder: Path) -> dict[str, Path]:
    """Write every case into `folder`; name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for case in CASES:
        case.make(folder / case.name)
        paths[case.name] = folder / case.name
    return paths
