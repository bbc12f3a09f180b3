"""Teach a trained model one more class without moving the ones it has (`train --new-class-only`).

Only the new class's column of the logits layer is fitted, on the frozen network's `fc` features of
drawn training batches (composites and augmentation included). With the old logits held fixed this
is a multinomial logistic regression in one column: convex, solved to the optimum with L-BFGS.
The old classes' logits are untouched, so every decision between them is exactly the --init-from
model's: its two-class figures carry over, and the new class is the only change left to judge.
The drawn batches hold far more of the new class than life does, so its bias is then lowered until
at most `max_false_alarms` of the validation faces of the old classes are called the new one.
"""

from __future__ import annotations

import csv
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax

from maskdet.config import LOGITS_LAYER
from maskdet.core.model import model_info, save_model
from maskdet.training.checkpoints import BEST

FEATURES_LAYER = "fc"
L2_PENALTY = 1e-4
"""Weight decay on the new column, relative to the mean cross-entropy."""
MAX_FALSE_ALARMS = 0.015
"""Default share of validation faces of the old classes that may be called the new class."""


def drawn_features(model: keras.Model, batches: tf.data.Dataset, steps: int) -> tuple[np.ndarray, ...]:
    """(fc features, logits, labels) of `steps` drawn batches, the network in inference mode."""
    probe = keras.Model(model.input, [model.get_layer(FEATURES_LAYER).output, model.get_layer(LOGITS_LAYER).output])
    features, logits, labels = [], [], []
    for images, batch_labels in batches.take(steps):
        fc, raw = probe(images, training=False)
        features.append(np.asarray(fc, np.float64))
        logits.append(np.asarray(raw, np.float64))
        labels.append(np.asarray(batch_labels))
    return np.concatenate(features), np.concatenate(logits), np.concatenate(labels)


def fit_column(features: np.ndarray, fixed_logits: np.ndarray, labels: np.ndarray,
               l2: float = L2_PENALTY) -> tuple[np.ndarray, float, float]:
    """(weights, bias, mean loss) of one more logit, appended after `fixed_logits` (already divided
    by the temperature), that minimise the cross-entropy of the softmax over all of them."""
    new = fixed_logits.shape[1]
    is_new = (labels == new).astype(np.float64)
    fixed_term = fixed_logits[np.arange(len(labels)), np.minimum(labels, new - 1)] * (1 - is_new)

    def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        column = features @ theta[:-1] + theta[-1]
        every = np.concatenate([fixed_logits, column[:, None]], axis=1)
        loss = np.mean(logsumexp(every, axis=1) - fixed_term - column * is_new) + l2 * theta[:-1] @ theta[:-1]
        residual = softmax(every, axis=1)[:, new] - is_new
        gradient = np.append(features.T @ residual / len(labels) + 2 * l2 * theta[:-1], residual.mean())
        return float(loss), gradient

    start = np.zeros(features.shape[1] + 1)
    start[-1] = -2.0
    result = minimize(loss_and_gradient, start, jac=True, method="L-BFGS-B", options={"maxiter": 2000})
    return result.x[:-1], float(result.x[-1]), float(result.fun)


def bias_shift(margins: np.ndarray, max_false_alarms: float) -> float:
    """How far to lower the new logit (<= 0) so that at most `max_false_alarms` of the faces whose
    `margins` (new logit minus the best old one) are given stay below zero."""
    if len(margins) == 0:
        return 0.0
    return min(0.0, -float(np.quantile(margins, 1.0 - max_false_alarms)))


def add_new_class(model: keras.Model, batches: tf.data.Dataset, steps: int, out: Path,
                  validation: tuple[np.ndarray, np.ndarray], max_false_alarms: float = MAX_FALSE_ALARMS) -> dict:
    """Fit the logits column of the model's last class (the new one; the init model's column for it,
    if it had one, is replaced), set its bias on the `validation` (images, labels) faces of the other
    classes, and write out/best.keras and out/history.csv as a training run does. Returns what was
    fitted, for metrics.json."""
    old_classes = len(model_info(model).class_names) - 1
    features, logits, labels = drawn_features(model, batches, steps)
    temperature = model_info(model).temperature
    weights, bias, loss = fit_column(features, logits[:, :old_classes] / temperature, labels)
    layer = model.get_layer(LOGITS_LAYER)
    kernel, biases = layer.get_weights()
    kernel[:, old_classes], biases[old_classes] = weights * temperature, bias * temperature
    layer.set_weights([kernel, biases])
    images, val_labels = validation
    old = images[val_labels < old_classes]
    val_logits = (keras.Model(model.input, layer.output).predict(old, batch_size=64, verbose=0) if len(old)
                  else np.zeros((0, old_classes + 1)))  # no validation faces: the bias stays as fitted
    shift = bias_shift(val_logits[:, old_classes] - val_logits[:, :old_classes].max(axis=1), max_false_alarms)
    biases[old_classes] += shift
    layer.set_weights([kernel, biases])
    save_model(model, out / BEST)
    with open(out / "history.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", "loss", "images"])
        writer.writerow([0, f"{loss:.5f}", len(labels)])
    fitted = {"drawn_images": len(labels), "of_the_new_class": int((labels == old_classes).sum()),
              "loss": round(loss, 5), "bias_shift": round(shift, 4), "max_false_alarms": max_false_alarms,
              "validation_faces": len(old)}
    print(f"new class: {fitted}", flush=True)
    return fitted
