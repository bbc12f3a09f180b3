"""Held-out-source evaluation: train without some sources, test on them.

    python -m maskdet crossval --data DIR [DIR...] --out runs/cv [--fold NAME=SRC,SRC ...] -- [train options]

A split of one source cannot show whether the model learned the mask or that source's look. Each
fold trains the usual recipe (maskdet.training.train, same options for every fold) without its sources, then
scores the fold's model on those sources' val and test splits (the same per-source splits a full
run makes). Every source lies in exactly one fold, so each source gets a figure from a model that
never saw it. Folds that finished are kept (delete their folder to retrain); an interrupted fold
resumes from its checkpoint.

Choose recipes by the held-out *val* figures; report the *test* figures. The app's "unsure" band
is chosen on the held-out val images of all folds together (`unsure_band` in heldout.json), and
`unseen_temperature` says whether a temperature fitted on unseen sources would calibrate better
(maskdet.evaluation.temperature_transfer).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional

from maskdet.training import train
from maskdet.training.checkpoints import CHECKPOINT
from maskdet.training.recipe import face_locator, parse_args
from maskdet.data.dataset import DatasetError, load_dataset
from maskdet.evaluation.calibration import softmax
from maskdet.evaluation.evaluate import metrics_by_source, split_logits, unsure_band_report
from maskdet.evaluation.temperature_transfer import FoldScores, Scores, pooled, summary_line, unseen_temperature
from maskdet.core.model import ModelFileError, load_model, model_info
from maskdet.evaluation.report import per_source_table
from maskdet.data.sources import SourceError, discover_sources

DEFAULT_FOLDS = {
    "webcam": ("webcam", "yawning"),
    "wild": ("wild", "sunglasses"),
    "rmfd": ("rmfd", "utkface"),
    "celebrity": ("occlusion", "fm12k"),
    "expressions": ("fer2013", "expressions"),
}
"""Five folds over ten of the project's eleven sources. Video and car frames go together;
celebrity sources share people (CelebA and ROF/MFR2), so they are held out together; the two
greyscale expression sets go together. Four folds hold a source with both classes. `face-mask` is in
no fold: the shipped recipe starts from the model trained on it, so no model of the recipe is blind
to it (its figure is its own held-out split)."""
SPLITS = ("val", "test")


def parse_folds(specs: Optional[list[str]], sources: list[str]) -> dict[str, tuple[str, ...]]:
    """NAME=SRC,SRC specs; without any, DEFAULT_FOLDS when every source they name is there (the
    project's data: `face-mask` and `improper` are in no fold), else leave-one-source-out. Sources in
    no fold are always trained on."""
    if specs:
        folds = {}
        for spec in specs:
            name, _, members = spec.partition("=")
            if not name or not members:
                raise SourceError(f"--fold expects NAME=SOURCE[,SOURCE...], got {spec!r}")
            folds[name] = tuple(m for m in members.split(",") if m)
    elif {s for fold in DEFAULT_FOLDS.values() for s in fold} <= set(sources):
        folds = dict(DEFAULT_FOLDS)
    else:
        folds = {source: (source,) for source in sources}
    unknown = {s for fold in folds.values() for s in fold} - set(sources)
    if unknown:
        raise SourceError(f"fold names unknown source(s): {', '.join(sorted(unknown))}")
    return folds


def run_fold(name: str, held_out: tuple[str, ...], data: list[Path], out: Path, train_args: list[str]) -> Path:
    """Train one fold's model (or reuse / resume it); returns its model file."""
    fold_dir = out / name
    model_file = fold_dir / "model.keras"
    if model_file.is_file():
        print(f"fold {name}: reusing {model_file}", file=sys.stderr)
        return model_file
    argv = ["--data", *map(str, data), "--out", str(fold_dir), "--exclude-sources", *held_out, *train_args]
    if (fold_dir / CHECKPOINT).is_file():
        argv.append("--resume")
    print(f"fold {name}: training without {', '.join(held_out)}", file=sys.stderr, flush=True)
    code = train.main(argv)
    if code != 0:
        raise RuntimeError(f"training fold {name} failed (exit {code})")
    return model_file


def score_fold(model_file: Path, held_out: tuple[str, ...], data: list[Path],
               train_args: list[str]) -> tuple[dict, dict[str, Scores]]:
    """split -> source -> metrics of the fold's model on its held-out sources, cropped as in training;
    also each split's logits (divided by the model's temperature), labels and sources, for the
    checks made on all folds' unseen faces together."""
    options = parse_args(["--data", *map(str, data), *train_args])
    model = load_model(model_file)
    dataset = load_dataset(data, model_info(model).input_size, split_csv=model_file.with_name("split.csv"),
                           locator=face_locator(options), crop_scale=options.crop_scale, include=held_out,
                           both_classes=False)
    temperature = model_info(model).temperature
    scores = {}
    for split in SPLITS:
        logits, labels, sources = split_logits(model, dataset, split)
        scores[split] = Scores(logits / temperature, labels, sources)
    metrics = {split: metrics_by_source(dataset, softmax(s.logits), s.labels, s.sources) for split, s in scores.items()}
    return metrics, scores


def pooled_unsure_band(folds: FoldScores) -> dict:
    """The unsure band chosen on every fold's held-out val images together: how the models behave on
    sources they never saw, which is what the app meets (a model's own val split is too easy)."""
    val = pooled(folds, "val")
    return unsure_band_report(softmax(val.logits), val.labels)


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    train_args = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(prog="maskdet crossval", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, nargs="+", required=True, help="sources or roots of sources")
    parser.add_argument("--out", type=Path, default=Path("runs/cv"), help="one sub-folder per fold")
    parser.add_argument("--fold", action="append", help="NAME=SRC,SRC (repeat); default: see DEFAULT_FOLDS")
    parser.add_argument("--only", nargs="+", help="run only these folds")
    args = parser.parse_args(own)
    try:
        folds = parse_folds(args.fold, [s.name for s in discover_sources(args.data)])
        results, scores = {}, {}
        for name, held_out in folds.items():
            if args.only and name not in args.only:
                continue
            model_file = run_fold(name, held_out, args.data, args.out, train_args)
            metrics, scores[name] = score_fold(model_file, held_out, args.data, train_args)
            results[name] = {"held_out": list(held_out), **metrics}
    except (SourceError, DatasetError, ModelFileError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    band = pooled_unsure_band(scores) if scores else None
    temperature = unseen_temperature(scores) if scores else None
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "heldout.json").write_text(
        json.dumps({**results, "unsure_band": band, "unseen_temperature": temperature}, indent=2))
    pooled = {source: metrics for fold in results.values() for source, metrics in fold["test"].items()}
    print(per_source_table(pooled, title="held-out sources, test split"))
    if band:
        print(f"\nunsure band on the held-out val images: {band['band'][0]:.2f}-{band['band'][1]:.2f} "
              f"({band['share_unsure']:.1%} of {band['faces']} faces inside; accuracy outside "
              f"{band['accuracy_outside']:.1%}, overall {band['accuracy_all']:.1%})")
        print(summary_line(temperature))
    return 0


if __name__ == "__main__":
    sys.exit(main())
