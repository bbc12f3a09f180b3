"""What a finished training run writes: the calibrated model.keras, metrics.json (held-out metrics per
split and source, calibration, framing, the command) and training curves; and the split summary it
prints at the start."""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import sys
from pathlib import Path
from typing import Optional

import keras
import numpy as np

from maskdet.config import CLASS_NAMES
from maskdet.core.model import load_model, model_info, save_model, set_temperature
from maskdet.data.dataset import LoadedDataset
from maskdet.evaluation.calibration import expected_calibration_error, fit_temperature, softmax
from maskdet.evaluation.evaluate import evaluate_split, per_source_metrics, predict_logits
from maskdet.training.checkpoints import BEST


def calibrate(model: keras.Model, dataset: LoadedDataset) -> dict:
    """Fit a temperature on the validation split; keep it only if it lowers the validation ECE."""
    images, labels = dataset.subset("val")
    logits = predict_logits(model, images)
    before = expected_calibration_error(softmax(logits), labels)
    temperature = fit_temperature(logits, labels)
    after = expected_calibration_error(softmax(logits, temperature), labels)
    kept = after < before
    set_temperature(model, temperature if kept else 1.0)
    return {"fitted_temperature": temperature, "val_ece_before": before, "val_ece_after": after, "kept": kept}


def finish(out: Path, dataset: LoadedDataset, args: argparse.Namespace, seconds: float,
           extra: Optional[dict] = None) -> dict:
    """Best checkpoint -> calibrated model.keras, held-out metrics and plots."""
    from maskdet.evaluation import plots
    model = load_model(out / BEST)
    calibration = calibrate(model, dataset)
    model_path = save_model(model, out / "model.keras")
    history = read_history(out / "history.csv")
    plots.training_curves(history, out / "training_curves.png")
    metrics = {
        "model": model_path.name,
        "model_info": model_info(model).__dict__,
        "model_megabytes": round(model_path.stat().st_size / 1e6, 2),
        "command": "python -m maskdet train " + " ".join(shlex.quote(str(a)) for a in getattr(args, "argv", sys.argv[1:])),
        "training_seconds": round(seconds),
        "epochs_run": len(history.get("loss", [])),
        "data": _split_counts(dataset),
        "calibration": calibration,
        "val": evaluate_split(model, dataset, "val"),
        "test": evaluate_split(model, dataset, "test", out / "evaluation"),
        "test_per_source": per_source_metrics(model, dataset, "test"),
        "framing": framing_report(dataset),
        **(extra or {}),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=list))
    print(json.dumps({k: metrics["test"][k] for k in ("accuracy", "roc_auc", "ece")}, indent=2))
    return metrics


def framing_report(dataset: LoadedDataset) -> dict:
    """Per source and class: how often a face was found, and how much of the image (before) and
    of the crop (after re-cropping) its box fills: the framing skew between sources."""
    report = {}
    for source in dataset.source_names():
        for label in range(len(CLASS_NAMES)):
            index = [i for i, s in enumerate(dataset.samples) if s.source == source and s.label == label]
            if not index:
                continue
            found = ~np.isnan(dataset.face_fraction[index])
            report[f"{source}/{label}"] = {
                "images": len(index), "face_found": round(float(found.mean()), 3),
                "face_side_over_image_side": _median(dataset.raw_face_fraction[index]),
                "face_side_over_crop_side": _median(dataset.face_fraction[index]),
            }
    return report


def _median(values: np.ndarray) -> Optional[float]:
    values = values[~np.isnan(values)]
    return round(float(np.median(values)), 3) if len(values) else None


def read_history(path: Path) -> dict[str, list[float]]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {key: [float(row[key]) for row in rows] for key in (rows[0] if rows else {})}


def _split_counts(dataset: LoadedDataset) -> dict:
    counts = {}
    for split in ("train", "val", "test"):
        _, labels = dataset.subset(split)
        groups = {g for g, s in zip(dataset.groups, dataset.splits) if s == split}
        counts[split] = {**{name: int((labels == i).sum()) for i, name in enumerate(CLASS_NAMES)},
                         "groups": len(groups)}
    return counts


def split_summary(dataset: LoadedDataset) -> str:
    return "split: " + ", ".join(
        f"{name} {sum(c[k] for k in CLASS_NAMES)} ({' / '.join(f'{c[k]} {k}' for k in CLASS_NAMES)}, "
        f"{c['groups']} groups)" for name, c in _split_counts(dataset).items())
