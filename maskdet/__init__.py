"""maskdet: VGG16 face-mask detection with per-face Grad-CAM explanations.

Subpackages by job, in layers; imports only go down (tests/test_layers.py checks it):

    cli, predict, web, bench    the `maskdet` command, the app's parts, the benchmark
    training                    train, crossval
    evaluation                  metrics, calibration, reports, plots, stress, pointing, size, detector
    data                        sources, dataset, recrop, augment, batches
    video                       tracking, the frame engine, files, whole-video analysis
    core                        images, faces, model, numerics, gradcam, predictor, prediction
    render                      boxes, captions, heatmap overlays
    config                      the one source of truth for labels, defaults and paths
"""

from maskdet.config import CLASS_NAMES

__all__ = ["CLASS_NAMES"]
__version__ = "0.1.0"
