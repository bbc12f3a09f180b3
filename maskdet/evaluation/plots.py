"""PNG figures for training and evaluation (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay, RocCurveDisplay  # noqa: E402

from maskdet.config import CLASS_NAMES  # noqa: E402


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def confusion_matrix(matrix: np.ndarray, path: Path) -> None:
    """The confusion matrix as counts (rows: true class, columns: predicted class)."""
    fig, ax = plt.subplots(figsize=(4.6, 4.0))
    ConfusionMatrixDisplay(matrix, display_labels=CLASS_NAMES[:len(matrix)]).plot(
        ax=ax, cmap="Blues", colorbar=False, values_format="d")
    _save(fig, path)


def roc(fpr: np.ndarray, tpr: np.ndarray, auc: float, path: Path) -> None:
    """ROC of mask against the other classes."""
    fig, ax = plt.subplots(figsize=(4, 4))
    RocCurveDisplay(fpr=fpr, tpr=tpr, roc_auc=auc).plot(ax=ax, name="mask vs rest")
    ax.plot([0, 1], [0, 1], "--", color="grey")
    ax.set(xlabel="false positive rate (others called mask)", ylabel="true positive rate (mask)")
    _save(fig, path)


def reliability(rows: Sequence[tuple[float, float, int]], ece: float, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(4, 4))
    filled = [(conf, acc) for conf, acc, count in rows if count]
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    if filled:
        ax.plot(*zip(*filled), "o-", label=f"model (ECE = {ece:.2%})")
    ax.set(xlabel="confidence", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left")
    _save(fig, path)


def contact_sheet(images: np.ndarray, captions: Sequence[str], path: Path, columns: int = 8) -> None:
    rows = max(1, -(-len(images) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.4, rows * 1.7), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, caption in zip(axes.flat, images, captions):
        ax.imshow(image)
        ax.set_title(caption, fontsize=6)
    if not len(images):
        axes.flat[0].text(0.5, 0.5, "no misclassified images", ha="center")
    _save(fig, path)


def training_curves(history: dict[str, list[float]], path: Path) -> None:
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(8, 3.2))
    for key, ax in (("loss", loss_ax), ("accuracy", acc_ax)):
        for prefix in ("", "val_"):
            if history.get(prefix + key):
                ax.plot(range(1, len(history[prefix + key]) + 1), history[prefix + key], label=prefix + key)
        ax.set(xlabel="epoch", title=key)
        if ax.lines:
            ax.legend()
    _save(fig, path)
