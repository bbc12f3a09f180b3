"""Classification metrics for held-out predictions: accuracy, recall per class, ROC AUC, ECE and
confident errors (wrong with probability >= CONFIDENT), the errors a user is most likely to trust."""

from __future__ import annotations

import numpy as np

from maskdet.evaluation.calibration import expected_calibration_error
from maskdet.config import CLASS_NAMES, MASK_INDEX

CONFIDENT = 0.9


def classification_metrics(probs: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy, per-class precision/recall/F1, ROC AUC, ECE and the confusion matrix."""
    predicted = probs.argmax(axis=1)
    matrix = np.zeros((len(CLASS_NAMES), len(CLASS_NAMES)), dtype=int)
    np.add.at(matrix, (labels, predicted), 1)
    per_class = {}
    for index, name in enumerate(CLASS_NAMES):
        true_pos = matrix[index, index]
        precision = true_pos / max(matrix[:, index].sum(), 1)
        recall = true_pos / matrix[index, :].sum() if matrix[index, :].sum() else float("nan")
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
        "confident_errors": confident_error_rate(probs, labels),
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


def confident_error_rate(probs: np.ndarray, labels: np.ndarray, confident: float = CONFIDENT) -> float:
    """Share of all images that are wrong with a probability of at least `confident`."""
    if len(labels) == 0:
        return float("nan")
    wrong = probs.argmax(axis=1) != labels
    return float((wrong & (probs.max(axis=1) >= confident)).mean())
