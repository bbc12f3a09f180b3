import json

import keras
import numpy as np
import pytest

from maskdet.evaluation import evaluate
from maskdet.training import train
from maskdet.core.model import load_model, model_info
from tests.conftest import REPO_ROOT, TINY_SIZE, TINY_WIDTH

TINY_ARGS = ["--input-size", str(TINY_SIZE), "--width", str(TINY_WIDTH), "--batch-size", "8", "--no-jit"]
"""Tiny runs skip XLA (its compile costs more than they train); trained_run keeps the default --jit."""


@pytest.fixture(scope="module")
def trained_run(tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    code = train.main(["--data", str(tiny_dataset), "--out", str(out), "--weights", "none", "--epochs", "2",
                       "--no-recrop", *TINY_ARGS, "--jit"])
    assert code == 0
    return out


def test_training_writes_every_artifact(trained_run):
    for name in ("model.keras", "best.keras", "checkpoint.keras", "metrics.json", "split.csv",
                 "history.csv", "training_curves.png", "evaluation/confusion_test.png",
                 "evaluation/roc_test.png", "evaluation/reliability_test.png", "evaluation/misclassified_test.png"):
        assert (trained_run / name).is_file(), name
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["test"]["split"] == "test" and metrics["epochs_run"] == 2
    assert metrics["test"]["n_images"] == metrics["data"]["test"]["mask"] + metrics["data"]["test"]["no_mask"]
    assert set(metrics["test"]["per_class"]) == {"no_mask", "mask", "worn_wrong"}
    assert metrics["test"]["per_class"]["worn_wrong"]["support"] == 0
    assert model_info(load_model(trained_run / "model.keras")).input_size == TINY_SIZE


def test_evaluate_cli_reproduces_training_metrics(trained_run, tiny_dataset, capsys):
    code = evaluate.main(["--model", str(trained_run / "model.keras"), "--data", str(tiny_dataset)])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    recorded = json.loads((trained_run / "metrics.json").read_text())["test"]
    assert printed["accuracy"] == pytest.approx(recorded["accuracy"])
    assert printed["confusion_matrix"] == recorded["confusion_matrix"]


def test_evaluate_on_val_chooses_the_unsure_band(trained_run, tiny_dataset, tmp_path, capsys):
    code = evaluate.main(["--model", str(trained_run / "model.keras"), "--data", str(tiny_dataset),
                          "--split", "val", "--no-stress", "--no-pointing", "--out", str(tmp_path)])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    band = printed["unsure_band"]
    assert band["faces"] == printed["n_images"]
    assert band["band"][0] <= 0.5 <= band["band"][1]
    assert band["accuracy_all"] == pytest.approx(printed["accuracy"])
    assert (tmp_path / "report_val.md").is_file()


def test_evaluate_in_bfloat16_writes_beside_the_float32_figures(trained_run, tiny_dataset, capsys):
    model = str(trained_run / "model.keras")
    assert evaluate.main(["--model", model, "--data", str(tiny_dataset)]) == 0
    reference_file = trained_run / "evaluation" / "metrics_test.json"
    reference = reference_file.read_text()
    capsys.readouterr()
    assert evaluate.main(["--model", model, "--data", str(tiny_dataset), "--precision", "bfloat16"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["precision"] == "bfloat16" and json.loads(reference)["precision"] == "float32"
    assert json.loads((trained_run / "evaluation" / "bfloat16" / "metrics_test.json").read_text()) == printed
    assert reference_file.read_text() == reference
    assert printed["n_images"] == json.loads(reference)["n_images"]


def test_resume_continues_from_checkpoint(trained_run, tiny_dataset):
    code = train.main(["--data", str(tiny_dataset), "--out", str(trained_run), "--weights", "none",
                       "--epochs", "3", "--resume", *TINY_ARGS])
    assert code == 0
    assert json.loads((trained_run / "state.json").read_text())["next_epoch"] == 3
    assert json.loads((trained_run / "metrics.json").read_text())["epochs_run"] == 3


def test_pretrained_recipe_with_local_weights(tiny_dataset, tmp_path):
    reference = keras.applications.VGG16(include_top=False, weights=None, input_shape=(TINY_SIZE, TINY_SIZE, 3))
    weights_file = tmp_path / "vgg16.weights.h5"
    reference.save_weights(weights_file)
    out = tmp_path / "run"
    code = train.main(["--data", str(tiny_dataset), "--out", str(out), "--weights", str(weights_file),
                       "--input-size", str(TINY_SIZE), "--epochs", "1", "--head-epochs", "1", "--batch-size", "8"])
    assert code == 0
    model = load_model(out / "model.keras")
    assert model_info(model).weights_origin == "file:vgg16.weights.h5"
    np.testing.assert_array_equal(  # blocks 1-4 stay frozen during fine-tuning
        model.get_layer("block1_conv1").get_weights()[0], reference.get_layer("block1_conv1").get_weights()[0]
    )


@pytest.mark.parametrize("layout", ["missing", "one_class", "empty"])
def test_cli_errors_on_bad_folders(tmp_path, capsys, layout):
    root = tmp_path / "data"
    if layout != "missing":
        (root / "with_mask").mkdir(parents=True)
    if layout == "empty":
        (root / "without_mask").mkdir()
    code = train.main(["--data", str(root), "--out", str(tmp_path / "out"), "--weights", "none", *TINY_ARGS])
    assert code == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_evaluate_plays_the_pointing_game_on_a_chosen_layer(trained_run, tiny_dataset, tmp_path, capsys):
    model = str(trained_run / "model.keras")
    common = ["--model", model, "--data", str(tiny_dataset), "--no-stress", "--out", str(tmp_path)]
    assert evaluate.main([*common, "--heatmap-layers", "block4_conv3", "--heatmap-weighting", "channel"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["pointing_heatmap"] == {"layers": [["block4_conv3", 1.0]], "weighting": "channel"}
    assert sum(p["faces"] + p["left_out_no_landmarks"] for p in printed["pointing"].values()) == printed["n_images"]
    assert evaluate.main([*common, "--heatmap-layers", "block4_conv3:0.5", "no_such_layer:0.5"]) == 2
    assert "no layer named no_such_layer" in capsys.readouterr().err


def test_evaluate_cli_errors_on_missing_model(tmp_path, capsys):
    assert evaluate.main(["--model", str(tmp_path / "none.keras"), "--data", str(tmp_path)]) == 2
    assert "model file not found" in capsys.readouterr().err


def test_many_sources_train_balanced_and_report_per_source(tiny_sources, tmp_path, capsys):
    out = tmp_path / "multi"
    code = train.main(["--data", str(tiny_sources), "--out", str(out), "--weights", "none", "--epochs", "1",
                       "--steps-per-epoch", "3", "--exclude-sources", "beta", "--no-recrop", *TINY_ARGS])
    assert code == 0
    printed = capsys.readouterr().out
    assert "gamma          no_mask" in printed and "beta" not in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["test_per_source"]) == {"alpha", "gamma"}
    assert metrics["epochs_run"] == 1


def test_training_mirrored_over_two_logical_cpus(tiny_sources, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "mirrored"
    done = subprocess.run(
        [sys.executable, "-m", "maskdet", "train", "--data", str(tiny_sources), "--out", str(out), "--weights", "none",
         "--epochs", "1", "--steps-per-epoch", "2", "--no-recrop", "--cpu-devices", "2", *TINY_ARGS],
        capture_output=True, text=True, timeout=300, cwd=str(REPO_ROOT))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "strategy: MirroredStrategy, 2 replica(s)" in done.stdout
    assert model_info(load_model(out / "model.keras")).input_size == TINY_SIZE
