"""Does calibration carry over to places a model never saw? A check on held-out-source folds.

Each model's temperature is fitted on its own validation split, faces from sources it trained on.
New photos come from elsewhere, so the question is whether one extra temperature factor, fitted on
unseen sources, would make the probabilities more honest there. `crossval` answers it honestly:
each fold's factor is fitted on the *other* folds' held-out val images and applied to this fold's
held-out test images, and the test figures are compared with and without it.
"""

from __future__ import annotations

from typing import Mapping, NamedTuple

import numpy as np

from maskdet.config import WORN_WRONG_INDEX
from maskdet.evaluation.calibration import expected_calibration_error, fit_temperature, softmax
from maskdet.evaluation.metrics import TWO_WAY_COLUMNS, confident_error_rate


class Scores(NamedTuple):
    """One split of one fold: logits already divided by the fold model's own temperature."""
    logits: np.ndarray
    labels: np.ndarray
    sources: np.ndarray


FoldScores = Mapping[str, Mapping[str, Scores]]
"""fold name -> split ("val", "test") -> Scores."""


def pooled(folds: FoldScores, split: str) -> Scores:
    """One split of several folds, concatenated."""
    parts = [fold[split] for fold in folds.values()]
    return Scores(*(np.concatenate(column) for column in zip(*parts)))


def two_way_scores(scores: Scores) -> Scores:
    """The two-way output (mask against no mask) on the faces that wear a mask right or none: the
    decision the held-out tables report (fold models never learn the worn-wrong verdict)."""
    keep = scores.labels != WORN_WRONG_INDEX
    return Scores(scores.logits[keep][:, TWO_WAY_COLUMNS], scores.labels[keep], scores.sources[keep])


def calibration_figures(probs: np.ndarray, labels: np.ndarray, sources: np.ndarray) -> dict:
    """ECE and confident-error rate, pooled and per source."""
    names = sorted(set(sources.tolist()))
    return {
        "ece": expected_calibration_error(probs, labels),
        "confident_errors": confident_error_rate(probs, labels),
        "ece_per_source": {n: expected_calibration_error(probs[sources == n], labels[sources == n]) for n in names},
        "confident_errors_per_source": {n: confident_error_rate(probs[sources == n], labels[sources == n])
                                        for n in names},
    }


def unseen_temperature(folds: FoldScores) -> dict:
    """The factor fitted on every fold's held-out val images, and the held-out test figures before and
    after applying, to each fold, the factor fitted without it (leave one fold out); all for the
    two-way output."""
    folds = {name: {split: two_way_scores(s) for split, s in fold.items()} for name, fold in folds.items()}
    factors = {}
    for name in folds:
        others = {other: scores for other, scores in folds.items() if other != name}
        factors[name] = fit_temperature(*pooled(others, "val")[:2]) if others else 1.0
    test = pooled(folds, "test")
    rescaled = np.concatenate([softmax(folds[name]["test"].logits, factors[name]) for name in folds])
    return {
        "factor": fit_temperature(*pooled(folds, "val")[:2]),
        "leave_one_fold_out_factors": factors,
        "test_own_temperature": calibration_figures(softmax(test.logits), test.labels, test.sources),
        "test_with_factor": calibration_figures(rescaled, test.labels, test.sources),
    }


def summary_line(result: Mapping) -> str:
    """One line for the crossval printout."""
    before, after = result["test_own_temperature"], result["test_with_factor"]
    return (f"temperature factor fitted on unseen sources: {result['factor']:.2f}; on the held-out test images "
            f"(each fold's factor fitted without it) confident errors {before['confident_errors']:.2%} -> "
            f"{after['confident_errors']:.2%}, worst source ECE {max(before['ece_per_source'].values()):.1%} -> "
            f"{max(after['ece_per_source'].values()):.1%}")
