"""Target 2, measured in this process: several faces classified (with Grad-CAM) in one pass cost
less per face than one face alone, on the engine and on whole photos, with no new graph traces."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from maskdet.bench.model_rows import explain_flops
from maskdet.bench.photos import GROUP_FACES, face_batch, group_photo
from maskdet.bench.report import Report, Row
from maskdet.bench.timing import interleaved_ms
from maskdet.core.gradcam import GradCam
from maskdet.core.predictor import Predictor
from maskdet.core.model import inference_copy


def batching_rows(report: Report, predictor: Predictor, shipped: keras.Model, group: Path, reps: int,
                  warm: int, full_rate: float) -> None:
    """Target 2 on the engine: 8 face crops in one pass vs one face; the trace count stays constant.
    `shipped` is the model file as loaded (for its FLOPs and the float32 comparison). `full_rate` is
    the GFLOP/s the full VGG16 reached in this run (T3, float32); in float32 it gives the ratio's floor
    for this one-face time: the batch's per-face cost if it ran as fast as that."""
    engine = predictor.engine
    flops = explain_flops(shipped, engine.first_heatmap_layer)
    batch = face_batch(predictor, group)
    faces, traces_before = len(batch), engine.trace_count()
    timed = interleaved_ms({"single": lambda: engine.explain(batch[:1]), "batched": lambda: engine.explain(batch),
                            "loop": lambda: [engine.explain(batch[i:i + 1]) for i in range(faces)]}, reps, warm)
    report.add(Row(f"T2 faces found in the {GROUP_FACES}-face photo", GROUP_FACES, faces, "faces",
                   f"product == {GROUP_FACES}", gate="product", limit=GROUP_FACES, compare="=="))
    report.add(Row(f"T2 classify+Grad-CAM per face at {faces} faces / one face (loop -> batch)",
                   timed["loop"] / faces / timed["single"], timed["batched"] / faces / timed["single"], "x",
                   "product <= 0.6", gate="product", limit=0.6))
    report.add(Row(f"T2 (info) shipped model forward+Grad-CAM GFLOP/s ({engine.precision}): 1 face -> batch",
                   flops / timed["single"] / 1e6, flops * faces / timed["batched"] / 1e6, "GFLOP/s"))
    if engine.precision == "float32":
        report.add(Row("T2 (info) floor: per face at the full VGG16's rate (T3) / one face",
                       None, flops / full_rate / 1e6 / timed["single"], "x"))
    else:
        float32_batching_row(report, shipped, batch, reps, warm)
    photo_batching_rows(report, predictor, group, faces, reps, warm)
    for size in range(1, faces + 1):
        engine.explain(batch[:size])
        engine.predict(batch[:size])
    report.add(Row("T2 graph traces: after warm-up -> after batches 1..8 (both modes)", traces_before,
                   engine.trace_count(), "traces", "ratio == 1 (none new)", limit=1.0, compare="=="))


def float32_batching_row(report: Report, shipped: keras.Model, batch: np.ndarray, reps: int, warm: int) -> None:
    """The same per-face cost with the base in float32, as on CPUs without native bfloat16."""
    engine = GradCam(inference_copy(shipped, "float32"))
    timed = interleaved_ms({"single": lambda: engine.explain(batch[:1]), "batched": lambda: engine.explain(batch)},
                           reps, warm)
    report.add(Row(f"T2 (info) the same in float32, ms: one face -> per face at {len(batch)} faces",
                   timed["single"], timed["batched"] / len(batch), "ms"))


def photo_batching_rows(report: Report, predictor: Predictor, group: Path, faces: int, reps: int,
                        warm: int) -> None:
    """Target 2 on whole photos: one forward pass for all faces; per-face cost vs a one-face photo."""
    calls = _count_explain_calls(predictor, group)
    lone = group_photo(group.parent, predictor.detector, faces=1)
    timed = interleaved_ms({"group": lambda: predictor.predict(group), "lone": lambda: predictor.predict(lone)},
                           reps, warm)
    report.add(Row(f"T2 forward passes for the {faces}-face photo (naive: one per face)", faces, calls, "calls",
                   "product == 1", gate="product", limit=1, compare="=="))
    report.add(Row(f"T2 whole photo per face at {faces} faces / one-face photo (same canvas)",
                   None, timed["group"] / faces / timed["lone"], "x", "product <= 0.6", gate="product", limit=0.6))


def _count_explain_calls(predictor: Predictor, photo: Path) -> int:
    """How many times one predict of `photo` calls the engine's one-pass explain."""
    engine = predictor.engine
    original, calls = engine.explain, []

    def counting(images: np.ndarray):
        calls.append(len(images))
        return original(images)

    engine.explain = counting
    try:
        predictor.predict(photo)
    finally:
        del engine.explain
    return len(calls)
