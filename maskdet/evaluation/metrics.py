"""Classification metrics for held-out predictions, for two- and three-class models alike.

Accuracy, per-class precision/recall/F1 and the 3x3 confusion matrix (rows: true no_mask, mask,
worn_wrong; a two-class model's worn_wrong column stays empty), ROC AUC of mask against the rest,
ECE, and confident errors (wrong with probability >= CONFIDENT), the errors a user is most likely to
trust. Faces worn wrong get their own figures: how many are found, how many are called "mask".
The counting and curves are scikit-learn's; this module only says which figures a report needs.
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics as sk

from maskdet.config import CLASS_NAMES, MASK_INDEX, WORN_WRONG_INDEX
from maskdet.evaluation.calibration import expected_calibration_error

CONFIDENT = 0.9
CLASS_INDICES = list(range(len(CLASS_NAMES)))
TWO_WAY_COLUMNS = [CLASS_NAMES.index("no_mask"), MASK_INDEX]
"""The two-neuron output's columns (no mask, mask), in that order."""


def classification_metrics(probs: np.ndarray, labels: np.ndarray) -> dict:
    """Every figure of one set of predictions (`probs` (N, classes of the model), true `labels`)."""
    labels = np.asarray(labels, dtype=int)
    predicted = probs.argmax(axis=1) if len(probs) else np.zeros(0, int)
    matrix = sk.confusion_matrix(labels, predicted, labels=CLASS_INDICES)
    precision, recall, f1, support = sk.precision_recall_fscore_support(
        labels, predicted, labels=CLASS_INDICES, zero_division=np.nan)
    per_class = {name: {"precision": float(precision[i]), "recall": float(recall[i]) if support[i] else float("nan"),
                        "f1": float(f1[i]), "support": int(support[i])}
                 for i, name in enumerate(CLASS_NAMES) if i < probs.shape[1] or support[i]}
    return {
        "n_images": int(len(labels)),
        "accuracy": float((predicted == labels).mean()) if len(labels) else float("nan"),
        "accuracy_mask_vs_no_mask": mask_vs_no_mask_accuracy(predicted, labels),
        "accuracy_two_way": two_way_accuracy(probs, labels),
        "per_class": per_class,
        "worn_wrong_called_mask": worn_wrong_called_mask(predicted, labels),
        "roc_auc": roc_auc(probs[:, MASK_INDEX], labels == MASK_INDEX) if len(labels) else float("nan"),
        "ece": expected_calibration_error(probs, labels),
        "confident_errors": confident_error_rate(probs, labels),
        "confusion_matrix": matrix.tolist(),
        "confusion_matrix_axes": "rows = true class, columns = predicted class, order " + str(list(CLASS_NAMES)),
    }


def mask_vs_no_mask_accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy on the faces that truly wear a mask right or none: the two-class figure, comparable
    across two- and three-class models (a three-class model calling one of them worn wrong is wrong)."""
    kept = labels != WORN_WRONG_INDEX
    return float((predicted[kept] == labels[kept]).mean()) if kept.any() else float("nan")


def two_way_accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy of the two-way decision alone (mask or no mask, whichever of the two is likelier) on
    the faces that wear a mask right or none: the contract of the two-neuron output that API users
    read, unaffected by worn-wrong calls."""
    kept = np.asarray(labels) != WORN_WRONG_INDEX
    if not kept.any():
        return float("nan")
    two = np.array(TWO_WAY_COLUMNS)
    chosen = two[probs[kept][:, two].argmax(axis=1)]
    return float((chosen == np.asarray(labels)[kept]).mean())


def worn_wrong_called_mask(predicted: np.ndarray, labels: np.ndarray) -> float:
    """Share of faces with a mask worn wrong that get "mask": the error that matters most where
    masks are required."""
    worn = labels == WORN_WRONG_INDEX
    return float((predicted[worn] == MASK_INDEX).mean()) if worn.any() else float("nan")


def roc_auc(scores: np.ndarray, positives: np.ndarray) -> float:
    """Area under the ROC curve; NaN when only one side is present."""
    positives = np.asarray(positives, bool)
    if positives.all() or not positives.any():
        return float("nan")
    return float(sk.roc_auc_score(positives, scores))


def roc_curve(scores: np.ndarray, positives: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rates, true positive rates) over every threshold."""
    fpr, tpr, _ = sk.roc_curve(np.asarray(positives, bool), scores)
    return fpr, tpr


def confident_error_rate(probs: np.ndarray, labels: np.ndarray, confident: float = CONFIDENT) -> float:
    """Share of all images that are wrong with a probability of at least `confident`."""
    if len(labels) == 0:
        return float("nan")
    wrong = probs.argmax(axis=1) != labels
    return float((wrong & (probs.max(axis=1) >= confident)).mean())
