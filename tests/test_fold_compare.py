import json

from maskdet.cli import main as maskdet
from maskdet.evaluation.fold_compare import comparison_table, parse_recipe


def figures(accuracy: float, no_mask: int, mask: int) -> dict:
    return {"n_images": no_mask + mask, "accuracy": accuracy, "accuracy_mask_vs_no_mask": accuracy,
            "per_class": {"no_mask": {"recall": accuracy, "support": no_mask}, "mask": {"recall": 1.0, "support": mask}},
            "confident_errors": 0.01, "ece": 0.02}


def write_fold(path, name: str, by_source: dict, val: dict | None = None) -> str:
    path.write_text(json.dumps({name: {"held_out": list(by_source), "val": val or {}, "test": by_source},
                                "unsure_band": None}))
    return str(path)


def test_recipes_are_compared_on_the_sources_all_of_them_scored(tmp_path):
    before = write_fold(tmp_path / "a.json", "f", {"one": figures(0.9, 100, 0), "two": figures(0.5, 50, 50)})
    after = [write_fold(tmp_path / "b.json", "f", {"one": figures(0.95, 100, 0)}),
             write_fold(tmp_path / "c.json", "g", {"two": figures(0.7, 50, 50), "three": figures(1.0, 10, 0)})]
    table = comparison_table(dict([parse_recipe(f"before={before}"), parse_recipe("after=" + ",".join(after))]))
    rows = {line.split(" | ")[0].strip("| *"): line for line in table.splitlines()[2:]}
    assert set(rows) == {"one", "two", "pooled"}  # "three" was scored by one recipe only
    assert "90.0% / 95.0%" in rows["one"] and "50.0% / 70.0%" in rows["two"]
    assert "**70.0%** / **82.5%**" in rows["pooled"]  # weighted by faces: (90 + 50) / 200, (95 + 70) / 200


def test_a_model_metrics_file_counts_as_a_recipe_and_bad_files_get_a_message(tmp_path, capsys):
    model = tmp_path / "metrics.json"
    model.write_text(json.dumps({"held_out_sources": {"per_source": {"one": figures(0.8, 10, 10)}}}))
    folds = write_fold(tmp_path / "heldout.json", "f", {"one": figures(1.0, 10, 10)})
    assert maskdet(["compare-folds", f"shipped={model}", f"new={folds}"]) == 0
    assert "80.0% / 100.0%" in capsys.readouterr().out
    (tmp_path / "empty.json").write_text("{}")
    assert maskdet(["compare-folds", f"x={tmp_path / 'empty.json'}"]) == 2
    assert "neither a crossval heldout.json" in capsys.readouterr().err
    assert maskdet(["compare-folds", "no-label"]) == 2
    assert maskdet(["compare-folds", "--split", "val", f"shipped={model}"]) == 2
    assert "test split only" in capsys.readouterr().err


def test_the_validation_split_can_be_compared_instead(tmp_path):
    folds = write_fold(tmp_path / "h.json", "f", {"one": figures(1.0, 10, 10)}, val={"one": figures(0.6, 10, 10)})
    table = comparison_table(dict([parse_recipe(f"a={folds}", "val"), parse_recipe(f"b={folds}")]))
    assert "60.0% / 100.0%" in table


def test_the_noise_column_says_which_differences_chance_alone_could_make():
    from maskdet.evaluation.fold_compare import noise

    assert noise([0.9, 0.9], 75) == "±10.0%"  # 75 faces: ten points can be luck
    assert noise([0.96, 0.96], 2800) == "±1.0%"
    assert noise([1.0, 1.0], 100) != "±0.0%"  # two perfect scores are still a sample
    assert noise([0.9], 0) == "–"
