"""Pixels: coloured boxes with non-overlapping captions, and hot-only heatmap overlays and tiles.

The one renderer: photo, live and video pictures all come from it (through
maskdet.core.prediction.Prediction.annotated / overlays).

Layer: the lowest above config; it knows nothing of predictions (numpy, OpenCV, Pillow only) and
may import maskdet.config only.
"""
