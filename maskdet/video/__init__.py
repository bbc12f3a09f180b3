"""Video: faces tracked across frames, the frame engine shared by the live webcam and video files,
checked reading and H.264 writing, and whole-file analysis.

tracking (faces followed, smoothed, unsure until seen enough), engine (one frame -> tracked
prediction -> picture and readout), files (PyAV reading with limits, H.264 writing), analysis (a
whole video: annotated video, JSON, CSV, chart).

Layer: may import maskdet.core, maskdet.render and maskdet.config.
"""
