"""tf.data pipelines that feed training: balanced by source and class, augmented per image.

Sources differ in size by 10x and six hold only unmasked faces, so sampling files uniformly would
let the biggest source and the majority class decide what the network learns. Training draws each
image in two steps: a class (each equally often), then a source holding that class (each equally
often), then a random image of that stratum. Validation keeps every image but weighs each
(source, class) stratum equally, so the loss used to pick the best epoch is balanced the same way.
"""

from __future__ import annotations

from typing import Callable, Iterator, Optional

import numpy as np
import tensorflow as tf

from maskdet.config import CLASS_NAMES

BALANCE_MODES = ("source-class", "class", "none")


def strata(labels: np.ndarray, sources: list[str]) -> dict[tuple[str, int], np.ndarray]:
    """(source, class) -> positions of its images."""
    keys = sorted({(source, int(label)) for source, label in zip(sources, labels)})
    source_array = np.asarray(sources)
    return {key: np.nonzero((source_array == key[0]) & (labels == key[1]))[0] for key in keys}


def stratum_weights(groups: dict[tuple[str, int], np.ndarray], balance: str,
                    class_shares: Optional[dict[int, float]] = None) -> dict[tuple[str, int], float]:
    """How often each stratum is drawn: see the module docstring; "class" ignores sources and
    "none" draws every image equally often. `class_shares` (class -> relative share, 1 for classes
    it does not name) lets a rare class be drawn less often than the others."""
    if balance not in BALANCE_MODES:
        raise ValueError(f"balance must be one of {BALANCE_MODES}, not {balance!r}")
    classes = sorted({label for _, label in groups})
    shares = {label: (class_shares or {}).get(label, 1.0) for label in classes}
    weights = {}
    for (source, label), members in groups.items():
        same_class = [key for key in groups if key[1] == label]
        if balance == "source-class":
            weights[(source, label)] = shares[label] / len(same_class)
        elif balance == "class":
            class_total = sum(len(groups[key]) for key in same_class)
            weights[(source, label)] = shares[label] * len(members) / class_total
        else:
            weights[(source, label)] = float(len(members))
    total = sum(weights.values())
    return {key: value / total for key, value in weights.items()}


def balanced_indices(labels: np.ndarray, sources: list[str], balance: str, seed: int,
                     class_shares: Optional[dict[int, float]] = None) -> Iterator[int]:
    """An endless stream of image positions drawn as `balance` (and `class_shares`) say."""
    groups = strata(labels, sources)
    keys = list(groups)
    weights = stratum_weights(groups, balance, class_shares)
    probabilities = np.array([weights[key] for key in keys])
    rng = np.random.default_rng(seed)
    while True:
        for stratum in rng.choice(len(keys), size=4096, p=probabilities):
            yield int(rng.choice(groups[keys[stratum]]))


def validation_weights(labels: np.ndarray, sources: list[str]) -> np.ndarray:
    """Per-image weights that give every (source, class) stratum the same total, mean 1."""
    groups = strata(labels, sources)
    weights = np.zeros(len(labels), np.float32)
    for members in groups.values():
        weights[members] = 1.0 / len(members)
    return weights * len(labels) / weights.sum()


def training_batches(images: np.ndarray, labels: np.ndarray, sources: list[str], batch_size: int,
                     balance: str, seed: int, augment: Optional[Callable[[tf.Tensor], tf.Tensor]],
                     compose: Optional[Callable[[int], tuple[np.ndarray, int]]] = None,
                     class_shares: Optional[dict[int, float]] = None) -> tf.data.Dataset:
    """Endless augmented batches of (float32 images 0-255, int labels). `compose` turns a drawn
    position into the (image, label) to train on (maskdet.composite); by default the image itself."""
    def stream() -> Iterator[tuple[np.ndarray, np.int32]]:
        for index in balanced_indices(labels, sources, balance, seed, class_shares):
            yield compose(index) if compose is not None else (images[index], labels[index])

    size = images.shape[1]
    ds = tf.data.Dataset.from_generator(stream, output_signature=(
        tf.TensorSpec((size, size, 3), tf.uint8), tf.TensorSpec((), tf.int32)))
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), y))
    if augment is not None:
        ds = ds.map(lambda x, y: (augment(x), y), num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def evaluation_batches(images: np.ndarray, labels: np.ndarray, batch_size: int,
                       weights: Optional[np.ndarray] = None) -> tf.data.Dataset:
    """Every image once, in order: (images, labels[, weights]) batches."""
    def stream():
        for index in range(len(labels)):
            row = (images[index], labels[index])
            yield row if weights is None else (*row, weights[index])

    size = images.shape[1]
    signature = [tf.TensorSpec((size, size, 3), tf.uint8), tf.TensorSpec((), tf.int32)]
    if weights is not None:
        signature.append(tf.TensorSpec((), tf.float32))
    ds = tf.data.Dataset.from_generator(stream, output_signature=tuple(signature))
    ds = ds.map(lambda x, *rest: (tf.cast(x, tf.float32), *rest))
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def monitor_subset(labels: np.ndarray, sources: list[str], per_stratum: int, seed: int) -> np.ndarray:
    """At most `per_stratum` positions of each (source, class): a fixed, balanced, cheaper
    validation set to watch every epoch (the full split is scored once, at the end)."""
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(members)[:per_stratum] for members in strata(labels, sources).values()]
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)


def describe_strata(labels: np.ndarray, sources: list[str], balance: str,
                    class_shares: Optional[dict[int, float]] = None) -> str:
    """One line per stratum: images and the share of real-image draws it gets."""
    groups = strata(labels, sources)
    weights = stratum_weights(groups, balance, class_shares)
    return "\n".join(f"  {source:<14} {CLASS_NAMES[label]:<10} {len(members):>6} images, "
                     f"{weights[(source, label)]:6.1%} of draws" for (source, label), members in groups.items())
