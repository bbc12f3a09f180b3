"""A training run's files for --resume: the full state each epoch and the best model so far, each
written under a temporary name and renamed (a killed run never leaves a torn file)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Optional

import keras

from maskdet.core.model import save_model

CHECKPOINT = "checkpoint.keras"
BEST = "best.keras"
STATE = "state.json"


class SafeCheckpoint(keras.callbacks.Callback):
    """Each epoch: the full training state (for --resume) and, on a new best val loss, a clean model.
    Files are written under a temporary name and renamed, so a killed run never leaves a torn file."""

    def __init__(self, out_dir: Path, best_val_loss: float = math.inf) -> None:
        super().__init__()
        self.out_dir = out_dir
        self.best_val_loss = best_val_loss

    def on_epoch_end(self, epoch: int, logs: Optional[dict] = None) -> None:
        val_loss = float((logs or {}).get("val_loss", math.inf))
        if val_loss < self.best_val_loss:
            self.best_val_loss = val_loss
            save_model(self.model, self.out_dir / BEST)
        tmp = self.out_dir / ("tmp-" + CHECKPOINT)
        self.model.save(tmp)
        os.replace(tmp, self.out_dir / CHECKPOINT)
        state = {"next_epoch": epoch + 1, "best_val_loss": self.best_val_loss}
        (self.out_dir / STATE).write_text(json.dumps(state))


def read_state(out_dir: Path, resume: bool) -> dict:
    """{"next_epoch", "best_val_loss"}: the saved state of a run to resume, else a fresh one."""
    if resume:
        return json.loads((out_dir / STATE).read_text())
    return {"next_epoch": 0, "best_val_loss": math.inf}
