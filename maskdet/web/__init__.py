"""The Gradio app's parts; app.py only builds and launches them.

photo_tab, live_tab, video_tab (one module per tab), about (header, API and About text),
result_view (what a result shows: pictures, table, summary), session_store (kept results for
redraws), serving (upload, result-file and cache safety), guard (request-size and upload bounds),
loglimit (capped log lines), settings (limits and serving settings), startup (model loading,
start-up stamps).

Layer: top; may import training, evaluation, data, video, core, render and config (not bench or
maskdet.cli).
"""
