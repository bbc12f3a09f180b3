"""Train the mask classifier on one or many sources of face images.

    python -m maskdet train --data DIR [DIR...] [--weights imagenet|none|PATH] [--out runs/train]

Each DIR is a source (a folder with with_mask/ and/or without_mask/) or a root whose sub-folders
are sources. Every source is split on its own, by group; training batches are balanced by source
and class and augmented per image (maskdet.data.augment); images are re-cropped with the app's face
detector and crop geometry (maskdet.data.recrop). With pretrained weights: stage 1 trains a new head on
cached features of the frozen base, stage 2 fine-tunes block5 at a low learning rate. Without: the
whole VGG16 topology trains from scratch (default width 1/4 at 128 px).
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

from maskdet.data.augment import augment_image, augment_without_eyewear, frame
from maskdet.data.composite import RECIPES, Composer
from maskdet.data.batches import (
    BALANCE_MODES, describe_strata, evaluation_batches, monitor_subset, training_batches, validation_weights,
)
from maskdet.config import CLASS_NAMES, WORN_WRONG_INDEX
from maskdet.evaluation.calibration import expected_calibration_error, fit_temperature, softmax
from maskdet.data.dataset import DEFAULT_FRACTIONS, DatasetError, LoadedDataset, load_dataset, source_roots, write_split_csv
from maskdet.evaluation.evaluate import evaluate_split, per_source_metrics, predict_logits
from maskdet.core.faces import CROP_SCALE
from maskdet.core.model import (
    BASE_OUTPUT_LAYER, ModelFileError, WeightsUnavailableError, build_model, load_model, model_info, save_model,
    set_base_trainable, set_temperature, transfer_weights,
)
from maskdet.data.recrop import FaceLocator, optional_locator

CHECKPOINT = "checkpoint.keras"
BEST = "best.keras"
STATE = "state.json"
AUGMENTATIONS = {"full": augment_image, "no-eyewear": augment_without_eyewear, "frame": frame, "none": None}


def distribution_strategy(cpu_devices: int = 1) -> tf.distribute.Strategy:
    """MirroredStrategy over every GPU when there are several (or over `cpu_devices` logical CPUs,
    which is how the multi-device path is tested without GPUs); the default strategy otherwise.
    Must run before TensorFlow executes anything: logical devices are fixed at start-up."""
    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    if cpu_devices > 1 and not gpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices)
        return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(cpu_devices)])
    return tf.distribute.get_strategy()


def face_locator(args: argparse.Namespace) -> Optional[FaceLocator]:
    """The re-cropping detector these options ask for (None when off or unavailable)."""
    return optional_locator(args.recrop, args.detector, args.crop_cache)


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
    parser = argparse.ArgumentParser(prog="maskdet train", description=__doc__.splitlines()[0])
    data = parser.add_argument_group("data")
    data.add_argument("--data", type=Path, nargs="+", required=True,
                      help="sources (folders with with_mask/ and/or without_mask/) or roots of sources")
    data.add_argument("--sources", nargs="+", help="use only these sources (folder names)")
    data.add_argument("--exclude-sources", nargs="+", default=[], help="leave these sources out")
    data.add_argument("--recrop", action=argparse.BooleanOptionalAction, default=True,
                      help="re-crop every image with the app's face detector and crop geometry (default on)")
    data.add_argument("--crop-scale", type=float, default=CROP_SCALE, help="crop side / face box side")
    data.add_argument("--detector", type=Path, help="YuNet .onnx file (default: as the app finds it)")
    data.add_argument("--crop-cache", type=Path, help="where detections are cached (default ~/.cache/maskdet)")
    data.add_argument("--balance", choices=BALANCE_MODES, default="source-class",
                      help="what each batch is balanced by (default: source and class)")
    data.add_argument("--augment", choices=sorted(AUGMENTATIONS), default="full",
                      help="full: eyewear, framing, exposure, colour and quality changes; no-eyewear: full without "
                           "the drawn glasses (the recipe before them); frame: framing only")
    data.add_argument("--composite", choices=sorted(RECIPES), default="full",
                      help="faces made from real ones with landmarks (maskdet.composite): full: masks pasted worn "
                           "right and worn wrong plus swapped upper faces; masks: without the swap; upper-swap: "
                           "only the swap; none: real images only")
    data.add_argument("--real-worn-wrong", type=float, default=0.1,
                      help="share of real incorrect_mask/ images among the drawn real images, relative to 1 for "
                           "each other class (0: train on none of them, e.g. to score them as never seen)")
    data.add_argument("--split-from", type=Path,
                      help="keep the split of this split.csv (e.g. the model named by --init-from, so its test "
                           "images stay unseen); files it does not list are split by group as usual")
    data.add_argument("--val", type=float, default=DEFAULT_FRACTIONS[1], help="validation fraction")
    data.add_argument("--test", type=float, default=DEFAULT_FRACTIONS[2], help="test fraction")
    net = parser.add_argument_group("model")
    net.add_argument("--weights", default="imagenet", help="imagenet | none | PATH to VGG16 no-top weights")
    net.add_argument("--init-from", type=Path, help="start from this maskdet model's weights (same shape)")
    net.add_argument("--input-size", type=int, help="default: 224 with pretrained weights, else 128")
    net.add_argument("--width", type=float, help="filter multiplier; default 1.0 pretrained, else 0.25")
    net.add_argument("--batch-norm", action=argparse.BooleanOptionalAction, default=None,
                     help="BatchNormalization after each conv (default: on from scratch, off pretrained)")
    fit = parser.add_argument_group("optimisation")
    fit.add_argument("--out", type=Path, default=Path("runs/train"), help="output folder")
    fit.add_argument("--epochs", type=int, default=40, help="epochs (the learning rate follows a cosine to the last)")
    fit.add_argument("--steps-per-epoch", type=int, help="batches per epoch (default: training images / batch size)")
    fit.add_argument("--head-epochs", type=int, default=10, help="stage-1 epochs (pretrained only)")
    fit.add_argument("--batch-size", type=int, default=32)
    fit.add_argument("--lr", type=float, help="peak rate; default 1e-5 fine-tuning, 1e-3 from scratch with batch norm, else 3e-4")
    fit.add_argument("--warmup-epochs", type=float, default=1.0, help="linear warm-up before the cosine")
    fit.add_argument("--patience", type=int, default=10, help="early-stopping patience (epochs)")
    fit.add_argument("--monitor-per-stratum", type=int, default=200,
                     help="validation images per (source, class) scored each epoch")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--jit", action=argparse.BooleanOptionalAction, default=True,
                     help="XLA-compile the training step (about 1.3x faster on CPU; single device only)")
    fit.add_argument("--cpu-devices", type=int, default=1,
                     help="split the CPU into N logical devices and train mirrored across them (tests the "
                          "multi-GPU path without GPUs)")
    fit.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.keras")
    args = parser.parse_args(argv)
    args.pretrained = args.weights.lower() != "none"
    args.weights = args.weights if args.pretrained else None
    args.input_size = args.input_size or (224 if args.pretrained else 128)
    args.width = args.width or (1.0 if args.pretrained else 0.25)
    args.batch_norm = (not args.pretrained) if args.batch_norm is None else args.batch_norm
    args.lr = args.lr or (1e-5 if args.pretrained else 1e-3 if args.batch_norm else 3e-4)
    return args


def new_model(args: argparse.Namespace, train_set: tuple, val_set: tuple, total_steps: int) -> keras.Model:
    """Build (and for pretrained weights, pre-train the head of) a model, compiled for training."""
    model = build_model(args.input_size, args.width, args.weights, batch_norm=args.batch_norm)
    if args.init_from:
        transfer_weights(load_model(args.init_from), model)
    if args.pretrained:
        set_base_trainable(model, ())
        train_head_on_cached_features(model, train_set, val_set, args)
        set_base_trainable(model, ("block5",))
    warmup = min(int(args.warmup_epochs * total_steps / max(args.epochs, 1)), total_steps // 2)
    schedule = keras.optimizers.schedules.CosineDecay(
        args.lr / 10, decay_steps=max(total_steps - warmup, 1), alpha=0.02, warmup_target=args.lr, warmup_steps=warmup)
    jit = args.jit and tf.distribute.get_strategy().num_replicas_in_sync == 1
    model.compile(keras.optimizers.Adam(schedule), "sparse_categorical_crossentropy",
                  metrics=["accuracy"], weighted_metrics=[], jit_compile=jit)
    return model


def train(args: argparse.Namespace) -> dict:
    """Run the whole recipe and write model.keras, metrics.json, split.csv and plots to args.out."""
    started = time.time()
    strategy = distribution_strategy(args.cpu_devices)
    keras.utils.set_random_seed(args.seed)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    resume = args.resume and (out / CHECKPOINT).is_file()
    if args.resume and not resume:
        print(f"note: nothing to resume in {out}; starting a new run", file=sys.stderr)
    fractions = (1.0 - args.val - args.test, args.val, args.test)
    dataset = load_dataset(args.data, args.input_size, fractions, args.seed,
                           split_csv=out / "split.csv" if resume else args.split_from, locator=face_locator(args),
                           crop_scale=args.crop_scale, include=args.sources, exclude=args.exclude_sources)
    write_split_csv(out / "split.csv", dataset, source_roots(args.data))
    print(_split_summary(dataset), flush=True)
    print(f"strategy: {type(strategy).__name__}, {strategy.num_replicas_in_sync} replica(s)", flush=True)

    train_index, val_index = dataset.indices("train"), dataset.indices("val")
    train_labels, train_sources = dataset.labels[train_index], [dataset.sources[i] for i in train_index]
    shares = {WORN_WRONG_INDEX: max(args.real_worn_wrong, 0.0)}
    print(f"real-image draws (balance: {args.balance}; composites: {args.composite}):\n"
          + describe_strata(train_labels, train_sources, args.balance, shares))
    steps = args.steps_per_epoch or max(1, len(train_index) // args.batch_size)
    with strategy.scope():
        if resume:
            state = json.loads((out / STATE).read_text())
            model = keras.models.load_model(out / CHECKPOINT, safe_mode=True)
        else:
            state = {"next_epoch": 0, "best_val_loss": math.inf}
            model = new_model(args, dataset.subset("train"), dataset.subset("val"), steps * args.epochs)

    val_labels, val_sources = dataset.labels[val_index], [dataset.sources[i] for i in val_index]
    watched = val_index[monitor_subset(val_labels, val_sources, args.monitor_per_stratum, args.seed)]
    if args.real_worn_wrong <= 0:  # real worn-wrong faces stay unseen: not even the best epoch is picked on them
        watched = watched[dataset.labels[watched] != WORN_WRONG_INDEX]
    watched_sources = [dataset.sources[i] for i in watched]
    callbacks = [
        SafeCheckpoint(out, state["best_val_loss"]),
        keras.callbacks.CSVLogger(str(out / "history.csv"), append=resume),
        keras.callbacks.EarlyStopping(patience=args.patience),
    ]
    seed = args.seed + state["next_epoch"]
    train_images, train_landmarks = dataset.images[train_index], dataset.landmarks[train_index]
    if args.real_worn_wrong <= 0:
        keep = train_labels != WORN_WRONG_INDEX
        train_images, train_landmarks, train_labels = train_images[keep], train_landmarks[keep], train_labels[keep]
        train_sources = [s for s, k in zip(train_sources, keep) if k]
    recipe = RECIPES[args.composite]
    composer = Composer(train_images, train_labels, train_landmarks, recipe, seed) if recipe.active else None
    model.fit(
        training_batches(train_images, train_labels, train_sources, args.batch_size, args.balance, seed,
                         AUGMENTATIONS[args.augment], composer, shares),
        validation_data=evaluation_batches(dataset.images[watched], dataset.labels[watched], args.batch_size,
                                           validation_weights(dataset.labels[watched], watched_sources)),
        epochs=args.epochs, initial_epoch=state["next_epoch"], steps_per_epoch=steps,
        callbacks=callbacks, verbose=_verbosity(),
    )
    return finish(out, dataset, args, time.time() - started)


def finish(out: Path, dataset: LoadedDataset, args: argparse.Namespace, seconds: float) -> dict:
    """Best checkpoint -> calibrated model.keras, held-out metrics and plots."""
    from maskdet.evaluation import plots
    model = load_model(out / BEST)
    calibration = calibrate(model, dataset)
    model_path = save_model(model, out / "model.keras")
    history = _read_history(out / "history.csv")
    plots.training_curves(history, out / "training_curves.png")
    metrics = {
        "model": model_path.name,
        "model_info": model_info(model).__dict__,
        "model_megabytes": round(model_path.stat().st_size / 1e6, 2),
        "command": "python -m maskdet train " + " ".join(shlex.quote(str(a)) for a in getattr(args, "argv", sys.argv[1:])),
        "training_seconds": round(seconds),
        "epochs_run": len(history.get("loss", [])),
        "data": _split_counts(dataset),
        "calibration": calibration,
        "val": evaluate_split(model, dataset, "val"),
        "test": evaluate_split(model, dataset, "test", out / "evaluation"),
        "test_per_source": per_source_metrics(model, dataset, "test"),
        "framing": framing_report(dataset),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=list))
    print(json.dumps({k: metrics["test"][k] for k in ("accuracy", "roc_auc", "ece")}, indent=2))
    return metrics


def framing_report(dataset: LoadedDataset) -> dict:
    """Per source and class: how often a face was found, and how much of the image (before) and
    of the crop (after re-cropping) its box fills: the framing skew between sources."""
    report = {}
    for source in dataset.source_names():
        for label in range(len(CLASS_NAMES)):
            index = [i for i, s in enumerate(dataset.samples) if s.source == source and s.label == label]
            if not index:
                continue
            found = ~np.isnan(dataset.face_fraction[index])
            report[f"{source}/{label}"] = {
                "images": len(index), "face_found": round(float(found.mean()), 3),
                "face_side_over_image_side": _median(dataset.raw_face_fraction[index]),
                "face_side_over_crop_side": _median(dataset.face_fraction[index]),
            }
    return report


def _median(values: np.ndarray) -> Optional[float]:
    values = values[~np.isnan(values)]
    return round(float(np.median(values)), 3) if len(values) else None


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
        counts[split] = {**{name: int((labels == i).sum()) for i, name in enumerate(CLASS_NAMES)},
                         "groups": len(groups)}
    return counts


def _split_summary(dataset: LoadedDataset) -> str:
    return "split: " + ", ".join(
        f"{name} {sum(c[k] for k in CLASS_NAMES)} ({' / '.join(f'{c[k]} {k}' for k in CLASS_NAMES)}, "
        f"{c['groups']} groups)" for name, c in _split_counts(dataset).items())


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded in metrics.json as the command
    try:
        train(args)
    except (DatasetError, WeightsUnavailableError, ModelFileError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted: resume with the same command plus --resume ({args.out / CHECKPOINT})", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
