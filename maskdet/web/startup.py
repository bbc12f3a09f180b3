"""Starting the web app's process: start-up stamps for the benchmark, and the model loaded once."""

from __future__ import annotations

import os
import sys
import time

from maskdet.config import STARTUP_LOG_ENV, STARTUP_PREFIX
from maskdet.core.model import ModelFileError
from maskdet.core.numerics import PrecisionError
from maskdet.core.predictor import Predictor, assume_frozen_weights


def startup_mark(stage: str) -> None:
    """With MASKDET_STARTUP_LOG set, print a wall-clock stamp per start-up stage (read by maskdet.bench)."""
    if os.environ.get(STARTUP_LOG_ENV):
        print(f"{STARTUP_PREFIX} {stage} {time.time():.3f}", flush=True)


def load_predictor() -> Predictor:
    """Load and warm up the model once per process; a bad model file stops start-up with its name."""
    assume_frozen_weights()
    try:
        predictor = Predictor()
    except (ModelFileError, PrecisionError) as err:
        raise SystemExit(f"error: {err}") from None
    print(f"maskdet: classifier computes in {predictor.engine.precision}", file=sys.stderr)
    startup_mark("model_load")
    predictor.warm_up()
    startup_mark("warm_up")
    if predictor.detector_problem:
        print(f"warning: {predictor.detector_problem}; whole images will be classified", file=sys.stderr)
    return predictor
