import shutil

import pytest

from maskdet.data.sources import SourceError, discover_sources, filter_sources, read_manifest_groups


def test_a_root_of_sources_and_a_single_source_can_be_mixed(tiny_sources, tiny_dataset):
    found = discover_sources([tiny_sources, tiny_dataset])
    assert [s.name for s in found] == ["alpha", "beta", "gamma", tiny_dataset.name]
    assert found[2].classes == ("without_mask",)
    assert found[0].classes == ("without_mask", "with_mask")


def test_sources_can_be_chosen_and_left_out_by_name(tiny_sources):
    assert [s.name for s in discover_sources([tiny_sources], include=["beta", "gamma"], exclude=["gamma"])] == ["beta"]
    with pytest.raises(SourceError, match="unknown source.*delta"):
        discover_sources([tiny_sources], exclude=["delta"])
    with pytest.raises(SourceError, match="no source left"):
        filter_sources(discover_sources([tiny_sources]), include=["alpha"], exclude=["alpha"])


def test_manifest_groups_are_read_when_the_column_exists(tiny_sources, tmp_path):
    groups = read_manifest_groups(tiny_sources / "alpha")
    assert len(groups) == 36 and set(groups.values()) == {f"person{i}" for i in range(6)}
    (tmp_path / "manifest.csv").write_text("file,class\nwith_mask/a.jpg,with_mask\n")
    assert read_manifest_groups(tmp_path) == {}


def test_bad_paths_say_what_is_wrong(tmp_path, tiny_sources):
    with pytest.raises(SourceError, match="not found"):
        discover_sources([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no sub-folder"):
        discover_sources([tmp_path / "empty"])
    shutil.copytree(tiny_sources / "beta", tmp_path / "other" / "beta")
    with pytest.raises(SourceError, match="two sources are called 'beta'"):
        discover_sources([tiny_sources, tmp_path / "other"])
