"""Markdown tables of evaluation results, for the terminal, README and the model card."""

from __future__ import annotations

import math
from typing import Mapping

COLUMNS = ("images", "accuracy", "mask vs no mask", "two-way output", "recall no_mask", "recall mask",
           "recall worn_wrong", "worn wrong called mask", "ROC AUC", "ECE", "confident errors")


def percent(value: float) -> str:
    """A share as a table cell: one decimal, or a dash for a missing figure."""
    return "–" if value is None or math.isnan(value) else f"{value:.1%}"


def metrics_row(name: str, metrics: Mapping) -> str:
    """One table row: accuracy (all classes; mask vs no mask alone, as the verdict and as the two-way
    output's decision), recall per class, how often a mask worn wrong is called "mask", AUC, ECE and
    confident errors of a metrics dict."""
    recall = {name: figures["recall"] for name, figures in metrics["per_class"].items()}
    auc = metrics["roc_auc"]
    cells = [name, str(metrics["n_images"]), percent(metrics["accuracy"]),
             percent(metrics.get("accuracy_mask_vs_no_mask", float("nan"))),
             percent(metrics.get("accuracy_two_way", float("nan"))),
             *(percent(recall.get(cls, float("nan"))) for cls in ("no_mask", "mask", "worn_wrong")),
             percent(metrics.get("worn_wrong_called_mask", float("nan"))),
             "–" if math.isnan(auc) else f"{auc:.3f}", percent(metrics["ece"]),
             percent(metrics.get("confident_errors", float("nan")))]
    return "| " + " | ".join(cells) + " |"


def per_source_table(by_source: Mapping[str, Mapping], title: str = "source") -> str:
    """A markdown table with one row per source (and per stress condition, or anything keyed)."""
    header = f"| {title} | " + " | ".join(COLUMNS) + " |"
    rule = "|" + "---|" * (len(COLUMNS) + 1)
    return "\n".join([header, rule] + [metrics_row(name, metrics) for name, metrics in by_source.items()])


def confusion_table(matrix: list[list[int]], class_names: tuple[str, ...]) -> str:
    """A confusion matrix as markdown: rows the true class, columns the predicted one."""
    header = "| true \\ predicted | " + " | ".join(class_names) + " |"
    rule = "|" + "---|" * (len(class_names) + 1)
    rows = [f"| {name} | " + " | ".join(str(v) for v in row) + " |" for name, row in zip(class_names, matrix)]
    return "\n".join([header, rule, *rows])
