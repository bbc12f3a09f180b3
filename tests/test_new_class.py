"""Adding one class to a trained model without moving the others (maskdet.training.new_class)."""

import json

import numpy as np
import pytest

from maskdet.config import LOGITS_LAYER
from maskdet.core.model import load_model, model_info
from maskdet.training import train
from maskdet.training.new_class import bias_shift, fit_column
from tests.conftest import TINY_SIZE, TINY_WIDTH, make_source


def test_the_fitted_column_finds_the_new_class_and_leaves_the_old_decision_alone():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 3000)
    features = rng.normal(size=(3000, 8))
    features[:, 0] += 3.0 * (labels == 2)  # the new class shows in one feature
    fixed = rng.normal(size=(3000, 2)) + 2.0 * np.eye(2)[np.minimum(labels, 1)]
    weights, bias, loss = fit_column(features, fixed, labels)
    new_logit = features @ weights + bias
    every = np.concatenate([fixed, new_logit[:, None]], axis=1)
    called = every.argmax(axis=1)
    assert (called[labels == 2] == 2).mean() > 0.8 and (called[labels < 2] == 2).mean() < 0.2
    assert np.argmax(weights ** 2) == 0 and 0 < loss < np.log(3)
    kept = called < 2
    assert (called[kept] == fixed[kept].argmax(axis=1)).all()  # between the old two, nothing changed


def test_the_bias_is_lowered_until_few_old_faces_are_called_new():
    margins = np.linspace(-5.0, 5.0, 1001)  # half of them would be called the new class
    shift = bias_shift(margins, 0.02)
    assert ((margins + shift) > 0).mean() <= 0.02 and ((margins + shift + 0.05) > 0).mean() > 0.02
    assert bias_shift(margins - 20.0, 0.02) == 0.0  # never raised: few enough already
    assert bias_shift(np.zeros(0), 0.02) == 0.0


def test_new_class_only_adds_worn_wrong_to_a_two_class_model(two_class_model_file, tmp_path):
    source = make_source(tmp_path / "data" / "webcam", ("with_mask", "without_mask", "incorrect_mask"),
                         people=6, photos_each=3, seed=4)
    out = tmp_path / "run"
    code = train.main(["--data", str(source), "--out", str(out), "--weights", "none",
                       "--init-from", str(two_class_model_file), "--new-class-only", "--epochs", "1",
                       "--steps-per-epoch", "4", "--batch-size", "8", "--no-recrop", "--composite", "none",
                       "--real-worn-wrong", "1", "--input-size", str(TINY_SIZE), "--width", str(TINY_WIDTH),
                       "--no-batch-norm"])
    assert code == 0
    before, after = load_model(two_class_model_file), load_model(out / "model.keras")
    assert model_info(after).class_names == ("no_mask", "mask", "worn_wrong")
    old_kernel, old_bias = before.get_layer(LOGITS_LAYER).get_weights()
    new_kernel, new_bias = after.get_layer(LOGITS_LAYER).get_weights()
    np.testing.assert_array_equal(new_kernel[:, :2], old_kernel)
    np.testing.assert_array_equal(new_bias[:2], old_bias)
    assert np.any(new_kernel[:, 2] != 0) or new_bias[2] != 0
    for name in ("block5_conv3", "fc"):  # the network itself is not touched
        for old, new in zip(before.get_layer(name).get_weights(), after.get_layer(name).get_weights()):
            np.testing.assert_array_equal(old, new)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 1 and "--new-class-only" in metrics["command"]
    assert metrics["new_class"]["drawn_images"] == 32 and metrics["new_class"]["bias_shift"] <= 0


def test_new_class_only_needs_a_model_to_add_to(capsys):
    with pytest.raises(SystemExit) as exit_:
        train.main(["--data", "x", "--weights", "none", "--new-class-only"])
    assert exit_.value.code == 2
    assert "--new-class-only needs --init-from" in capsys.readouterr().err


def test_real_worn_wrong_faces_of_other_sources_stay_unseen():
    from argparse import Namespace

    labels = np.array([2, 2, 2, 1, 0])
    sources = ["improper", "webcam", "improper", "webcam", "webcam"]
    unseen = lambda **kw: train.unseen_worn_wrong(labels, sources, Namespace(**kw)).tolist()  # noqa: E731
    assert unseen(real_worn_wrong=0.0, real_worn_wrong_sources=None) == [True, True, True, False, False]
    assert unseen(real_worn_wrong=0.3, real_worn_wrong_sources=None) == [False] * 5
    assert unseen(real_worn_wrong=0.3, real_worn_wrong_sources=["improper"]) == [False, True, False, False, False]
    assert unseen(real_worn_wrong=0.0, real_worn_wrong_sources=["improper"]) == [True, True, True, False, False]
