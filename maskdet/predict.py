"""Classify every face in images, folders or video files from the command line.

    python -m maskdet predict PATH... [--json] [--out DIR] [--no-cam] [--whole-image]

A video (.mp4, .webm, .mov, ...) is analysed frame by frame (maskdet.video.analysis) with a progress
bar; with --out it gets an annotated MP4, its per-frame JSON and CSV and a chart.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Iterable, Optional

import cv2
import numpy as np
from tqdm import tqdm

from maskdet.config import IMAGE_EXTENSIONS
from maskdet.core.faces import DEFAULT_THRESHOLD
from maskdet.core.images import ImageError
from maskdet.core.predictor import Prediction, Predictor, assume_frozen_weights
from maskdet.core.model import ModelFileError
from maskdet.core.numerics import PRECISION_ENV, PRECISIONS, PrecisionError
from maskdet.video.files import CLI_LIMITS, VIDEO_EXTENSIONS, VideoError
from maskdet.video.analysis import SAMPLE_FPS, analyse_video


def expand_inputs(paths: Iterable[Path]) -> list[Path]:
    """Files as given (whatever their extension) plus image files found inside folders."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        else:
            files.append(path)
    return files


def save_outputs(prediction: Prediction, source: Path, out_dir: Path, index: int) -> None:
    """Write the annotated image, the photo with every face's heatmap in place, and one Grad-CAM
    overlay per face, prefixed to stay unique."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{index:04d}_{source.stem}"
    _write_rgb(out_dir / f"{stem}_annotated.jpg", prediction.annotated())
    if any(face.heatmap is not None for face in prediction.faces):
        _write_rgb(out_dir / f"{stem}_heatmaps.jpg", prediction.annotated(heatmaps_on_photo=True))
    for face_number, (overlay, _) in enumerate(prediction.overlays(), start=1):
        _write_rgb(out_dir / f"{stem}_face{face_number}_gradcam.jpg", overlay)


def _write_rgb(path: Path, image: np.ndarray) -> None:
    ok, encoded = cv2.imencode(path.suffix, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"could not encode {path}")
    path.write_bytes(encoded.tobytes())


def run(predictor: Predictor, files: list[Path], args: argparse.Namespace) -> list[dict]:
    """One record per file; a bad file gets an `error` and the run goes on."""
    records = []
    for index, path in enumerate(tqdm(files, disable=len(files) < 2, unit="file", file=sys.stderr)):
        if is_video(path) and not args.whole_image:
            records.append(run_video(predictor, path, args, index))
            continue
        record: dict = {"file": str(path), "faces": [], "whole_image": False, "notes": [], "error": None}
        try:
            prediction = predictor.predict(path, args.threshold, explain=not args.no_cam,
                                           whole_image=args.whole_image)
            record.update(faces=prediction.summary()["faces"], whole_image=prediction.whole_image,
                          notes=prediction.notes)
            if args.out:
                save_outputs(prediction, path, args.out, index)
            if not args.json:
                tqdm.write(f"{path}: {prediction.headline()}", file=sys.stdout)
        except (ImageError, OSError) as err:
            record["error"] = str(err)
            if not args.json:
                tqdm.write(f"{path}: error: {err}", file=sys.stderr)
        records.append(record)
    return records


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS


def run_video(predictor: Predictor, path: Path, args: argparse.Namespace, index: int) -> dict:
    """One video: per-frame results (and, with --out, the annotated video, JSON, CSV and chart)."""
    record: dict = {"file": str(path), "video": None, "frames": [], "notes": [], "error": None}
    with tempfile.TemporaryDirectory(prefix="maskdet-video-") as scratch:
        out = args.out or Path(scratch)
        try:
            with tqdm(unit="frame", file=sys.stderr, desc=path.name, leave=False) as bar:
                result = analyse_video(predictor, path, out, CLI_LIMITS, args.fps, args.threshold,
                                       heatmaps=not args.no_cam and args.video_heatmaps,
                                       progress=lambda done, total: _advance(bar, done, total),
                                       name=f"{index:04d}_{path.name}" if args.out else None)
        except (VideoError, OSError) as err:
            record["error"] = str(err)
            if not args.json:
                tqdm.write(f"{path}: error: {err}", file=sys.stderr)
            return record
    summary = result.summary()
    record.update(video=summary["video"], frames=summary["frames"], notes=result.notes,
                  headline=result.headline())
    if not args.json:
        tqdm.write(f"{path}: {result.headline()}", file=sys.stdout)
        if args.out:
            tqdm.write(f"  wrote {result.video_path}, {result.json_path.name}, {result.csv_path.name}, "
                       f"{result.chart_path.name}", file=sys.stdout)
    return record


def _advance(bar: tqdm, done: int, total: Optional[int]) -> None:
    bar.total = total
    bar.update(done - bar.n)


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="maskdet predict", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path, help="image files, folders (their images) or video files")
    parser.add_argument("--json", action="store_true", help="print one JSON array to stdout")
    parser.add_argument("--out", type=Path, help="write annotated images and heatmaps here")
    parser.add_argument("--no-cam", action="store_true", help="skip Grad-CAM (faster)")
    parser.add_argument("--whole-image", action="store_true",
                        help="no detection: each image is one cropped face and gets a verdict")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help=f"lowest face detection score considered (default {DEFAULT_THRESHOLD})")
    parser.add_argument("--fps", type=float, default=SAMPLE_FPS,
                        help=f"videos: frames analysed per second at most (default {SAMPLE_FPS:g})")
    parser.add_argument("--video-heatmaps", action="store_true",
                        help="videos: draw each face's Grad-CAM heatmap in the annotated video (slower)")
    parser.add_argument("--model", type=Path, help="a .keras model (default: the shipped model)")
    parser.add_argument("--detector", type=Path, help="YuNet .onnx file (default: see README)")
    parser.add_argument("--precision", choices=PRECISIONS, default=None,
                        help=f"number format of the classifier (default ${PRECISION_ENV}, then auto)")
    return parser.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    files = expand_inputs(args.paths)
    if not files:
        print("error: no image files found in the given paths", file=sys.stderr)
        return 2
    try:
        predictor = Predictor(args.model, args.detector, use_detector=not args.whole_image,
                              precision=args.precision)
    except (ModelFileError, PrecisionError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if predictor.detector_problem and not args.whole_image:
        print(f"warning: {predictor.detector_problem}; no faces can be found (use --whole-image for "
              "photos that are one cropped face)", file=sys.stderr)
    records = run(predictor, files, args)
    if args.json:
        print(json.dumps(records, indent=2))
    return 1 if all(record["error"] for record in records) else 0


def command(argv: Optional[list[str]] = None) -> int:
    """`maskdet predict`: main() with the app's runtime setting."""
    assume_frozen_weights()  # only as a command: a test process importing main() may also train
    return main(argv)


if __name__ == "__main__":
    sys.exit(command())
