import itertools

import numpy as np
import pytest

from maskdet.data.batches import (
    balanced_indices, monitor_subset, stratum_weights, strata, training_batches, validation_weights,
)

LABELS = np.array([1] * 40 + [0] * 10 + [1] * 5 + [0] * 5 + [0] * 100)
SOURCES = ["big"] * 50 + ["small"] * 10 + ["unmasked"] * 100


def test_each_class_then_each_source_is_drawn_equally_often():
    drawn = list(itertools.islice(balanced_indices(LABELS, SOURCES, "source-class", seed=0), 40_000))
    share = {key: np.isin(drawn, members).mean() for key, members in strata(LABELS, SOURCES).items()}
    assert share[("big", 1)] == pytest.approx(0.25, abs=0.01)
    assert share[("small", 1)] == pytest.approx(0.25, abs=0.01)
    for source in ("big", "small", "unmasked"):
        assert share[(source, 0)] == pytest.approx(1 / 6, abs=0.01)


def test_other_balance_modes():
    groups = strata(LABELS, SOURCES)
    by_class = stratum_weights(groups, "class")
    assert by_class[("big", 1)] == pytest.approx(0.5 * 40 / 45)
    assert sum(w for (s, c), w in by_class.items() if c == 0) == pytest.approx(0.5)
    assert stratum_weights(groups, "none")[("unmasked", 0)] == pytest.approx(100 / 160)
    with pytest.raises(ValueError, match="balance"):
        stratum_weights(groups, "sources")


def test_validation_weights_give_every_stratum_the_same_total():
    weights = validation_weights(LABELS, SOURCES)
    totals = [weights[members].sum() for members in strata(LABELS, SOURCES).values()]
    assert np.allclose(totals, totals[0]) and weights.mean() == pytest.approx(1.0)


def test_monitor_subset_caps_each_stratum():
    chosen = monitor_subset(LABELS, SOURCES, per_stratum=8, seed=0)
    counts = {key: np.isin(chosen, members).sum() for key, members in strata(LABELS, SOURCES).items()}
    assert counts == {("big", 0): 8, ("big", 1): 8, ("small", 0): 5, ("small", 1): 5, ("unmasked", 0): 8}


def test_training_batches_are_augmented_float_batches():
    images = np.random.default_rng(0).integers(0, 256, (len(LABELS), 16, 16, 3), dtype=np.uint8)
    batch, labels = next(iter(training_batches(images, LABELS, SOURCES, 8, "source-class", 0, lambda x: x + 0.5)))
    assert batch.shape == (8, 16, 16, 3) and batch.dtype.name == "float32" and labels.shape == (8,)
    assert np.all(np.asarray(batch) % 1 == 0.5)  # the augmentation ran on every image
