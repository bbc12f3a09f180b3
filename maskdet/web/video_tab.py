"""The Video tab's server side: an uploaded video in; the annotated video, a chart, the per-frame
JSON and CSV and a summary out (maskdet.video.analysis does the work).

The upload limit is the app's (10 MB, so the request guard's body cap holds for videos too); the
duration and resolution limits are maskdet.video.files.APP_LIMITS. At most VIDEO_JOBS videos are analysed
at once, in their own concurrency group, so photo requests keep their slots, and at most VIDEO_QUEUE
wait (maskdet.web.serving.limit_queue_group). A job that fails leaves no file behind, and the memory it
freed goes back to the OS (maskdet.web.guard.release_memory).
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
from pathlib import Path
from typing import Any, Callable, Optional

import gradio as gr
from gradio.utils import get_upload_folder

from maskdet.core.predictor import Predictor
from maskdet.web.guard import release_memory
from maskdet.web.serving import checked_settings, limit_queue_group, uploaded_image, user_facing_errors
from maskdet.video.files import APP_LIMITS, VIDEO_EXTENSIONS, VideoError
from maskdet.video.analysis import SAMPLE_FPS, VideoResult, analyse_video

VIDEO_JOBS = 1
"""Videos analysed at once (each keeps the CPU busy for up to a minute)."""
VIDEO_QUEUE = 4
"""Videos that may wait for the slot (two per session); more are told "busy" at once, so videos
take at most this many of the queue's places."""
VIDEO_BUSY = "The video queue is full (one video analysed at a time, four waiting); try again in a few minutes."
VIDEO_WAITING = "Upload a video: it is analysed as soon as it arrives, and its result appears here."
VIDEO_CSS = """
#video-result:not(:has(video)), #video-chart:not(:has(img)), #video-files:not(:has(a)) { display: none !important; }
"""
"""Before a result, the output boxes take no room (as on the Photo tab): the summary says what to do."""
VIDEO_HELP = (f"**Video file** ({APP_LIMITS.describe()}). Every face in up to {SAMPLE_FPS:g} frames per "
              "second is boxed and followed from frame to frame, as in the Live tab; you get the annotated "
              "video, a chart of masked and unmasked faces over time, and the per-frame results as JSON and CSV.")


def result_folder() -> Path:
    """A new folder in Gradio's upload folder (swept with the other results after 30 minutes)."""
    folder = Path(get_upload_folder()) / secrets.token_hex(32)
    folder.mkdir(parents=True)
    return folder


def video_markdown(result: VideoResult) -> str:
    """The headline in bold, then the notes (e.g. a truncated end) as bullets."""
    return "\n".join([f"**{result.headline()}**"] + [f"- {note}" for note in result.notes])


def settled_time(json_path: str) -> float:
    """Where the annotated video opens: the first analysed frame whose faces all have a verdict (a new
    face is unsure until tracked over a few frames, so frame 0 would show every face grey), else the
    start. Read from the result's JSON."""
    frames = json.loads(Path(json_path).read_text())["frames"]
    for record in frames:
        if record["faces"] and all(face["verdict"] != "unsure" for face in record["faces"]):
            return round(record["time_s"] - frames[0]["time_s"], 3)
    return 0.0


def video_handler(predictor: Predictor) -> Callable:
    """The Video tab's function: (video, heatmaps) -> (annotated video, chart, [JSON, CSV], summary)."""

    def analyse_video_file(video: Any, heatmaps: bool = False, progress: gr.Progress = gr.Progress()):
        payload = video
        _, _, heatmaps = checked_settings(0.5, 0.5, heatmaps)
        if not payload:
            raise gr.Error("Upload a video first (mp4, webm or mov).", print_exception=False)
        source = uploaded_image(payload)
        if not isinstance(source, str):
            raise gr.Error("Upload the video as a file.", print_exception=False)
        name = _original_name(payload) or Path(source).name

        def report(done: int, total: Optional[int]) -> None:
            progress((done, total), desc="Analysing frames", unit="frames")

        folder = result_folder()
        try:
            with user_facing_errors("that video", VideoError, "Could not use that video"):
                result = analyse_video(predictor, source, folder, heatmaps=heatmaps, progress=report, name=name)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)  # a partial video: nothing would ever delete it
            raise
        finally:
            release_memory()  # the job freed hundreds of MB of frames: back to the OS, not kept by glibc
        files = [str(result.json_path), str(result.csv_path)]  # notes are in the summary: no toasts
        return str(result.video_path), str(result.chart_path), files, video_markdown(result)

    return analyse_video_file


def page_handler(analyse: Callable) -> Callable:
    """The page's run (on upload, or when "heatmaps" changes with a video there): as /video, but a
    problem becomes one message where the result would be (no toasts, no error marks) and the
    unusable upload is removed. The input is a file box with no player, so nothing in the browser
    tries to play a file that is no video either."""

    def analyse_upload(video: Any, heatmaps: bool, progress: gr.Progress = gr.Progress()):
        if not video:
            return (gr.skip(),) * 6
        try:
            shown, chart, files, summary = analyse(video, heatmaps, progress)
        except gr.Error as err:
            return None, None, None, None, f"**⚠ {err.message}**", 0.0
        return gr.skip(), shown, chart, files, summary, settled_time(files[0])

    return analyse_upload


def _original_name(payload: Any) -> Optional[str]:
    """The uploaded file's own name (for the result files' names), when the browser sent one."""
    if isinstance(payload, dict):
        name = payload.get("orig_name")
        if isinstance(name, str):
            safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name).strip("._")
            return safe[:80] or None
    return None


def build_video_tab(predictor: Predictor) -> None:
    """The Video tab's components and events, inside the current Blocks/Tab context."""
    gr.Markdown(VIDEO_HELP)
    with gr.Row(equal_height=False):
        with gr.Column(min_width=300):
            # a file box, not gr.Video: its player would raise its own "Video not playable" toast for a
            # file that is no video, beside our one message (the annotated video is the one to watch)
            video = gr.File(file_types=sorted(VIDEO_EXTENSIONS), type="filepath", file_count="single",
                            label=f"Video ({APP_LIMITS.describe()})", elem_id="video-input")
            heatmaps = gr.Checkbox(False, label="Heatmaps on the faces (Grad-CAM; slower)")
        with gr.Column(min_width=300):
            summary = gr.Markdown(VIDEO_WAITING, label="Summary: frames analysed, faces seen, notes",
                                  elem_id="video-summary")
            annotated = gr.Video(label="Annotated video", interactive=False, elem_id="video-result", height=320)
            chart = gr.Image(label="Faces over time (chart)", type="filepath", interactive=False,
                             elem_id="video-chart")
            files = gr.File(label="Per-frame results (JSON, CSV)", file_count="multiple", interactive=False,
                            elem_id="video-files")
    analyse = video_handler(predictor)
    outputs = [annotated, chart, files, summary]
    jobs = dict(preprocess=False, concurrency_limit=VIDEO_JOBS, concurrency_id="video")
    limit_queue_group("video", waiting=VIDEO_QUEUE, per_session=2, message=VIDEO_BUSY)
    api_only = gr.Button("video (API only)", visible=False)
    api_only.click(analyse, [video, heatmaps], outputs, api_name="video", **jobs,
                   api_description=f"Analyse a video file ({APP_LIMITS.describe()}): returns the annotated "
                                   "video, a chart, the per-frame JSON and CSV, and a summary.")
    # analysed on upload (no button to press, none to press twice); "heatmaps" re-runs it
    opens_at = gr.State(0.0)
    gr.on([video.upload, heatmaps.input], page_handler(analyse), [video, heatmaps], [video] + outputs + [opens_at],
          api_visibility="private", show_progress_on=outputs, **jobs
          ).success(lambda at: gr.Video(playback_position=at), opens_at, annotated, api_visibility="private",
                    show_progress="hidden")  # once the video is there (set with it, the player resets it to 0)
    describe_input(video, f"The video file ({APP_LIMITS.describe()}); from Python: handle_file(path).")


def describe_input(component: gr.components.Component, text: str) -> gr.components.Component:
    """Give an input a one-line description on the API page (a file input otherwise shows Gradio's
    generic FileData docstring there). An instance attribute, like live_tab.send_inline."""
    original = component.api_info_as_input

    def api_info_as_input() -> dict[str, Any]:
        return {**original(), "additional_description": text}

    component.api_info_as_input = api_info_as_input  # type: ignore[method-assign]
    return component
