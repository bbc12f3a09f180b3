"""The generated stream the live and video figures use: 640x480 at 30 fps, one face (the masked
astronaut gliding over grey, maskdet.bench.synthvideo), each frame carrying its number."""

from __future__ import annotations

from maskdet.video.engine import jpeg_bytes
from maskdet.bench.synthvideo import face_frames

STREAM_SIZE = (640, 480)
STREAM_FPS = 30


def stream_jpegs(count: int) -> list[bytes]:
    """The stream's frames as the browser sends them: JPEG, numbered."""
    return [jpeg_bytes(frame) for frame in face_frames(count, STREAM_SIZE, with_code=True)]
