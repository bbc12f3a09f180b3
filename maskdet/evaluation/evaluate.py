"""Held-out evaluation: metrics overall and per source, a stress set, the Grad-CAM pointing game,
calibration and plots.

    python -m maskdet evaluate --model models/maskdet_vgg16.keras --data DIR [DIR...] [--split test]
        [--precision float32|bfloat16] [--no-stress] [--no-pointing]
        [--heatmap-layers NAME[:WEIGHT] ...] [--heatmap-weighting location|channel]

Sources listed in the model's split file are scored on their held-out split; sources it does not
list were never seen in training and are scored on the split a training run would give them.
For figures on sources held out from training *by design*, see maskdet.training.crossval.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence, get_args

import keras
import numpy as np

from maskdet.evaluation.calibration import choose_unsure_band, probability_matrix, expected_calibration_error, reliability_bins, softmax
from maskdet.evaluation.explanations import heatmap_sheet
from maskdet.evaluation.metrics import classification_metrics, roc_curve
from maskdet.config import CLASS_NAMES, HEATMAP_LAYERS, LOGITS_LAYER, MASK_INDEX
from maskdet.data.dataset import DatasetError, LoadedDataset, load_dataset
from maskdet.core.faces import CROP_SCALE
from maskdet.core.gradcam import GradCam, Weighting
from maskdet.core.model import ModelFileError, inference_copy, load_model, model_info
from maskdet.evaluation.pointing import pointing_game
from maskdet.data.recrop import optional_locator
from maskdet.evaluation.report import confusion_table, per_source_table
from maskdet.evaluation.stress import CONDITIONS, stress_images


def predict_logits(model: keras.Model, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Pre-softmax scores for a batch of images at the model's input size."""
    logits_model = keras.Model(model.input, model.get_layer(LOGITS_LAYER).output)
    return np.asarray(logits_model.predict(images, batch_size=batch_size, verbose=0), dtype=np.float64)


def evaluate_split(
    model: keras.Model, dataset: LoadedDataset, split: Optional[str], out_dir: Optional[Path] = None,
    logits: Optional[np.ndarray] = None,
) -> dict:
    """Metrics on one split (never the training split for reported results); plots into out_dir.
    `logits`: the model's logits for that split when already computed (see split_logits)."""
    images, labels = dataset.subset(split)
    split = split or "all"
    if len(labels) == 0:
        raise DatasetError(f"the '{split}' split is empty")
    info = model_info(model)
    logits = predict_logits(model, images) if logits is None else logits
    probs = softmax(logits, info.temperature)
    metrics = {"split": split, "precision": info.precision, "temperature": info.temperature,
               **classification_metrics(probs, labels)}
    metrics["ece_uncalibrated"] = expected_calibration_error(softmax(logits), labels)
    if out_dir is not None:
        from maskdet.evaluation import plots

        out_dir.mkdir(parents=True, exist_ok=True)
        plots.confusion_matrix(np.array(metrics["confusion_matrix"]), out_dir / f"confusion_{split}.png")
        plots.roc(*roc_curve(probs[:, MASK_INDEX], labels == MASK_INDEX), metrics["roc_auc"], out_dir / f"roc_{split}.png")
        plots.reliability(reliability_bins(probs, labels), metrics["ece"], out_dir / f"reliability_{split}.png")
        wrong = np.nonzero(probs.argmax(axis=1) != labels)[0]
        plots.contact_sheet(
            images[wrong],
            [f"true {CLASS_NAMES[labels[i]]}\nP(mask) {probs[i, MASK_INDEX]:.2f}" for i in wrong],
            out_dir / f"misclassified_{split}.png",
        )
    return metrics


def split_logits(model: keras.Model, dataset: LoadedDataset, split: Optional[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logits, true labels and source names of every image of `split` (one pass)."""
    index = dataset.indices(split)
    if len(index) == 0:
        raise DatasetError(f"the '{split}' split is empty")
    sources = np.array([dataset.sources[i] for i in index])
    return predict_logits(model, dataset.images[index]), dataset.labels[index], sources


def split_predictions(model: keras.Model, dataset: LoadedDataset, split: Optional[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Calibrated probabilities, true labels and source names of every image of `split` (one pass)."""
    logits, labels, sources = split_logits(model, dataset, split)
    return softmax(logits, model_info(model).temperature), labels, sources


def metrics_by_source(dataset: LoadedDataset, probs: np.ndarray, labels: np.ndarray,
                      sources: np.ndarray) -> dict[str, dict]:
    """Source name -> metrics of those predictions, with `seen_in_training` telling a held-out
    source from one the model was trained on."""
    return {name: {**classification_metrics(probs[sources == name], labels[sources == name]),
                   "seen_in_training": name in dataset.seen_sources}
            for name in dataset.source_names() if (sources == name).any()}


def per_source_metrics(model: keras.Model, dataset: LoadedDataset, split: str) -> dict[str, dict]:
    """Source name -> metrics on that source's part of `split` (one forward pass for all)."""
    return metrics_by_source(dataset, *split_predictions(model, dataset, split))


def stress_metrics(model: keras.Model, dataset: LoadedDataset, split: str) -> dict[str, dict]:
    """Condition -> metrics on every crop of `split` changed that way (see maskdet.evaluation.stress)."""
    images, labels = dataset.subset(split)
    temperature = model_info(model).temperature
    return {condition: classification_metrics(
                softmax(predict_logits(model, stress_images(images, condition)), temperature), labels)
            for condition in CONDITIONS}


def explain_split(model: keras.Model, dataset: LoadedDataset, split: Optional[str], out_dir: Path,
                  layers: Sequence[tuple[str, float]] = HEATMAP_LAYERS, weighting: Weighting = "location") -> dict:
    """The Grad-CAM pointing game (maskdet.evaluation.pointing) on the faces of `split` that have
    landmarks, with the heatmap made from `layers` (the app's by default), and the seeded contact
    sheet of heatmaps per class (heatmaps_<split>.png), from one float32 engine."""
    index = dataset.indices(split)
    engine = GradCam(inference_copy(model, "float32"), layers, weighting)
    images, labels, landmarks = dataset.images[index], dataset.labels[index], dataset.landmarks[index]
    heatmap_sheet(engine, images, labels, landmarks, out_dir / f"heatmaps_{split or 'all'}.png")
    return pointing_game(engine, images, labels, landmarks)


def layer_weight(text: str) -> tuple[str, float]:
    """"block5_conv3:0.8" -> ("block5_conv3", 0.8); a bare name weighs 1."""
    name, _, weight = text.partition(":")
    try:
        return name, float(weight or 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not NAME or NAME:WEIGHT: {text!r}") from None


def unsure_band_report(probs: np.ndarray, labels: np.ndarray) -> dict:
    """The "unsure" probability band chosen on validation predictions (maskdet.evaluation.calibration),
    with the share of faces inside it and the accuracy outside it. `probs`: (N, classes) or N mask
    probabilities."""
    probs = probability_matrix(probs)
    low, high = choose_unsure_band(probs, labels)
    inside = probs.max(axis=1) <= high
    correct = probs.argmax(axis=1) == labels
    return {"band": [low, high], "faces": int(len(labels)), "share_unsure": float(inside.mean()),
            "accuracy_outside": float(correct[~inside].mean()) if (~inside).any() else float("nan"),
            "accuracy_all": float(correct.mean())}


def markdown_report(metrics: dict) -> str:
    """The per-source, stress and pointing-game tables of a full evaluation."""
    seen = {name: m for name, m in metrics["per_source"].items() if m["seen_in_training"]}
    unseen = {name: m for name, m in metrics["per_source"].items() if not m["seen_in_training"]}
    parts = [f"## {metrics['split']} split, all sources\n", per_source_table({"all": metrics}, "")]
    if seen:
        parts += ["\n### sources the model was trained on (their held-out split)\n", per_source_table(seen)]
    if unseen:
        parts += ["\n### sources the model never saw\n", per_source_table(unseen)]
    parts += ["\n### confusion matrix (rows: true class, columns: predicted)\n",
              confusion_table(metrics["confusion_matrix"], CLASS_NAMES)]
    for name, source in metrics["per_source"].items():
        parts += [f"\n#### {name}\n", confusion_table(source["confusion_matrix"], CLASS_NAMES)]
    if "stress" in metrics:
        parts += ["\n### stress set\n", per_source_table(metrics["stress"], "condition")]
    if "pointing" in metrics:
        rows = [f"| {name} | {p['faces']} | {p['peak_on_nose_mouth']:.1%} | {p['left_out_no_landmarks']} |"
                for name, p in metrics["pointing"].items()]
        parts += ["\n### pointing game (Grad-CAM peak on the nose/mouth region)\n",
                  "| class | faces | peak on nose/mouth | left out (no landmarks) |", "|---|---|---|---|", *rows]
    return "\n".join(parts) + "\n"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="maskdet evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a .keras model file")
    parser.add_argument("--data", type=Path, nargs="+", required=True,
                        help="sources (folders with with_mask/ and/or without_mask/) or roots of sources; "
                             "sources missing from the split file are scored as never seen")
    parser.add_argument("--split", choices=("test", "val", "train", "all"), default="test",
                        help="which split to score; all: every image (only for sources or classes the model "
                             "never saw, e.g. real worn-wrong faces left out of training with --real-worn-wrong 0)")
    parser.add_argument("--sources", nargs="+", help="score only these sources (folder names)")
    parser.add_argument("--split-csv", type=Path, help="split file (default: split.csv next to the model)")
    parser.add_argument("--out", type=Path, help="folder for plots and metrics (default: next to the model)")
    parser.add_argument("--precision", choices=("float32", "bfloat16"), default="float32",
                        help="number format of the convolutional base (the app picks bfloat16 on CPUs with "
                             "native support; this checks that it keeps the metrics)")
    parser.add_argument("--recrop", action=argparse.BooleanOptionalAction, default=True,
                        help="crop images with the app's face detector, as training does (default on)")
    parser.add_argument("--crop-scale", type=float, default=CROP_SCALE, help="crop side / face box side")
    parser.add_argument("--detector", type=Path, help="YuNet .onnx file (default: as the app finds it)")
    parser.add_argument("--stress", action=argparse.BooleanOptionalAction, default=True,
                        help="also score the stress set (dark, backlit, blurred, low-res, grey, rotated)")
    parser.add_argument("--pointing", action=argparse.BooleanOptionalAction, default=True,
                        help="also play the Grad-CAM pointing game on faces with landmarks")
    parser.add_argument("--heatmap-layers", nargs="+", type=layer_weight, default=list(HEATMAP_LAYERS),
                        metavar="NAME[:WEIGHT]",
                        help="conv layers the pointing game's heatmaps fuse, each with its weight "
                             f"(default: the app's, {' '.join(f'{n}:{w:g}' for n, w in HEATMAP_LAYERS)})")
    parser.add_argument("--heatmap-weighting", choices=get_args(Weighting), default="location",
                        help="location: LayerCAM, the app's; channel: the original Grad-CAM")
    args = parser.parse_args(argv)
    split_csv = args.split_csv or args.model.with_name("split.csv")
    try:
        model = load_model(args.model)
        missing = {name for name, _ in args.heatmap_layers} - {layer.name for layer in model.layers}
        if args.pointing and missing:
            raise ModelFileError(f"the model has no layer named {', '.join(sorted(missing))}")
        if not split_csv.is_file():
            raise DatasetError(f"split file not found: {split_csv} (pass --split-csv)")
        dataset = load_dataset(args.data, model_info(model).input_size, split_csv=split_csv,
                               locator=optional_locator(args.recrop, args.detector), crop_scale=args.crop_scale,
                               both_classes=False, include=args.sources)
        split = None if args.split == "all" else args.split
        out_dir = args.out or args.model.parent / "evaluation"
        if args.precision != "float32" and not args.out:
            out_dir = out_dir / args.precision  # never overwrite the reference float32 figures
        served = inference_copy(model, args.precision)
        logits, labels, sources = split_logits(served, dataset, split)  # one forward pass serves both
        metrics = evaluate_split(served, dataset, split, out_dir, logits=logits)
        probs = softmax(logits, model_info(served).temperature)
        metrics["per_source"] = metrics_by_source(dataset, probs, labels, sources)
        if args.split == "val":
            metrics["unsure_band"] = unsure_band_report(probs, labels)
        if args.stress:
            metrics["stress"] = stress_metrics(served, dataset, split)
        if args.pointing:
            metrics["pointing"] = explain_split(model, dataset, split, out_dir, args.heatmap_layers,
                                                args.heatmap_weighting)
            metrics["pointing_heatmap"] = {"layers": args.heatmap_layers, "weighting": args.heatmap_weighting}
    except (ModelFileError, DatasetError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    (out_dir / f"metrics_{args.split}.json").write_text(json.dumps(metrics, indent=2))
    (out_dir / f"report_{args.split}.md").write_text(markdown_report(metrics))
    print(json.dumps(metrics, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
