"""Video files: checked reading, the annotated H.264 video, per-frame JSON/CSV, chart, and the CLI."""

from __future__ import annotations

import csv
import json
from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

from maskdet import predict
from maskdet.bench.synthvideo import face_frames, write_mp4
from maskdet.core.faces import DETECT_MAX_SIDE
from maskdet.video.files import FrameReader, VideoError, VideoLimits, VideoWriter, container_format, probe
from maskdet.video.analysis import analyse_video

SIZE = (320, 240)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """12 frames at 10 fps, 320x240, one face."""
    return write_mp4(tmp_path_factory.mktemp("clip") / "clip.mp4", face_frames(12, SIZE), fps=10)


def encode(path, codec: str, fps, frames, fmt=None, size=SIZE, **options) -> str:
    """Write frames with any PyAV codec (for inputs the product's own writer never makes)."""
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return str(path)


def audio_only(path) -> str:
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=8000)
        samples = np.zeros((1, 1024), np.float32)
        for _ in range(8):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate = 8000
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return str(path)


def test_annotated_video_json_csv_and_chart(predictor, clip, tmp_path):
    seen = []
    result = analyse_video(predictor, clip, tmp_path, progress=lambda done, total: seen.append((done, total)))
    assert [done for done, _ in seen] == list(range(1, 13)) and seen[-1][1] == 12
    info = probe(result.video_path)
    assert info.codec == "h264" and (info.width, info.height) == SIZE and info.frames == 12
    with av.open(str(result.video_path)) as written:
        assert written.streams.video[0].codec_context.pix_fmt == "yuv420p"  # what browsers play
    summary = json.loads(result.json_path.read_text())
    assert summary["frames_analysed"] == 12 and len(summary["frames"]) == 12
    assert summary["video"]["codec"] == "h264" and summary["analysed_fps"] == 10
    frames_with_face = [f for f in summary["frames"] if f["faces"]]
    assert len(frames_with_face) >= 10  # the face is there throughout
    first = frames_with_face[0]["faces"][0]
    assert set(first) >= {"box", "verdict", "prob_mask", "track", "frame_prob_mask", "frame_verdict"}
    assert first["verdict"] == "unsure"  # a new face needs evidence first
    for frame in summary["frames"]:
        counted = sum(frame[key] for key in ("masked", "worn_wrong", "unmasked", "unsure", "too_small"))
        assert counted == frame["faces_found"] == len(frame["faces"])
    rows = list(csv.DictReader(result.csv_path.open()))
    assert len(rows) == 12 and rows[3]["time_s"] == "0.300"
    assert [int(r["masked"]) for r in rows] == [f["masked"] for f in summary["frames"]]
    chart = Image.open(result.chart_path)
    assert chart.format == "PNG" and chart.width >= 600
    assert "12 frames analysed over 1.2 s: faces in" in result.headline()


def test_sampling_keeps_at_most_the_asked_rate(tmp_path):
    video = write_mp4(tmp_path / "fast.mp4", face_frames(30, (160, 120)), fps=30)
    reader = FrameReader(video, sample_fps=10)
    frames = list(reader)
    assert reader.output_fps == 10 and len(frames) == 10
    assert [f.index for f in frames[:3]] == [0, 3, 6]


def test_webm_vp8_is_read(tmp_path):
    video = encode(tmp_path / "clip.webm", "libvpx", 10, face_frames(4, (160, 120)), size=(160, 120))
    assert container_format(open(video, "rb").read(16)) == "matroska"
    frames = list(FrameReader(video))
    assert len(frames) == 4 and frames[0].rgb.shape == (120, 160, 3)


@pytest.mark.parametrize("case, message", [
    ("empty", "the file is empty (0 bytes)"),
    ("text", "not a video file this app reads (mp4, webm or mov)"),
    ("photo", "not a video file this app reads"),
    ("truncated", "damaged or truncated"),
    ("audio", "the file has no video track (is it audio only?)"),
    ("huge", "the video is 2000x1100; the limit is 1920x1080 (either way round): scale it down first"),
    ("long", "the video is 80 s long; the limit is 60 s: trim it first"),
    ("big", "MB; the limit is 0.00977 MB"),
])
def test_bad_videos_get_a_clear_message(case, message, clip, tmp_path):
    from tests.conftest import EXAMPLES

    path, limits = tmp_path / f"{case}.mp4", VideoLimits()
    if case == "empty":
        path.write_bytes(b"")
    elif case == "text":
        path.write_text("this is not a video at all")
    elif case == "photo":
        path.write_bytes((EXAMPLES / "astronaut_mask.jpg").read_bytes())
    elif case == "truncated":
        data = clip.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif case == "audio":
        audio_only(path)
    elif case == "huge":
        encode(path, "libx264", 10, [np.zeros((1100, 2000, 3), np.uint8)] * 2, size=(2000, 1100), preset="ultrafast")
    elif case == "long":
        encode(path, "libx264", Fraction(1, 40), face_frames(2, (160, 120)), size=(160, 120))
    else:
        path.write_bytes(clip.read_bytes())
        limits = VideoLimits(max_bytes=10 * 1024)
    with pytest.raises(VideoError) as caught:
        list(FrameReader(path, limits))
    assert message in str(caught.value)
    assert str(tmp_path) not in str(caught.value)  # no server paths in messages


def test_truncated_end_is_a_note_when_frames_were_read(tmp_path):
    """A WebM cut short still has its header: the frames before the cut are used and the result says so."""
    video = encode(tmp_path / "cut.webm", "libvpx", 10, face_frames(20, (160, 120)), size=(160, 120))
    data = open(video, "rb").read()
    cut = tmp_path / "cut-short.webm"
    cut.write_bytes(data[: int(len(data) * 0.85)])
    reader = FrameReader(cut)
    frames = list(reader)
    assert 3 <= len(frames) < 20
    assert len(reader.notes) == 1 and "the video ends early" in reader.notes[0], reader.notes
    assert "damaged or truncated" in reader.notes[0]


def test_writer_makes_even_sizes(tmp_path):
    with VideoWriter(tmp_path / "odd.mp4", 5) as writer:
        for frame in face_frames(3, (161, 121)):
            writer.write(frame)
    assert (probe(tmp_path / "odd.mp4").width, probe(tmp_path / "odd.mp4").height) == (160, 120)


def test_cli_writes_annotated_video_and_json(cli_env, clip, tmp_path, capsys):
    assert predict.main([str(clip), "--out", str(tmp_path / "out"), "--no-cam"]) == 0
    captured = capsys.readouterr()
    assert "clip.mp4: 12 frames analysed" in captured.out
    assert "frame" in captured.err  # the progress bar
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["0000_clip.csv", "0000_clip.json", "0000_clip_annotated.mp4", "0000_clip_chart.png"]
    assert probe(tmp_path / "out" / "0000_clip_annotated.mp4").codec == "h264"
    assert len(json.loads((tmp_path / "out" / "0000_clip.json").read_text())["frames"]) == 12


def test_cli_json_and_a_bad_video_next_to_a_photo(cli_env, clip, tmp_path, capsys):
    from tests.conftest import EXAMPLES

    bad = tmp_path / "bad.mov"
    bad.write_text("not a video")
    code = predict.main([str(clip), str(bad), str(EXAMPLES / "astronaut_mask.jpg"), "--json"])
    video, broken, photo = json.loads(capsys.readouterr().out)
    assert code == 0
    assert video["error"] is None and len(video["frames"]) == 12 and video["video"]["width"] == 320
    assert broken["error"] == "not a video file this app reads (mp4, webm or mov)"
    assert photo["error"] is None and len(photo["faces"]) == 1


def test_rotated_phone_video_is_read_upright(tmp_path):
    """A display rotation of 90 degrees (counterclockwise, as phones store portrait video) is applied:
    the stored top-left corner ends up bottom-left, as players show it."""
    stored = np.zeros((120, 160, 3), np.uint8)
    stored[:20, :40] = 255
    with av.open(str(tmp_path / "phone.mp4"), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.set_display_rotation(90)
        for packet in stream.encode(av.VideoFrame.from_ndarray(stored, format="rgb24")):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    (frame,) = list(FrameReader(tmp_path / "phone.mp4"))
    assert frame.rgb.shape == (160, 120, 3)
    rows, cols = np.nonzero(frame.rgb[..., 0] > 200)
    assert rows.min() >= 120 and cols.max() < 20


def test_heatmaps_can_be_drawn_in_the_video(predictor, clip, tmp_path):
    plain = analyse_video(predictor, clip, tmp_path / "plain", sample_fps=5)
    heat = analyse_video(predictor, clip, tmp_path / "heat", sample_fps=5, heatmaps=True, opacity=1.0)
    assert len(heat.frames) == len(plain.frames) == 6
    with av.open(str(plain.video_path)) as a, av.open(str(heat.video_path)) as b:
        first_plain = next(a.decode(video=0)).to_ndarray(format="rgb24").astype(int)
        first_heat = next(b.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    x1, y1, x2, y2 = heat.frames[0].faces[0].face.crop_box
    painted = np.abs(first_heat[y1:y2, x1:x2] - first_plain[y1:y2, x1:x2]).mean() > 2
    # records keep no heatmaps (nor crops): the first frame's map, computed again
    first = next(iter(FrameReader(clip))).rgb
    heatmap = predictor.predict(first, explain=True, detect_max_side=DETECT_MAX_SIDE).faces[0].heatmap
    assert painted == (heatmap.max() > 0.5)  # the map is painted (a random tiny model may have none)


def test_worn_wrong_faces_have_their_own_csv_column_and_chart_layer(worn_wrong_predictor, clip, tmp_path):
    result = analyse_video(worn_wrong_predictor, clip, tmp_path, sample_fps=6)
    with open(result.csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[-5:] == ["masked", "worn_wrong", "unmasked", "unsure", "too_small"]
    assert int(rows[-1]["worn_wrong"]) == int(rows[-1]["faces_found"]) >= 1  # settled after a few frames
    assert all(int(row["masked"]) == 0 for row in rows)
    assert "worn wrong" in result.headline()
    summary = json.loads(result.json_path.read_text())
    assert summary["frames"][-1]["faces"][0]["verdict"] == "worn_wrong"
