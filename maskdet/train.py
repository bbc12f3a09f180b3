"""Train the mask classifier on a folder with `with_mask/` and `without_mask/`.

    python -m maskdet.train --data DIR [--weights imagenet|none|PATH] [--out runs/train]

With pretrained weights: stage 1 trains a new head on cached features of the frozen base, stage 2
fine-tunes block5 at a low learning rate. Without: the whole VGG16 topology trains from scratch
(default width 1/4 at 128 px, which converges on a 2-core CPU).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from maskdet.calibration import expected_calibration_error, fit_temperature, softmax
from maskdet.data import DEFAULT_FRACTIONS, DatasetError, LoadedDataset, load_dataset, write_split_csv
from maskdet.evaluate import evaluate_split, predict_logits
from maskdet.model import (
    BASE_OUTPUT_LAYER, WeightsUnavailableError, build_model, model_info, save_model,
    set_base_trainable, set_temperature,
)

CHECKPOINT = "checkpoint.keras"
BEST = "best.keras"
STATE = "state.json"


def augmentation(seed: int) -> keras.Sequential:
    """Label-preserving changes applied to training batches only. Zooming in by up to 30% hides
    the background and greyscale copies hide colour: both otherwise let the model tell the classes
    apart by photo style rather than by the mask."""
    return keras.Sequential([
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandomRotation(0.05, fill_mode="nearest", seed=seed),
        keras.layers.RandomZoom((-0.3, 0.1), fill_mode="nearest", seed=seed),
        keras.layers.RandomTranslation(0.08, 0.08, fill_mode="nearest", seed=seed),
        keras.layers.RandomBrightness(0.1, value_range=(0, 255), seed=seed),
        keras.layers.RandomContrast(0.1, value_range=(0, 255), seed=seed),
        keras.layers.RandomGrayscale(0.15, seed=seed),
    ], name="augmentation")


def random_low_resolution(images: tf.Tensor, probability: float = 0.5, smallest: float = 0.25) -> tf.Tensor:
    """With `probability`, shrink the batch to a random 25-100% of its size and scale it back, so
    image sharpness (small faces, screenshots) is not a cue for the label."""
    size = tf.shape(images)[1:3]
    scale = tf.random.uniform([], smallest, 1.0)
    small = tf.maximum(tf.cast(tf.cast(size, tf.float32) * scale, tf.int32), 8)
    degraded = tf.image.resize(tf.image.resize(images, small, antialias=True), size)
    return tf.cond(tf.random.uniform([]) < probability, lambda: degraded, lambda: images)


def make_batches(images: np.ndarray, labels: np.ndarray, batch_size: int, seed: int,
                 augment: Optional[keras.Sequential] = None) -> tf.data.Dataset:
    """A tf.data pipeline; shuffled and augmented when `augment` is given (training)."""
    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    if augment is not None:
        ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(lambda x, y: (tf.cast(x, tf.float32), y))
    if augment is not None:
        ds = ds.map(lambda x, y: (random_low_resolution(augment(x, training=True)), y),
                    num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


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


def train_head_on_cached_features(model: keras.Model, train: tuple, val: tuple, args) -> None:
    """Stage 1: one forward pass of the frozen base per image, then fit only the head."""
    extractor = keras.Model(model.input, model.get_layer(BASE_OUTPUT_LAYER).output)
    features = [extractor.predict(x, batch_size=args.batch_size, verbose=0) for x in (train[0], val[0])]
    head_input = keras.Input(features[0].shape[1:])
    x = head_input
    for name in ("avg_pool", "fc", "dropout", "logits", "probs"):
        x = model.get_layer(name)(x)
    head = keras.Model(head_input, x)
    head.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    head.fit(features[0], train[1], validation_data=(features[1], val[1]), batch_size=args.batch_size,
             epochs=args.head_epochs, verbose=_verbosity(),
             callbacks=[keras.callbacks.EarlyStopping(patience=3, restore_best_weights=True)])


def _verbosity() -> int:
    return 1 if sys.stdout.isatty() else 2


def calibrate(model: keras.Model, dataset: LoadedDataset) -> dict:
    """Fit a temperature on the validation split; keep it only if it lowers the validation ECE."""
    images, labels = dataset.subset("val")
    logits = predict_logits(model, images)
    before = expected_calibration_error(softmax(logits), labels)
    temperature = fit_temperature(logits, labels)
    after = expected_calibration_error(softmax(logits, temperature), labels)
    kept = after < before
    set_temperature(model, temperature if kept else 1.0)
    return {"fitted_temperature": temperature, "val_ece_before": before, "val_ece_after": after, "kept": kept}


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m maskdet.train", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with with_mask/ and without_mask/")
    parser.add_argument("--out", type=Path, default=Path("runs/train"), help="output folder")
    parser.add_argument("--weights", default="imagenet", help="imagenet | none | PATH to VGG16 no-top weights")
    parser.add_argument("--input-size", type=int, help="default: 224 with pretrained weights, else 128")
    parser.add_argument("--width", type=float, help="filter multiplier; default 1.0 pretrained, else 0.25")
    parser.add_argument("--batch-norm", action=argparse.BooleanOptionalAction, default=None,
                        help="BatchNormalization after each conv (default: on from scratch, off pretrained)")
    parser.add_argument("--epochs", type=int, default=40, help="maximum epochs (early stopping may end sooner)")
    parser.add_argument("--head-epochs", type=int, default=10, help="stage-1 epochs (pretrained only)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, help="default: 1e-5 fine-tuning, 1e-3 from scratch with batch norm, else 3e-4")
    parser.add_argument("--patience", type=int, default=8, help="early-stopping patience (epochs)")
    parser.add_argument("--val", type=float, default=DEFAULT_FRACTIONS[1], help="validation fraction")
    parser.add_argument("--test", type=float, default=DEFAULT_FRACTIONS[2], help="test fraction")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.keras")
    args = parser.parse_args(argv)
    args.pretrained = args.weights.lower() != "none"
    args.weights = args.weights if args.pretrained else None
    args.input_size = args.input_size or (224 if args.pretrained else 128)
    args.width = args.width or (1.0 if args.pretrained else 0.25)
    args.batch_norm = (not args.pretrained) if args.batch_norm is None else args.batch_norm
    args.lr = args.lr or (1e-5 if args.pretrained else 1e-3 if args.batch_norm else 3e-4)
    return args


def train(args: argparse.Namespace) -> dict:
    """Run the whole recipe and write model.keras, metrics.json, split.csv and plots to args.out."""
    started = time.time()
    keras.utils.set_random_seed(args.seed)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    resume = args.resume and (out / CHECKPOINT).is_file()
    if args.resume and not resume:
        print(f"note: nothing to resume in {out}; starting a new run", file=sys.stderr)
    fractions = (1.0 - args.val - args.test, args.val, args.test)
    dataset = load_dataset(args.data, args.input_size, fractions, args.seed,
                           split_csv=out / "split.csv" if resume else None)
    write_split_csv(out / "split.csv", dataset, Path(args.data))
    train_set, val_set = dataset.subset("train"), dataset.subset("val")
    print(_split_summary(dataset))

    if resume:
        state = json.loads((out / STATE).read_text())
        model = keras.models.load_model(out / CHECKPOINT, safe_mode=True)
    else:
        state = {"next_epoch": 0, "best_val_loss": math.inf}
        model = build_model(args.input_size, args.width, args.weights, batch_norm=args.batch_norm)
        if args.pretrained:
            set_base_trainable(model, ())
            train_head_on_cached_features(model, train_set, val_set, args)
            set_base_trainable(model, ("block5",))
        model.compile(keras.optimizers.Adam(args.lr), "sparse_categorical_crossentropy", metrics=["accuracy"])

    callbacks = [
        SafeCheckpoint(out, state["best_val_loss"]),
        keras.callbacks.CSVLogger(str(out / "history.csv"), append=resume),
        keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=3, min_lr=1e-6),
        keras.callbacks.EarlyStopping(patience=args.patience),
    ]
    model.fit(
        make_batches(*train_set, args.batch_size, args.seed, augmentation(args.seed)),
        validation_data=make_batches(*val_set, args.batch_size, args.seed),
        epochs=args.epochs, initial_epoch=state["next_epoch"], callbacks=callbacks, verbose=_verbosity(),
        shuffle=False,  # the tf.data pipeline shuffles
    )
    return finish(out, dataset, args, time.time() - started)


def finish(out: Path, dataset: LoadedDataset, args: argparse.Namespace, seconds: float) -> dict:
    """Best checkpoint -> calibrated model.keras, held-out metrics and plots."""
    from maskdet import plots
    from maskdet.model import load_model

    model = load_model(out / BEST)
    calibration = calibrate(model, dataset)
    model_path = save_model(model, out / "model.keras")
    history = _read_history(out / "history.csv")
    plots.training_curves(history, out / "training_curves.png")
    metrics = {
        "model": model_path.name,
        "model_info": model_info(model).__dict__,
        "model_megabytes": round(model_path.stat().st_size / 1e6, 2),
        "command": "python -m maskdet.train " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "training_seconds": round(seconds),
        "epochs_run": len(history.get("loss", [])),
        "data": _split_counts(dataset),
        "calibration": calibration,
        "val": evaluate_split(model, dataset, "val"),
        "test": evaluate_split(model, dataset, "test", out / "evaluation"),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=list))
    print(json.dumps({k: metrics["test"][k] for k in ("accuracy", "roc_auc", "ece")}, indent=2))
    return metrics


def _read_history(path: Path) -> dict[str, list[float]]:
    import csv

    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {key: [float(row[key]) for row in rows] for key in (rows[0] if rows else {})}


def _split_counts(dataset: LoadedDataset) -> dict:
    counts = {}
    for split in ("train", "val", "test"):
        _, labels = dataset.subset(split)
        groups = {g for g, s in zip(dataset.groups, dataset.splits) if s == split}
        counts[split] = {"no_mask": int((labels == 0).sum()), "mask": int((labels == 1).sum()), "groups": len(groups)}
    return counts


def _split_summary(dataset: LoadedDataset) -> str:
    return "split: " + ", ".join(
        f"{name} {c['no_mask'] + c['mask']} ({c['mask']} mask / {c['no_mask']} no mask, {c['groups']} groups)"
        for name, c in _split_counts(dataset).items()
    )


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    try:
        train(args)
    except (DatasetError, WeightsUnavailableError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted: resume with the same command plus --resume ({args.out / CHECKPOINT})", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
