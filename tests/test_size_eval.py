"""The minimum-face-size measurement reads one source's rows from a split file of several."""

from maskdet.evaluation import size_eval
from maskdet.data.dataset import load_dataset, source_roots
from maskdet.data.splitting import write_split_csv


def test_size_eval_uses_only_the_named_source_of_a_multi_source_split(tiny_sources, tiny_model_file, tmp_path, capsys):
    dataset = load_dataset([tiny_sources], 32, seed=0)
    split = tmp_path / "split.csv"
    write_split_csv(split, dataset, source_roots([tiny_sources]))
    beta_test = [i for i in dataset.indices("test") if dataset.samples[i].source == "beta"]
    assert size_eval.main(["--data", str(tiny_sources / "beta"), "--model", str(tiny_model_file), "--split", str(split)]) == 0
    printed = capsys.readouterr().out
    assert f"on {len(beta_test)} test photos" in printed
    assert "24 px" in printed and "full size" in printed


def test_size_eval_says_when_the_source_has_no_rows(tiny_sources, tiny_model_file, tmp_path, capsys):
    dataset = load_dataset([tiny_sources], 32, seed=0)
    split = tmp_path / "split.csv"
    write_split_csv(split, dataset, source_roots([tiny_sources]))
    assert size_eval.main(["--data", str(tmp_path / "elsewhere"), "--model", str(tiny_model_file), "--split", str(split)]) == 2
    assert "no 'test' photos of source 'elsewhere'" in capsys.readouterr().out
