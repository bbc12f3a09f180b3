"""Probability calibration: expected calibration error and temperature scaling."""

from __future__ import annotations

import numpy as np

ECE_BINS = 15


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    scaled = logits / temperature
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def reliability_bins(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS):
    """Per confidence bin: (mean confidence, accuracy, count) of the predicted class."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    rows = []
    for b in range(bins):
        members = which == b
        if members.any():
            rows.append((float(confidence[members].mean()), float(correct[members].mean()), int(members.sum())))
        else:
            rows.append((float((edges[b] + edges[b + 1]) / 2), float("nan"), 0))
    return rows


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Count-weighted mean |accuracy - confidence| over confidence bins."""
    rows = reliability_bins(probs, labels, bins)
    total = sum(count for _, _, count in rows)
    return float(sum(count * abs(acc - conf) for conf, acc, count in rows if count) / max(total, 1))


def negative_log_likelihood(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    probs = softmax(logits, temperature)
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, None))))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature in [0.05, 20] that minimises NLL (a fine log grid is exact enough here)."""
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 400))
    losses = [negative_log_likelihood(logits, labels, t) for t in grid]
    return float(grid[int(np.argmin(losses))])


UNSURE_TARGET_ACCURACY = 0.98
UNSURE_MAX_SHARE = 0.10


def probability_matrix(probs: np.ndarray) -> np.ndarray:
    """(N, classes) probabilities; a 1-D array of mask probabilities becomes [1 - p, p]."""
    probs = np.asarray(probs, np.float64)
    return np.stack([1.0 - probs, probs], axis=1) if probs.ndim == 1 else probs


def choose_unsure_band(probs: np.ndarray, labels: np.ndarray, target_accuracy: float = UNSURE_TARGET_ACCURACY,
                       max_share: float = UNSURE_MAX_SHARE) -> tuple[float, float]:
    """The narrowest band around 0.5 (in steps of 0.01) outside which verdicts are right at least
    `target_accuracy` of the time, widened no further than `max_share` of faces falling inside it.
    A face is outside when its most likely class has a probability above the band's top (for two
    classes: its mask probability lies outside the band). `probs`: (N, classes), or N mask
    probabilities. Chosen on validation data; faces inside the band are shown as "unsure"."""
    probs = probability_matrix(probs)
    distance = probs.max(axis=1) - 0.5
    correct = probs.argmax(axis=1) == labels
    chosen = 0.0
    for half in np.arange(0.0, 0.5, 0.01):
        outside = distance > half
        if 1.0 - outside.mean() > max_share:
            break
        chosen = half
        if correct[outside].mean() >= target_accuracy:
            break
    return round(0.5 - chosen, 2), round(0.5 + chosen, 2)
