"""Speed benchmark: the product's path against a naive baseline, measured in one run.

    python -m maskdet bench [--quick] [--model PATH] [--detector PATH] [--repeats N] [--json OUT] [--no-live]
                            [--cpu-isa avx2]
    python -m maskdet bench --layers [--model PATH] [--cpu-isa avx2]

Every figure is a median over repeated runs after a warm-up. Targets are ratios measured in this
run (plus two absolute latencies: end-to-end and start-up); `--quick` is a smoke run for CI whose
PASS/FAIL column means nothing. Models: the shipped classifier and a full-width VGG16 at 224 px
with random weights (timing only). This module: the command line, and the order of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from maskdet.bench.app_rows import app_rows
from maskdet.bench.baseline import NaiveGradCam
from maskdet.bench.batching_rows import batching_rows
from maskdet.bench.layer_profile import profile, render_profile
from maskdet.bench.live import live_rows
from maskdet.bench.machine import CPU_ISA_LIMITS, busy_cpu_seconds, machine_facts, other_load_share, own_cpu_seconds
from maskdet.bench.model_rows import end_to_end_rows, grad_cam_rows, peak_row
from maskdet.bench.photos import group_photo, one_face_photo
from maskdet.bench.report import Report, render, to_json
from maskdet.core.faces import YUNET_ENV, DetectorUnavailableError
from maskdet.core.predictor import DEFAULT_MODEL_PATH, MODEL_ENV, Predictor
from maskdet.core.model import ModelFileError, build_model, inference_copy, load_model
from maskdet.core.numerics import PRECISION_ENV, PRECISIONS, PrecisionError

SMALL_MODEL_REPEATS = 4
"""The shipped model's figures take milliseconds: time them this many times more often."""


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="maskdet bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: few iterations, no meaningful timings")
    parser.add_argument("--model", type=Path, default=None,
                        help=f"shipped model (default ${MODEL_ENV} or {DEFAULT_MODEL_PATH})")
    parser.add_argument("--detector", type=Path, default=None, help=f"YuNet ONNX file (default ${YUNET_ENV})")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per figure (default 25, quick 3)")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT", help="also write the figures here")
    parser.add_argument("--no-app", action="store_true", help="skip the app start-up and throughput figures")
    parser.add_argument("--no-live", action="store_true", help="skip the live stream and video file figures")
    parser.add_argument("--memory-requests", type=int, default=200, metavar="N",
                        help="requests served before the second memory reading of T6 (default 200)")
    parser.add_argument("--precision", choices=PRECISIONS, default=None,
                        help=f"number format of the served model (default ${PRECISION_ENV}, then auto)")
    parser.add_argument("--cpu-isa", choices=sorted(CPU_ISA_LIMITS), default=None,
                        help="run as if the CPU stopped at this instruction set (avx2: no AVX-512, no native "
                             "bfloat16), to estimate figures for an older CPU on this one")
    parser.add_argument("--layers", action="store_true",
                        help="only profile one classify+Grad-CAM call layer by layer, one face against a batch "
                             "of eight (maskdet.bench.layer_profile): where T2's ratio comes from")
    return parser.parse_args(argv)


def resolve_model(args: argparse.Namespace) -> Path:
    """The classifier file, or SystemExit with a clear message."""
    model = Path(args.model or os.environ.get(MODEL_ENV) or DEFAULT_MODEL_PATH)
    if not model.is_file():
        raise SystemExit(f"error: model file not found: {model}. Train one or pass --model PATH "
                         "(e.g. --model runs/plain-w025-128/model.keras).")
    return model.resolve()


def resolve_inputs(args: argparse.Namespace) -> tuple[Path, Path]:
    """The model and detector files, or SystemExit with a clear message."""
    model = resolve_model(args)
    detector = args.detector or os.environ.get(YUNET_ENV)
    if not detector or not Path(detector).is_file():
        raise SystemExit(f"error: YuNet detector file not found ({detector or 'not set'}): pass --detector PATH "
                         f"or set {YUNET_ENV}.")
    return model, Path(detector).resolve()


def run(args: argparse.Namespace) -> Report:
    """Measure every figure; the app figures last (they start app.py as a subprocess)."""
    model_path, detector_path = resolve_inputs(args)
    reps = args.repeats or (3 if args.quick else 25)
    warm = 1 if args.quick else 3
    report = Report(machine_facts(), quick=args.quick)
    start = (time.time(), busy_cpu_seconds(), own_cpu_seconds())
    try:
        predictor = Predictor(model_path, detector_path, download_detector=False, precision=args.precision)
    except (ModelFileError, DetectorUnavailableError, PrecisionError) as err:
        raise SystemExit(f"error: {err}") from None
    predictor.warm_up()
    report.machine["shipped_model"] = str(model_path)
    report.machine["served_precision"] = predictor.engine.precision
    full = build_model(224, 1.0)
    full_forward_ms = grad_cam_rows(report, "full VGG16 224px", full, 1.3, reps, warm)
    shipped = load_model(model_path)
    precision = predictor.engine.precision
    grad_cam_rows(report, f"shipped model ({precision})", inference_copy(shipped, precision), 1.5,
                  reps * SMALL_MODEL_REPEATS, warm)
    full_rate = peak_row(report, full, full_forward_ms)
    with tempfile.TemporaryDirectory(prefix="maskdet-bench-") as tmp:
        photo, group = one_face_photo(Path(tmp)), group_photo(Path(tmp), predictor.detector)
        batching_rows(report, predictor, shipped, group, reps * SMALL_MODEL_REPEATS, warm, full_rate)
        end_to_end_rows(report, predictor, NaiveGradCam(shipped), photo, reps, warm)
        if not args.no_live:
            live_rows(report, predictor, model_path, detector_path, precision, args.quick, browser=not args.no_app)
        if not args.no_app:
            app_rows(report, model_path, detector_path, precision, photo, args.quick, args.memory_requests)
    report.other_load = other_load_share(start)
    report.machine["cpu_used_by_other_processes_during_run"] = f"{report.other_load:.0%} (should be ~0%)"
    return report


def limited_rerun(isa: str, argv: list[str]) -> Optional[int]:
    """With --cpu-isa, the kernels' instruction set is read from the environment when they first
    run: run this same command again in a process started with that environment (None when this
    process already has it)."""
    limits = CPU_ISA_LIMITS[isa]
    if all(os.environ.get(name) == value for name, value in limits.items()):
        return None
    return subprocess.call([sys.executable, "-m", "maskdet", "bench", *argv], env={**os.environ, **limits})


def main(argv: Optional[list[str]] = None) -> int:
    """Run, print the table, optionally save JSON; exit status 1 if a target fails (not in --quick)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.cpu_isa and (code := limited_rerun(args.cpu_isa, argv)) is not None:
        return code
    if args.layers:
        print(render_profile(profile(resolve_model(args))))
        return 0
    report = run(args)
    print(render(report))
    if args.json:
        args.json.write_text(json.dumps(to_json(report), indent=2))
    return 0 if args.quick or all(row.passed is not False for row in report.rows) else 1
