"""Markdown tables of evaluation results, for the terminal, README and the model card."""

from __future__ import annotations

import math
from typing import Mapping

COLUMNS = ("images", "accuracy", "recall no_mask", "recall mask", "ROC AUC", "ECE", "confident errors")


def _percent(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.1%}"


def metrics_row(name: str, metrics: Mapping) -> str:
    """One table row: accuracy, recall per class, AUC, ECE and confident errors of a metrics dict."""
    recall = metrics["per_class"]
    auc = metrics["roc_auc"]
    cells = [name, str(metrics["n_images"]), _percent(metrics["accuracy"]), _percent(recall["no_mask"]["recall"]),
             _percent(recall["mask"]["recall"]), "–" if math.isnan(auc) else f"{auc:.3f}",
             _percent(metrics["ece"]), _percent(metrics.get("confident_errors", float("nan")))]
    return "| " + " | ".join(cells) + " |"


def per_source_table(by_source: Mapping[str, Mapping], title: str = "source") -> str:
    """A markdown table with one row per source (and per stress condition, or anything keyed)."""
    header = f"| {title} | " + " | ".join(COLUMNS) + " |"
    rule = "|" + "---|" * (len(COLUMNS) + 1)
    return "\n".join([header, rule] + [metrics_row(name, metrics) for name, metrics in by_source.items()])
