import json

import pytest

from maskdet.training import crossval
from maskdet.data.sources import SourceError
from tests.conftest import TINY_SIZE, TINY_WIDTH

TINY_TRAIN = ["--weights", "none", "--input-size", str(TINY_SIZE), "--width", str(TINY_WIDTH), "--batch-size", "8",
              "--epochs", "1", "--steps-per-epoch", "2", "--no-recrop", "--no-jit"]


def test_fold_specs():
    sources = ["alpha", "beta", "gamma"]
    assert crossval.parse_folds(None, sources) == {"alpha": ("alpha",), "beta": ("beta",), "gamma": ("gamma",)}
    assert crossval.parse_folds(["x=alpha,beta", "y=gamma"], sources) == {"x": ("alpha", "beta"), "y": ("gamma",)}
    with pytest.raises(SourceError, match="delta"):
        crossval.parse_folds(["x=delta"], sources)
    with pytest.raises(SourceError, match="NAME=SOURCE"):
        crossval.parse_folds(["alpha"], sources)
    in_folds = [s for fold in crossval.DEFAULT_FOLDS.values() for s in fold]
    assert len(in_folds) == len(set(in_folds)) == 10
    assert crossval.parse_folds(None, in_folds + ["face-mask"]) == crossval.DEFAULT_FOLDS
    # the project's data also holds improper (worn-wrong faces): in no fold, the folds stay the same
    assert crossval.parse_folds(None, in_folds + ["face-mask", "improper"]) == crossval.DEFAULT_FOLDS


def test_excluded_sources_add_up_so_a_fold_never_trains_on_its_held_out_source():
    from maskdet.training.recipe import parse_args

    argv = ["--data", "x", "--exclude-sources", "webcam", "yawning", "--exclude-sources", "improper"]
    assert parse_args(argv).exclude_sources == ["webcam", "yawning", "improper"]
    assert parse_args(["--data", "x"]).exclude_sources == []


def test_every_source_is_scored_once_by_a_model_that_never_saw_it(tiny_sources, tmp_path, capsys):
    out = tmp_path / "cv"
    # gamma holds unmasked faces only: its fold is scored on one class
    argv = ["--data", str(tiny_sources), "--out", str(out), "--fold", "a=alpha", "--fold", "g=gamma", "--", *TINY_TRAIN]
    assert crossval.main(argv) == 0
    results = json.loads((out / "heldout.json").read_text())
    band = results.pop("unsure_band")
    temperature = results.pop("unseen_temperature")
    assert set(temperature["leave_one_fold_out_factors"]) == {"a", "g"} and temperature["factor"] > 0
    assert set(temperature["test_with_factor"]["ece_per_source"]) == {"alpha", "gamma"}
    held_out_val = sum(m["n_images"] for fold in results.values() for m in fold["val"].values())
    assert band["faces"] == held_out_val > 0  # chosen on every fold's unseen val images together
    assert band["band"][0] <= 0.5 <= band["band"][1] and 0.0 <= band["share_unsure"] <= 1.0
    assert {fold: sorted(r["test"]) for fold, r in results.items()} == {"a": ["alpha"], "g": ["gamma"]}
    assert results["g"]["test"]["gamma"]["per_class"]["mask"]["support"] == 0
    for fold in results.values():
        for split in ("val", "test"):
            assert all(not m["seen_in_training"] for m in fold[split].values())
    command = json.loads((out / "a" / "metrics.json").read_text())["command"]
    assert command.startswith("python -m maskdet train --data ") and "--exclude-sources alpha" in command
    trained_on = (out / "a" / "split.csv").read_text()
    assert "alpha," not in trained_on and "beta," in trained_on and "gamma," in trained_on
    printed = capsys.readouterr().out
    assert "| alpha |" in printed and "temperature factor fitted on unseen sources" in printed
    model_time = (out / "a" / "model.keras").stat().st_mtime
    assert crossval.main(argv) == 0  # finished folds are reused, not retrained
    assert (out / "a" / "model.keras").stat().st_mtime == model_time
