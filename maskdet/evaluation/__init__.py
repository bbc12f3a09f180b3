"""Measuring models: metrics, calibration and the unsure band, reports, plots, the stress set, the
Grad-CAM pointing game, and the face-size and detector measurements.

evaluate (`maskdet evaluate`), metrics, calibration, report (markdown tables), plots, stress,
pointing, size_eval (`maskdet size-eval`), detector_eval (`maskdet detector-eval`) with
detector_scenes (the images it measures on) and detector_variants (the detection rules it compares).

Layer: may import maskdet.data, maskdet.video, maskdet.core, maskdet.render and maskdet.config (not
training or web).
"""
