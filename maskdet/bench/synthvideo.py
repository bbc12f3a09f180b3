"""Generated test videos: a photo's face gliding over a grey canvas, as frames, MP4 or Y4M.

Used by the benchmark (a 640x480 stream with one face) and the tests (tiny videos); Y4M is what
Chromium's fake camera plays (--use-file-for-fake-video-capture). Each frame can carry its number as
a row of black and white squares along the bottom edge, so a frame can be recognised after a round
trip through the browser and the app (how the benchmark measures lag).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional, Union

import cv2
import numpy as np

from maskdet.config import CHECKOUT_DIR
from maskdet.core.images import load_image

EXAMPLES = CHECKOUT_DIR / "examples"
DEFAULT_FACE = EXAMPLES / "astronaut_mask.jpg"
CODE_BITS = 14
"""Frame numbers up to 16383 are encoded: enough for minutes of video at 30 fps."""
CODE_MARK = (1, 0, 1, 1)
"""Fixed squares before the number, telling a code from the picture and its mirror image."""


def face_frames(count: int, size: tuple[int, int] = (640, 480), photo: Union[str, Path] = DEFAULT_FACE,
                photo_height: Optional[int] = None, with_code: bool = False) -> Iterator[np.ndarray]:
    """`count` RGB frames of `size` (width, height): the photo, scaled to `photo_height` (default 3/4
    of the frame), drifting left and right on grey; with `with_code`, the frame number drawn below."""
    width, height = size
    picture = load_image(photo)
    scale = (photo_height or height * 3 // 4) / picture.shape[0]
    picture = cv2.resize(picture, (max(1, round(picture.shape[1] * scale)), max(1, round(picture.shape[0] * scale))),
                         interpolation=cv2.INTER_AREA)
    ph, pw = picture.shape[:2]
    room = max(0, width - pw)
    for index in range(count):
        frame = np.full((height, width, 3), 120, np.uint8)
        x = round(room / 2 + room / 4 * np.sin(index / 15))
        top = max(0, (height - ph) // 3)
        h, w = min(ph, height - top), min(pw, width - x)
        frame[top:top + h, x:x + w] = picture[:h, :w]
        if with_code:
            draw_code(frame, index)
        yield frame


def _square(height: int) -> int:
    return max(4, height // 24)


def draw_code(frame: np.ndarray, number: int) -> None:
    """Draw CODE_MARK and `number` as black/white squares in the bottom-left corner, in place."""
    side = _square(frame.shape[0])
    bits = list(CODE_MARK) + [(number >> i) & 1 for i in range(CODE_BITS)]
    top = frame.shape[0] - side
    for i, bit in enumerate(bits):
        frame[top:, i * side:(i + 1) * side] = 255 if bit else 0


def read_code(frame: np.ndarray) -> Optional[int]:
    """The number drawn by draw_code, also in a mirrored frame; None when there is none."""
    for candidate in (frame, frame[:, ::-1]):
        side = _square(candidate.shape[0])
        row = candidate[-side:].mean(axis=(0, 2)) if candidate.ndim == 3 else candidate[-side:].mean(axis=0)
        bits = [int(row[i * side + side // 4:(i + 1) * side - side // 4].mean() > 127)
                for i in range(len(CODE_MARK) + CODE_BITS)]
        if tuple(bits[:len(CODE_MARK)]) == CODE_MARK:
            return sum(bit << i for i, bit in enumerate(bits[len(CODE_MARK):]))
    return None


def write_y4m(path: Union[str, Path], frames: Iterator[np.ndarray], fps: int = 30) -> Path:
    """Frames as an uncompressed YUV4MPEG2 (4:2:0) file, the format Chromium's fake camera reads."""
    path = Path(path)
    with open(path, "wb") as out:
        header_written = False
        for frame in frames:
            height, width = frame.shape[:2]
            if not header_written:
                out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
                header_written = True
            out.write(b"FRAME\n")
            out.write(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


def write_mp4(path: Union[str, Path], frames: Iterator[np.ndarray], fps: float = 10) -> Path:
    """Frames as an H.264 MP4 (maskdet.video.files's writer)."""
    from maskdet.video.files import VideoWriter

    with VideoWriter(path, fps) as writer:
        for frame in frames:
            writer.write(frame)
    return Path(path)
