"""Held-out evaluation: metrics, calibration and plots.

    python -m maskdet.evaluate --model models/maskdet_vgg16.keras --data DIR [--split test]
        [--precision float32|bfloat16]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional

import keras
import numpy as np

from maskdet.calibration import expected_calibration_error, reliability_bins, softmax
from maskdet.config import CLASS_NAMES, LOGITS_LAYER, MASK_INDEX
from maskdet.data import DatasetError, LoadedDataset, load_dataset
from maskdet.model import ModelFileError, inference_copy, load_model, model_info


def predict_logits(model: keras.Model, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Pre-softmax scores for a batch of images at the model's input size."""
    logits_model = keras.Model(model.input, model.get_layer(LOGITS_LAYER).output)
    return np.asarray(logits_model.predict(images, batch_size=batch_size, verbose=0), dtype=np.float64)


def classification_metrics(probs: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy, per-class precision/recall/F1, ROC AUC, ECE and the confusion matrix."""
    predicted = probs.argmax(axis=1)
    matrix = np.zeros((len(CLASS_NAMES), len(CLASS_NAMES)), dtype=int)
    np.add.at(matrix, (labels, predicted), 1)
    per_class = {}
    for index, name in enumerate(CLASS_NAMES):
        true_pos = matrix[index, index]
        precision = true_pos / max(matrix[:, index].sum(), 1)
        recall = true_pos / max(matrix[index, :].sum(), 1)
        f1 = 2 * precision * recall / max(precision + recall, 1e-12)
        per_class[name] = {
            "precision": float(precision), "recall": float(recall), "f1": float(f1),
            "support": int(matrix[index, :].sum()),
        }
    return {
        "n_images": int(len(labels)),
        "accuracy": float((predicted == labels).mean()),
        "per_class": per_class,
        "roc_auc": roc_auc(probs[:, MASK_INDEX], labels == MASK_INDEX),
        "ece": expected_calibration_error(probs, labels),
        "confusion_matrix": matrix.tolist(),
        "confusion_matrix_axes": "rows = true class, columns = predicted class, order " + str(list(CLASS_NAMES)),
    }


def roc_auc(scores: np.ndarray, positives: np.ndarray) -> float:
    """Area under the ROC curve via the rank statistic (ties get average ranks)."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    for start, count in zip(first, counts):
        ranks[order[start:start + count]] = start + (count + 1) / 2.0
    n_pos, n_neg = positives.sum(), (~positives).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_curve(scores: np.ndarray, positives: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    thresholds = np.unique(scores)[::-1]
    tpr = [(scores[positives] >= t).mean() for t in thresholds]
    fpr = [(scores[~positives] >= t).mean() for t in thresholds]
    return np.array([0.0] + fpr + [1.0]), np.array([0.0] + tpr + [1.0])


def evaluate_split(
    model: keras.Model, dataset: LoadedDataset, split: str, out_dir: Optional[Path] = None
) -> dict:
    """Metrics on one split (never the training split for reported results); plots into out_dir."""
    images, labels = dataset.subset(split)
    if len(labels) == 0:
        raise DatasetError(f"the '{split}' split is empty")
    info = model_info(model)
    logits = predict_logits(model, images)
    probs = softmax(logits, info.temperature)
    metrics = {"split": split, "precision": info.precision, "temperature": info.temperature,
               **classification_metrics(probs, labels)}
    metrics["ece_uncalibrated"] = expected_calibration_error(softmax(logits), labels)
    if out_dir is not None:
        from maskdet import plots

        out_dir.mkdir(parents=True, exist_ok=True)
        plots.confusion_matrix(np.array(metrics["confusion_matrix"]), out_dir / f"confusion_{split}.png")
        plots.roc(*roc_curve(probs[:, MASK_INDEX], labels == MASK_INDEX), metrics["roc_auc"], out_dir / f"roc_{split}.png")
        plots.reliability(reliability_bins(probs, labels), metrics["ece"], out_dir / f"reliability_{split}.png")
        wrong = np.nonzero(probs.argmax(axis=1) != labels)[0]
        plots.contact_sheet(
            images[wrong],
            [f"true {CLASS_NAMES[labels[i]]}\nP(mask) {probs[i, MASK_INDEX]:.2f}" for i in wrong],
            out_dir / f"misclassified_{split}.png",
        )
    return metrics


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m maskdet.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a .keras model file")
    parser.add_argument("--data", type=Path, required=True, help="folder with with_mask/ and without_mask/")
    parser.add_argument("--split", choices=("test", "val", "train"), default="test")
    parser.add_argument("--split-csv", type=Path, help="split file (default: split.csv next to the model)")
    parser.add_argument("--out", type=Path, help="folder for plots and metrics (default: next to the model)")
    parser.add_argument("--precision", choices=("float32", "bfloat16"), default="float32",
                        help="number format of the convolutional base (the app picks bfloat16 on CPUs with "
                             "native support; this checks that it keeps the metrics)")
    args = parser.parse_args(argv)
    split_csv = args.split_csv or args.model.with_name("split.csv")
    try:
        model = load_model(args.model)
        if not split_csv.is_file():
            raise DatasetError(f"split file not found: {split_csv} (pass --split-csv)")
        dataset = load_dataset(args.data, model_info(model).input_size, split_csv=split_csv)
        out_dir = args.out or args.model.parent / "evaluation"
        if args.precision != "float32" and not args.out:
            out_dir = out_dir / args.precision  # never overwrite the reference float32 figures
        metrics = evaluate_split(inference_copy(model, args.precision), dataset, args.split, out_dir)
    except (ModelFileError, DatasetError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    (out_dir / f"metrics_{args.split}.json").write_text(json.dumps(metrics, indent=2))
    print(json.dumps(metrics, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
