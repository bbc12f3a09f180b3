"""Video files in and out: checked reading of uploads (mp4, webm, mov) and H.264 MP4 writing.

Reading and writing use PyAV (FFmpeg's libraries in one wheel). OpenCV's wheel can only write
MPEG-4 part 2 fast (which browsers do not play) or VP8/VP9 at 20-100 ms per 640x480 frame; PyAV's
libx264 writes browser-playable H.264 at ~4 ms per frame. Reading through PyAV also lets the
container format be chosen from the file's first bytes, never guessed by FFmpeg: a playlist or
other format renamed .mp4 is refused, not followed.

Every refusal is a VideoError whose message says what is wrong and what to do, e.g.
"the video is 95 s long; the limit is 60 s: trim it first".
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Optional, Union

import av
import numpy as np

from maskdet.config import UPLOAD_LIMIT_BYTES

VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".m4v", ".mov", ".webm", ".mkv"})
VIDEO_CODECS: frozenset[str] = frozenset({"h264", "hevc", "vp8", "vp9", "av1", "mpeg4"})
"""Video codecs decoded (what phones, browsers and screen recorders write)."""
_MOV_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")
_MATROSKA_MAGIC = b"\x1a\x45\xdf\xa3"
DECODE_FPS_CAP = 60
"""At most max_seconds x this many frames are decoded, whatever the header says."""
PIXEL_SLACK = 64
"""FFmpeg's decoders are told the most pixels a frame may have (max_pixels): the limit's sides plus
this many (coded sizes are padded to whole macroblocks), so a larger frame is refused before its
buffers are allocated, wherever it appears, sampled or not; the exact limit is checked per frame."""
OUTPUT_OPTIONS = {"preset": "superfast", "crf": "23", "threads": "1"}
"""libx264 settings: 3.5 ms per 640x480 frame on one core (veryfast: 4.7 ms, half the file size).
One thread: the classifier already keeps both cores busy, and frame threads only add buffering."""


class VideoError(ValueError):
    """A file could not be used as a video (empty, not a video, no picture, too large or too long)."""


@dataclass(frozen=True)
class VideoLimits:
    """What a video may be: file size (None: any), duration and resolution (either orientation)."""

    max_bytes: Optional[int] = UPLOAD_LIMIT_BYTES
    max_seconds: float = 60.0
    max_long_side: int = 1920
    max_short_side: int = 1080

    def describe(self) -> str:
        """E.g. 'mp4, webm or mov; at most 10 MB, 60 s and 1920x1080'."""
        size = f"{self.max_bytes / 1024 / 1024:g} MB, " if self.max_bytes else ""
        return (f"mp4, webm or mov; at most {size}{self.max_seconds:g} s and "
                f"{self.max_long_side}x{self.max_short_side}")


APP_LIMITS = VideoLimits()
"""The web app's limits: the app's upload limit (maskdet.web.guard caps request bodies to it)."""
CLI_LIMITS = VideoLimits(max_bytes=None, max_seconds=600.0)
"""The command line reads local files: no size limit, ten minutes."""


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about the video track."""

    width: int
    height: int
    fps: float
    duration_s: Optional[float]
    frames: Optional[int]
    codec: str
    container: str

    def to_dict(self) -> dict:
        return {"width": self.width, "height": self.height, "fps": round(self.fps, 3),
                "duration_s": None if self.duration_s is None else round(self.duration_s, 3),
                "frames": self.frames, "codec": self.codec, "container": self.container}


def container_format(head: bytes) -> Optional[str]:
    """FFmpeg's demuxer for a file starting with `head`: 'mov' (mp4, mov) or 'matroska' (webm, mkv)."""
    if head.startswith(_MATROSKA_MAGIC):
        return "matroska"
    if len(head) >= 8 and head[4:8] in _MOV_BOXES:
        return "mov"
    return None


def _check_file(path: Path, limits: VideoLimits) -> str:
    """The demuxer to use, after the checks that need no decoding."""
    if not path.is_file():
        raise VideoError(f"no such file: {path.name}")
    size = path.stat().st_size
    if size == 0:
        raise VideoError("the file is empty (0 bytes)")
    if limits.max_bytes and size > limits.max_bytes:
        raise VideoError(f"the file is {size / 2**20:.3g} MB; the limit is {limits.max_bytes / 2**20:.3g} MB")
    with open(path, "rb") as handle:
        fmt = container_format(handle.read(16))
    if fmt is None:
        raise VideoError("not a video file this app reads (mp4, webm or mov)")
    return fmt


def _check_size(width: int, height: int, limits: VideoLimits) -> None:
    if width <= 0 or height <= 0:
        raise VideoError("the video track has no picture size (damaged file?)")
    if max(width, height) > limits.max_long_side or min(width, height) > limits.max_short_side:
        raise VideoError(f"the video is {width}x{height}; the limit is {limits.max_long_side}x"
                         f"{limits.max_short_side} (either way round): scale it down first")


def _info(container: av.container.InputContainer, stream: av.video.stream.VideoStream, fmt: str) -> VideoInfo:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    duration = None
    if stream.duration and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif container.duration:
        duration = container.duration / av.time_base
    context = stream.codec_context
    return VideoInfo(context.width, context.height, fps if math.isfinite(fps) else 0.0, duration,
                     stream.frames or None, context.name, fmt)


@contextmanager
def open_video(path: Union[str, Path], limits: VideoLimits = APP_LIMITS
               ) -> Iterator[tuple[av.container.InputContainer, av.video.stream.VideoStream, VideoInfo]]:
    """(container, video stream, info) of a checked video file; raises VideoError."""
    path = Path(path)
    fmt = _check_file(path, limits)
    decoder = {"max_pixels": str(max_pixels(limits))}
    try:
        try:  # FFmpeg decodes a frame or two to learn the streams: never a larger one than allowed
            container = av.open(str(path), format=fmt, metadata_errors="ignore", stream_options=[decoder] * 16)
        except ValueError:  # no stream known before probing, so no per-stream options (nothing to protect)
            container = av.open(str(path), format=fmt, metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError) as err:
        raise VideoError(f"the video could not be opened: it is damaged or truncated ({_reason(err)})") from None
    try:
        if not container.streams.video:
            raise VideoError("the file has no video track (is it audio only?)")
        stream = container.streams.video[0]
        stream.codec_context.options = dict(decoder)
        info = _info(container, stream, fmt)
        if info.codec not in VIDEO_CODECS:
            raise VideoError(f"its video codec ({info.codec}) is not supported: use H.264, HEVC, VP8, VP9 or AV1")
        _check_size(info.width, info.height, limits)
        if info.duration_s is not None and info.duration_s > limits.max_seconds + 0.5:
            raise VideoError(f"the video is {info.duration_s:.0f} s long; the limit is "
                             f"{limits.max_seconds:g} s: trim it first")
        stream.thread_type = "AUTO"
        yield container, stream, info
    finally:
        container.close()


def max_pixels(limits: VideoLimits) -> int:
    """The most pixels FFmpeg may allocate for one decoded frame under `limits` (see PIXEL_SLACK)."""
    return (limits.max_long_side + PIXEL_SLACK) * (limits.max_short_side + PIXEL_SLACK)


def probe(path: Union[str, Path], limits: VideoLimits = APP_LIMITS) -> VideoInfo:
    """The checked video's facts (raises VideoError, see open_video)."""
    with open_video(path, limits) as (_, _, info):
        return info


def _reason(err: BaseException) -> str:
    """FFmpeg's short reason, without the file path it names."""
    text = getattr(err, "strerror", None) or str(err)
    return str(text).split(":")[0].strip() or type(err).__name__


@dataclass
class Frame:
    """One decoded frame: its index in the file, its time in seconds and its upright RGB pixels."""

    index: int
    time_s: float
    rgb: np.ndarray


class FrameReader:
    """Decodes a checked video's frames at most `sample_fps` per second (None: every frame). Problems
    that appear only while decoding (a truncated end, a header that understated the size or length)
    end the reading early with a note in `notes`, or raise VideoError when no frame was read."""

    def __init__(self, path: Union[str, Path], limits: VideoLimits = APP_LIMITS,
                 sample_fps: Optional[float] = None) -> None:
        self.path, self.limits, self.sample_fps = Path(path), limits, sample_fps
        self.info = probe(self.path, limits)
        self.notes: list[str] = []

    @property
    def output_fps(self) -> float:
        """Frames per second of the sampled sequence."""
        source = self.info.fps or 25.0
        return min(source, self.sample_fps) if self.sample_fps else source

    def expected_frames(self) -> Optional[int]:
        """How many frames sampling should give (for a progress bar), when the length is known."""
        if self.info.duration_s:
            return max(1, round(self.info.duration_s * self.output_fps))
        return self.info.frames

    def __iter__(self) -> Iterator[Frame]:
        with open_video(self.path, self.limits) as (container, stream, info):
            yield from self._frames(container, stream, info)

    def _frames(self, container, stream, info: VideoInfo) -> Iterator[Frame]:
        step = 1.0 / self.output_fps
        next_time, decoded, sent, time_s = 0.0, 0, 0, 0.0
        fallback_rate = info.fps or 25.0
        try:
            for frame in container.decode(stream):
                decoded += 1
                if decoded > self.limits.max_seconds * DECODE_FPS_CAP:
                    self.notes.append(f"only the first {decoded - 1} frames were read (the frame rate is too high)")
                    return
                time_s = float(frame.time) if frame.time is not None else (decoded - 1) / fallback_rate
                if time_s > self.limits.max_seconds + 0.5:
                    self.notes.append(f"only the first {self.limits.max_seconds:g} s were analysed")
                    return
                _check_size(frame.width, frame.height, self.limits)  # every decoded frame, sampled or not
                if time_s + step * 0.25 < next_time:
                    continue
                next_time = max(next_time + step, time_s + step * 0.5)
                yield Frame(decoded - 1, time_s, _upright(frame))
                sent += 1
        except av.error.FFmpegError as err:
            _check_size(stream.codec_context.width, stream.codec_context.height, self.limits)  # max_pixels?
            if not sent:
                raise VideoError("no frame could be decoded: the video is damaged or truncated "
                                 f"({_reason(err)})") from None
            self.notes.append(f"the video ends early after {sent} frames: it is damaged or truncated")
            return
        if not sent:
            raise VideoError("the video has no frames (damaged or truncated?)")
        if info.duration_s and time_s + 3 / fallback_rate < info.duration_s:
            self.notes.append(f"the video ends early, at {time_s:.1f} s of {info.duration_s:.1f} s: "
                              "it is damaged or truncated")


def _upright(frame: av.VideoFrame) -> np.ndarray:
    """RGB pixels with the container's rotation applied (phones store portrait videos sideways)."""
    rgb = frame.to_ndarray(format="rgb24")
    turns = round((getattr(frame, "rotation", 0) or 0) / 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


class VideoWriter:
    """Writes RGB frames as a browser-playable H.264 MP4 (yuv420p, moov atom first for streaming).
    Odd widths or heights lose their last pixel row or column (H.264 4:2:0 needs even sizes)."""

    def __init__(self, path: Union[str, Path], fps: float) -> None:
        self.path = Path(path)
        self.fps = Fraction(fps).limit_denominator(1001)
        self._container = av.open(str(self.path), "w", format="mp4", options={"movflags": "+faststart"})
        self._stream = None
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        height, width = (rgb.shape[0] // 2) * 2, (rgb.shape[1] // 2) * 2
        if self._stream is None:
            self._stream = self._container.add_stream(
                "libx264", rate=self.fps, options=dict(OUTPUT_OPTIONS))
            self._stream.width, self._stream.height, self._stream.pix_fmt = width, height, "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:height, :width]), format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        if self._stream is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
        self._container.close()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
