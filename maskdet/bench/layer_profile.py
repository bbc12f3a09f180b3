"""Where one classify + Grad-CAM call spends its time, layer by layer, for one face and for a batch
of eight: oneDNN's own timing of each primitive it runs (`ONEDNN_VERBOSE`), against the wall time
of the whole call. It explains the T2 row: a ratio near 1 for a layer means one face already keeps
the cores busy there, so a batch cannot save on it.

    python -m maskdet bench --layers [--cpu-isa avx2] [--model PATH]

The timed calls run in a child process started with `ONEDNN_VERBOSE=1` (oneDNN reads it once);
this module is both that child (`python -m maskdet.bench.layer_profile MODEL`) and the parser of
what it prints.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MARK = "maskdet-layer-profile"
BATCH = 8
REPEATS = 15
LABEL_WIDTH = 72
PRIMITIVE_PREFIX = "onednn_verbose,v1,primitive,exec,"


@dataclass(frozen=True)
class Call:
    """One timed call: its batch size, wall time, and each oneDNN primitive's (label, ms) in order."""
    faces: int
    wall_ms: float
    primitives: tuple[tuple[str, float], ...]


def primitive_label(line: str) -> tuple[str, float]:
    """(short label, milliseconds) of one `onednn_verbose` exec line, e.g.
    ('convolution forward ic16oc32_ih64oh64kh3...', 0.18): kind, direction and the problem's shape
    without the batch size, so that one face and a batch share a label."""
    fields = line.split(",")
    kind, direction = fields[5], fields[7].replace("forward_training", "forward")
    return f"{kind} {direction} {_without_batch(kind, fields[-2])}", float(fields[-1])


def _without_batch(kind: str, shape: str) -> str:
    """oneDNN's shape text without the batch: 'mb8ic16...' and 'mb8_ic16...' for layers, a leading
    '8x' for the matrix products and softmax over the batch (weight reorders carry no batch)."""
    if shape.startswith("mb"):
        return shape[2:].lstrip("0123456789").lstrip("_")
    if kind in ("gemm_api", "softmax"):
        return shape.split("x", 1)[-1]
    return shape


def parse_calls(output: str) -> list[Call]:
    """The calls the child printed, each with the primitives that ran between its two marks."""
    calls, current = [], None
    for line in output.splitlines():
        if line.startswith(f"{MARK} start"):
            current = []
        elif line.startswith(f"{MARK} end") and current is not None:
            _, _, faces, wall = line.split()
            calls.append(Call(int(faces), float(wall), tuple(current)))
            current = None
        elif current is not None and line.startswith(PRIMITIVE_PREFIX):
            current.append(primitive_label(line))
    return calls


def median_profile(calls: list[Call], faces: int) -> tuple[float, dict[str, float]]:
    """(median wall ms, label -> median ms summed over that label's primitives in one call) over
    the calls of one batch size."""
    chosen = [call for call in calls if call.faces == faces]
    if not chosen:
        raise ValueError(f"no timed call with {faces} faces in the profile")
    per_label: dict[str, list[float]] = {}
    for call in chosen:
        sums: dict[str, float] = {}
        for label, ms in call.primitives:
            sums[label] = sums.get(label, 0.0) + ms
        for label, ms in sums.items():
            per_label.setdefault(label, []).append(ms)
    return (statistics.median(call.wall_ms for call in chosen),
            {label: statistics.median(values) for label, values in per_label.items()})


def render_profile(calls: list[Call], batch: int = BATCH) -> str:
    """The table: per label, ms for one face, ms per face in the batch, and their ratio; then the
    primitives' sum, the whole call and what lies outside oneDNN (TensorFlow's own ops and dispatch)."""
    wall_one, one = median_profile(calls, 1)
    wall_many, many = median_profile(calls, batch)
    header = f"{'oneDNN primitive (shape without the batch)':<{LABEL_WIDTH}} {'1 face ms':>9}"
    lines = [f"{header} {f'per face at {batch}':>14} {'ratio':>6}"]
    for label in dict.fromkeys([*one, *many]):
        lines.append(_row(label, one.get(label, 0.0), many.get(label, 0.0) / batch))
    inside_one, inside_many = sum(one.values()), sum(many.values()) / batch
    lines += [_row("all oneDNN primitives", inside_one, inside_many),
              _row("the whole call (wall)", wall_one, wall_many / batch),
              _row("outside oneDNN (wall - primitives)", wall_one - inside_one, wall_many / batch - inside_many)]
    return "\n".join(lines)


def _row(label: str, one_ms: float, per_face_ms: float) -> str:
    ratio = f"{per_face_ms / one_ms:6.3f}" if one_ms > 0 else f"{'-':>6}"
    return f"{label[:LABEL_WIDTH]:<{LABEL_WIDTH}} {one_ms:9.3f} {per_face_ms:14.3f} {ratio}"


def profile(model_path: Path, repeats: int = REPEATS) -> list[Call]:
    """Run the child with oneDNN's verbose timing on and parse its calls."""
    env = {**os.environ, "ONEDNN_VERBOSE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-m", "maskdet.bench.layer_profile", str(model_path), str(repeats)],
                            env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"layer profile failed: {result.stderr.strip()[-2000:]}")
    return parse_calls(result.stdout)


def _timed_calls(model_path: Path, repeats: int) -> None:
    """The child: the app's engine (frozen weights, its precision), one face and a batch, alternately."""
    from maskdet.core.predictor import Predictor, assume_frozen_weights

    assume_frozen_weights()
    engine = Predictor(model_path, use_detector=False).engine
    images = np.random.default_rng(0).uniform(0, 255, (BATCH, engine.input_size, engine.input_size, 3))
    images = images.astype(np.float32)
    for _ in range(3):
        engine.explain(images[:1]), engine.explain(images)
    for _ in range(repeats):
        for faces in (1, BATCH):
            print(f"{MARK} start {faces}", flush=True)
            start = time.perf_counter()
            engine.explain(images[:faces])
            print(f"{MARK} end {faces} {(time.perf_counter() - start) * 1000.0:.4f}", flush=True)


if __name__ == "__main__":
    _timed_calls(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else REPEATS)
