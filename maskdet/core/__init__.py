"""The photo pipeline: an image in, per-face verdicts out.

images (safe decoding), faces (YuNet detection and its rules), face_geometry (boxes, crops,
mirroring, merging, search scales; re-exported by faces), model (the VGG16 classifier),
numerics (float32 or bfloat16), gradcam (prediction and its heatmap in one pass), predictor
(`Predictor`: image -> faces -> crops -> batch -> Prediction), prediction (verdicts, counts, the
headline, JSON; its pictures are drawn by maskdet.render).

Layer: may import maskdet.render and maskdet.config only. Never imports gradio (the command line
and training use it without the web stack).
"""
