"""Starting the web app's process: start-up stamps for the benchmark, and the model loaded once."""

from __future__ import annotations

import ctypes
import os
import sys
import time

from maskdet.config import STARTUP_LOG_ENV, STARTUP_PREFIX
from maskdet.core.model import ModelFileError
from maskdet.core.numerics import PrecisionError
from maskdet.core.predictor import Predictor, assume_frozen_weights

MALLOC_ARENAS = 2
"""glibc's malloc arenas the serving process may use (see limit_malloc_arenas)."""
M_ARENA_MAX = -8
"""glibc's mallopt() parameter number for the arena limit (malloc.h)."""


def startup_mark(stage: str) -> None:
    """With MASKDET_STARTUP_LOG set, print a wall-clock stamp per start-up stage (read by maskdet.bench)."""
    if os.environ.get(STARTUP_LOG_ENV):
        print(f"{STARTUP_PREFIX} {stage} {time.time():.3f}", flush=True)


def limit_malloc_arenas(count: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas, as MALLOC_ARENA_MAX would. glibc gives threads that allocate at
    once arenas of their own, up to eight per core, and memory freed in one arena is not reused by
    another. The server's worker threads then grow its resident memory request after request
    (bench T6). Call before those threads start. An explicit MALLOC_ARENA_MAX wins; off glibc this
    does nothing. Returns whether the cap was set."""
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(M_ARENA_MAX, count))


def load_predictor() -> Predictor:
    """Load and warm up the model once per process; a bad model file stops start-up with its name."""
    limit_malloc_arenas()
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
