"""Train the mask classifier on one or many sources of face images.

    python -m maskdet train --data DIR [DIR...] [--weights imagenet|none|PATH] [--out runs/train]

Each DIR is a source (a folder with with_mask/ and/or without_mask/) or a root whose sub-folders
are sources. Every source is split on its own, by group; training batches are balanced by source
and class and augmented per image (maskdet.data.augment); images are re-cropped with the app's face
detector and crop geometry (maskdet.data.recrop). With pretrained weights: stage 1 trains a new head on
cached features of the frozen base, stage 2 fine-tunes block5 at a low learning rate. Without: the
whole VGG16 topology trains from scratch (default width 1/4 at 128 px). With --new-class-only, a
model gains one class and nothing else changes (maskdet.training.new_class).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from maskdet.config import WORN_WRONG_INDEX
from maskdet.core.model import (
    BASE_OUTPUT_LAYER, ModelFileError, WeightsUnavailableError, build_model, load_model, set_base_trainable,
    transfer_weights,
)
from maskdet.data.batches import (
    describe_strata, evaluation_batches, monitor_subset, training_batches, validation_weights,
)
from maskdet.data.composite import RECIPES, Composer
from maskdet.data.dataset import DatasetError, load_dataset, source_roots
from maskdet.data.splitting import write_split_csv
from maskdet.training.checkpoints import CHECKPOINT, SafeCheckpoint, read_state
from maskdet.training.new_class import add_new_class
from maskdet.training.recipe import AUGMENTATIONS, face_locator, parse_args
from maskdet.training.report import finish, split_summary


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


def unseen_worn_wrong(labels: np.ndarray, sources: list[str], args: argparse.Namespace) -> np.ndarray:
    """Which images are real worn-wrong faces that training must not see: all of them with
    --real-worn-wrong 0, else those of sources not named by --real-worn-wrong-sources (when given)."""
    worn_wrong = labels == WORN_WRONG_INDEX
    if args.real_worn_wrong <= 0:
        return worn_wrong
    if not args.real_worn_wrong_sources:
        return np.zeros_like(worn_wrong)
    return worn_wrong & ~np.isin(np.asarray(sources, dtype=object), list(args.real_worn_wrong_sources))


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
    print(split_summary(dataset), flush=True)
    print(f"strategy: {type(strategy).__name__}, {strategy.num_replicas_in_sync} replica(s)", flush=True)

    train_index, val_index = dataset.indices("train"), dataset.indices("val")
    train_index = train_index[~unseen_worn_wrong(dataset.labels[train_index],
                                                 [dataset.sources[i] for i in train_index], args)]
    train_labels, train_sources = dataset.labels[train_index], [dataset.sources[i] for i in train_index]
    shares = {WORN_WRONG_INDEX: max(args.real_worn_wrong, 0.0)}
    print(f"real-image draws (balance: {args.balance}; composites: {args.composite}):\n"
          + describe_strata(train_labels, train_sources, args.balance, shares))
    steps = args.steps_per_epoch or max(1, len(train_index) // args.batch_size)
    state = read_state(out, resume)
    with strategy.scope():
        if resume:
            model = keras.models.load_model(out / CHECKPOINT, safe_mode=True)
        else:
            model = new_model(args, dataset.subset("train"), dataset.subset("val"), steps * args.epochs)

    val_labels, val_sources = dataset.labels[val_index], [dataset.sources[i] for i in val_index]
    watched = val_index[monitor_subset(val_labels, val_sources, args.monitor_per_stratum, args.seed)]
    # real worn-wrong faces that stay unseen: not even the best epoch is picked on them
    watched = watched[~unseen_worn_wrong(dataset.labels[watched], [dataset.sources[i] for i in watched], args)]
    watched_sources = [dataset.sources[i] for i in watched]
    callbacks = [
        SafeCheckpoint(out, state["best_val_loss"]),
        keras.callbacks.CSVLogger(str(out / "history.csv"), append=resume),
        keras.callbacks.EarlyStopping(patience=args.patience),
    ]
    seed = args.seed + state["next_epoch"]
    train_images, train_landmarks = dataset.images[train_index], dataset.landmarks[train_index]
    recipe = RECIPES[args.composite]
    composer = Composer(train_images, train_labels, train_landmarks, recipe, seed) if recipe.active else None
    batches = training_batches(train_images, train_labels, train_sources, args.batch_size, args.balance, seed,
                               AUGMENTATIONS[args.augment], composer, shares)
    if args.new_class_only:
        fitted = add_new_class(model, batches, steps * args.epochs, out, dataset.subset("val"),
                               args.new_class_false_alarms)
        return finish(out, dataset, args, time.time() - started, {"new_class": fitted})
    model.fit(
        batches,
        validation_data=evaluation_batches(dataset.images[watched], dataset.labels[watched], args.batch_size,
                                           validation_weights(dataset.labels[watched], watched_sources)),
        epochs=args.epochs, initial_epoch=state["next_epoch"], steps_per_epoch=steps,
        callbacks=callbacks, verbose=_verbosity(),
    )
    return finish(out, dataset, args, time.time() - started)


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
