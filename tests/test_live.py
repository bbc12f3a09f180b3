"""The live engine and the Live tab's server side, without a browser."""

from __future__ import annotations

import base64

import gradio as gr
import numpy as np
import pytest
from gradio.data_classes import Base64ImageData

from maskdet.video.engine import LIVE_MAX_SIDE, NEW_STREAM_GAP_S, LiveSession, Readout, jpeg_bytes, process_frame
from maskdet.web.live_tab import FRAME_MAX_BYTES, WAITING, frame_handler, frame_source, send_inline
from maskdet.bench.synthvideo import face_frames


def as_data_url(data: bytes, kind: str = "image/jpeg") -> str:
    return f"data:{kind};base64," + base64.b64encode(data).decode()


def test_frames_are_tracked_and_drawn(predictor):
    session = LiveSession()
    frames = list(face_frames(4, (1280, 720)))
    readouts = []
    for k, frame in enumerate(frames):
        picture, readout = process_frame(predictor, session, jpeg_bytes(frame), now=100.0 + k * 0.1)
        readouts.append(readout)
    assert picture.shape == (360, LIVE_MAX_SIDE, 3)  # shown at most 640 px wide
    assert [r.faces for r in readouts] == [1, 1, 1, 1]
    assert readouts[0].unsure == 1 and readouts[0].masked + readouts[0].unmasked == 0  # new face: unsure
    assert readouts[-1].masked + readouts[-1].unmasked + readouts[-1].unsure == 1
    assert readouts[-1].fps == pytest.approx(10.0)
    assert len(session.tracker.tracks) == 1 and session.tracker.tracks[0].frames == 4


def test_a_pause_starts_a_new_stream(predictor):
    session = LiveSession()
    frame = next(face_frames(1, (320, 240)))
    for k in range(3):
        process_frame(predictor, session, frame, now=10.0 + k * 0.1)
    (track,) = session.tracker.tracks
    _, readout = process_frame(predictor, session, frame, now=10.2 + NEW_STREAM_GAP_S + 1)
    assert session.tracker.tracks[0].track_id == 1 and session.tracker.tracks[0].frames == 1
    assert readout.fps == 0.0 and readout.unsure == 1


def test_no_face_no_verdict(predictor):
    picture, readout = process_frame(predictor, LiveSession(), np.full((240, 320, 3), 90, np.uint8))
    assert readout.faces == 0 and readout.markdown() == "**0.0 fps** · no face now"
    assert picture.shape == (240, 320, 3)


def test_readout_text():
    assert Readout(12.34, ("mask", "no_mask")).markdown() == "**12.3 fps** · 2 faces now: 1 with mask, 1 without"
    assert Readout(5, ("mask", "unsure", "too_small")).markdown() == (
        "**5.0 fps** · 3 faces now: 1 with mask, 0 without, 1 unsure, 1 too small to judge")
    assert Readout(5, ("worn_wrong", "no_mask")).markdown() == "**5.0 fps** · 2 faces now: 0 with mask, 1 worn wrong, 1 without"


def test_frame_source_reads_data_urls_and_refuses_others(tmp_path):
    jpeg = jpeg_bytes(np.zeros((8, 8, 3), np.uint8))
    assert frame_source({"url": as_data_url(jpeg), "path": None}) == jpeg
    assert frame_source(as_data_url(jpeg)) == jpeg
    assert frame_source(None) is None
    with pytest.raises(gr.Error, match="larger than the upload limit"):
        frame_source({"url": as_data_url(b"x" * (FRAME_MAX_BYTES + 10))})
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(jpeg)
    with pytest.raises(gr.Error, match="not uploaded to this app"):
        frame_source({"path": str(secret)})


def test_handler_answers_frames_and_skips_bad_ones(predictor):
    handle = frame_handler(predictor)
    frame = as_data_url(jpeg_bytes(next(face_frames(1, (320, 240)))))
    shown, readout, session = handle({"url": frame}, False, 0.6, None)
    assert shown.startswith("data:image/jpeg;base64,") and "1 face now" in readout
    assert isinstance(session, LiveSession)
    skipped, message, same = handle({"url": as_data_url(b"not a picture")}, False, 0.6, session)
    assert isinstance(skipped, dict) and "Could not read that frame" in message and same is session
    nothing, waiting, _ = handle(None, False, 0.6, session)
    assert waiting == WAITING
    with pytest.raises(gr.Error):
        handle({"url": frame}, "yes", 0.6, session)  # settings are checked as for photos


def test_send_inline_passes_data_urls_and_files_as_before(tmp_path):
    image = send_inline(gr.Image())
    inline = image.postprocess("data:image/jpeg;base64,AAAA")
    assert isinstance(inline, Base64ImageData) and inline.url == "data:image/jpeg;base64,AAAA"
    assert image.postprocess(np.zeros((4, 4, 3), np.uint8)).path.endswith(".webp")


def test_streams_are_time_limited_and_one_at_a_time_in_their_own_group(predictor):
    from maskdet.web.live_tab import LIVE_SECONDS, LIVE_STREAMS, build_live_tab
    from maskdet.web.video_tab import VIDEO_JOBS, build_video_tab

    with gr.Blocks() as demo:
        build_live_tab(predictor)
        build_video_tab(predictor)
    (stream,) = [fn for fn in demo.fns.values() if fn.connection == "stream"]
    assert (stream.time_limit, stream.concurrency_limit, stream.concurrency_id) == (LIVE_SECONDS, LIVE_STREAMS, "live")
    assert LIVE_SECONDS == 60 and LIVE_STREAMS == 1
    videos = [fn for fn in demo.fns.values() if fn.concurrency_id == "video"]
    assert len(videos) == 2 and all(fn.concurrency_limit == VIDEO_JOBS == 1 for fn in videos)
    assert [fn.api_name for fn in videos if fn.api_visibility == "public"] == ["video"]


def test_live_readout_counts_masks_worn_wrong(worn_wrong_predictor):
    session = LiveSession()
    frames = list(face_frames(5, (640, 360)))
    for k, frame in enumerate(frames):
        _, readout = process_frame(worn_wrong_predictor, session, jpeg_bytes(frame), now=50.0 + k * 0.1)
    assert readout.counts()["worn_wrong"] == 1 and "1 worn wrong" in readout.markdown()
