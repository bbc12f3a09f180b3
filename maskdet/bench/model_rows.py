"""Targets 1, 3 and 4, measured in this process: one-pass prediction + Grad-CAM against the bare
forward pass and the naive recipe (T1), the achieved share of the fp32 peak (T3), and a whole
photo end to end (T4)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import keras
import numpy as np

from maskdet.bench.baseline import NaiveGradCam, bare_forward
from maskdet.bench.report import Report, Row
from maskdet.bench.timing import interleaved_ms
from maskdet.config import CLASS_NAMES
from maskdet.render.drawing import draw_boxes, overlay_heatmap
from maskdet.core.faces import crop
from maskdet.core.gradcam import GradCam
from maskdet.core.images import load_image, resize_square
from maskdet.core.prediction import DEFAULT_OPACITY
from maskdet.core.predictor import Predictor


def layer_flops(layer: keras.layers.Layer) -> int:
    """Multiply-add FLOPs (2 per MAC) of one Conv2D or Dense layer for one image; 0 for other layers."""
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw, c_in, c_out = layer.kernel.shape
        _, h, w, _ = layer.output.shape
        return int(2 * h * w * kh * kw * c_in * c_out)
    if isinstance(layer, keras.layers.Dense):
        c_in, c_out = layer.kernel.shape
        return int(2 * c_in * c_out)
    return 0


def model_flops(model: keras.Model) -> int:
    """Multiply-add FLOPs (2 per MAC) of every Conv2D and Dense layer for one image (the forward pass)."""
    return sum(layer_flops(layer) for layer in model.layers)


def explain_flops(model: keras.Model, first_heatmap_layer: str) -> int:
    """FLOPs of one face's prediction with heatmap: the forward pass, plus the backward pass through
    every layer above the first heatmap layer (gradients of activations only: as many MACs again)."""
    names = [layer.name for layer in model.layers]
    above = model.layers[names.index(first_heatmap_layer) + 1:]
    return model_flops(model) + sum(layer_flops(layer) for layer in above)


def grad_cam_rows(report: Report, name: str, model: keras.Model, target: float, reps: int, warm: int) -> float:
    """Target 1: one-pass prediction + Grad-CAM vs a bare forward pass and vs the naive recipe.
    Returns the bare forward time (ms) for one image."""
    size = model.input_shape[1]
    image = np.random.default_rng(0).uniform(0, 255, (1, size, size, 3)).astype(np.float32)
    forward, engine, naive = bare_forward(model), GradCam(model), NaiveGradCam(model)
    timed = interleaved_ms({"forward": lambda: forward(image), "product": lambda: engine.explain(image),
                            "naive": lambda: naive.explain_one(image)}, reps, warm)
    forward_ms, product_ms, naive_ms = timed["forward"], timed["product"], timed["naive"]
    report.add(Row(f"T1 {name}: bare forward -> pred+Grad-CAM, ms", forward_ms, product_ms, "ms"))
    report.add(Row(f"T1 {name}: naive -> one-pass pred+Grad-CAM, ms", naive_ms, product_ms, "ms"))
    report.add(Row(f"T1 {name}: (pred+Grad-CAM) / bare forward", naive_ms / forward_ms, product_ms / forward_ms,
                   "x", f"product <= {target:g}", gate="product", limit=target))
    return forward_ms


def peak_row(report: Report, model: keras.Model, forward_ms: float) -> float:
    """Target 3: achieved GFLOP/s of the full VGG16 forward pass against the machine's peak; returns
    the achieved rate (the best these kernels reach here, in the model's precision)."""
    flops = model_flops(model)
    achieved = flops / (forward_ms / 1000.0) / 1e9
    machine = report.machine
    machine["full_vgg16_224_gflop_per_image"] = flops / 1e9
    report.add(Row(f"T3 full VGG16 224px ({flops / 1e9:.2f} GFLOP): peak (AVX2 formula) -> achieved GFLOP/s",
                   machine["peak_gflops_avx2"], achieved, "GFLOP/s", "ratio >= 0.6", limit=0.6, compare=">="))
    if machine["peak_gflops_avx512"]:
        report.add(Row("T3 (info) same against the AVX-512 peak (2 x 512-bit FMA)",
                       machine["peak_gflops_avx512"], achieved, "GFLOP/s"))
    return achieved


def end_to_end_rows(report: Report, predictor: Predictor, naive: NaiveGradCam, photo: Path, reps: int,
                    warm: int) -> None:
    """Target 4: decode -> detect -> crop -> classify+Grad-CAM -> draw, with a stage breakdown."""
    stages: dict[str, list[float]] = {}

    def product() -> None:
        prediction = predictor.predict(photo)
        start = time.perf_counter()
        prediction.annotated()
        prediction.overlays(DEFAULT_OPACITY)
        for stage, ms in {**prediction.timings_ms, "draw": (time.perf_counter() - start) * 1000}.items():
            stages.setdefault(stage, []).append(ms)

    timed = interleaved_ms({"product": product, "naive": lambda: naive_end_to_end(predictor, naive, photo)},
                           reps, warm)
    product_ms, naive_ms = timed["product"], timed["naive"]
    report.breakdowns["T4 end-to-end stages of the product, ms (median)"] = {
        stage: statistics.median(times[warm:]) for stage, times in stages.items()}
    report.add(Row("T4 640x480 photo, 1 face, end to end (naive recipe -> product), ms", naive_ms, product_ms,
                   "ms", "product <= 120 ms", gate="product", limit=120.0))


def naive_end_to_end(predictor: Predictor, naive: NaiveGradCam, photo: Path) -> None:
    """The same decode, detection and drawing, but each face classified by the naive recipe."""
    image = load_image(photo)
    faces = predictor.detector.detect(image)
    size = predictor.engine.input_size
    labels = []
    for face in faces:
        patch = crop(image, face.crop_box)
        probs, cam = naive.explain_one(resize_square(patch, size)[None].astype(np.float32))
        labels.append(CLASS_NAMES[int(np.argmax(probs[0]))])
        overlay_heatmap(patch, cam)
    draw_boxes(image, [f.box for f in faces], labels, labels)
