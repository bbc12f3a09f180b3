import shutil
from pathlib import Path

import numpy as np
import pytest

from maskdet.data.dataset import load_dataset
from maskdet.data.grouping import name_family, perceptual_hashes
from maskdet.data.samples import DatasetError, Sample, scan_dataset
from maskdet.data.splitting import read_split_csv, write_split_csv
from tests.conftest import make_dataset, synthetic_face


@pytest.mark.parametrize(
    "first, second",
    [
        ("0_0_0 copy 10.jpg", "0_0_0.jpg"),
        ("0_0_0 copy 2 2.jpg", "0_0_0 copy 3.jpg"),
        ("x copy 2-png.jpg", "x.jpg"),
        ("0_0_anhu_0004.jpg", "1_0_anhu_0150.jpg"),
        ("augmented_image_1.jpg", "augmented_image_250.jpg"),
        ("Screenshot (251).jpg", "Screenshot (252).jpg"),
        ("0_0_006ajtxFly1g5eb2v2jmcj30iy0npt9w.jpg", "0_0_006ajtxFly1g5eb2w437yj30jn0ojta1.jpg"),
    ],
)
def test_name_families_group_copies_people_and_augmentations(first, second):
    assert name_family(Path(first), 0) == name_family(Path(second), 0)


def test_distinct_names_stay_apart():
    assert name_family(Path("0_0_1.jpg"), 1) != name_family(Path("0_0_10.jpg"), 1)
    assert name_family(Path("photo.jpg"), 1) != name_family(Path("photo.jpg"), 0)


def test_perceptual_hash_matches_mirror_image():
    image = synthetic_face(np.random.default_rng(3), masked=False, size=64)
    plain, mirrored = perceptual_hashes(image)
    assert perceptual_hashes(image[:, ::-1].copy())[0] == mirrored
    assert plain != mirrored


def test_split_is_leak_free_stratified_and_seeded(tiny_dataset):
    dataset = load_dataset(tiny_dataset, 32, seed=1)
    split_of_group: dict[str, set] = {}
    for group, split in zip(dataset.groups, dataset.splits):
        split_of_group.setdefault(group, set()).add(split)
    assert all(len(splits) == 1 for splits in split_of_group.values())
    stem_of = {i: s.path.stem.split(" copy")[0] for i, s in enumerate(dataset.samples)}
    for i, sample in enumerate(dataset.samples):
        if sample.path.stem.startswith("mirror_"):
            original = sample.path.with_name(f"photo{sample.path.stem.split('_')[1]}.jpg")
            j = [k for k, s in enumerate(dataset.samples) if s.path == original][0]
            assert dataset.groups[i] == dataset.groups[j], "mirror image must join its original"
        copies = [k for k in stem_of if stem_of[k] == stem_of[i] and dataset.samples[k].label == sample.label]
        assert {dataset.splits[k] for k in copies} == {dataset.splits[i]}
    for split in ("train", "val", "test"):
        _, labels = dataset.subset(split)
        assert set(labels.tolist()) == {0, 1}
    again = load_dataset(tiny_dataset, 32, seed=1)
    assert again.splits == dataset.splits


def test_split_csv_round_trip(tiny_dataset, tmp_path):
    dataset = load_dataset(tiny_dataset, 32)
    write_split_csv(tmp_path / "split.csv", dataset, {tiny_dataset.name: tiny_dataset})
    saved = read_split_csv(tmp_path / "split.csv")
    assert [saved[(tiny_dataset.name, s.path.relative_to(tiny_dataset).as_posix())] for s in dataset.samples] \
        == dataset.splits
    reloaded = load_dataset(tiny_dataset, 32, seed=99, split_csv=tmp_path / "split.csv")
    assert reloaded.splits == dataset.splits


def test_unreadable_files_are_skipped_with_one_warning(tiny_dataset, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_dataset, root)
    (root / "with_mask" / "broken.jpg").write_bytes(b"not an image")
    (root / "without_mask" / "empty.PNG").write_bytes(b"")
    (root / "without_mask" / "notes.txt").write_text("ignored: not an image extension")
    with pytest.warns(UserWarning, match=r"skipped 2 unreadable image\(s\)") as caught:
        dataset = load_dataset(root, 32)
    assert len(caught) == 1 and "broken.jpg" in str(caught[0].message) and "empty.PNG" in str(caught[0].message)
    assert len(dataset.samples) == len(scan_dataset(tiny_dataset))


def test_bad_folders_raise_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(tmp_path / "missing", 32)
    (tmp_path / "with_mask").mkdir()
    with pytest.raises(DatasetError, match="without_mask"):
        load_dataset(tmp_path, 32)
    (tmp_path / "without_mask").mkdir()
    with pytest.raises(DatasetError, match="at least 5"):
        load_dataset(tmp_path, 32)


def test_file_names_with_spaces_and_unicode(tmp_path):
    root = make_dataset(tmp_path / "d", photos_per_class=6)
    src = root / "with_mask" / "photo0.jpg"
    shutil.copy(src, root / "with_mask" / "Ünïcode (3) name.JPG")
    assert any("Ünïcode" in s.path.name for s in scan_dataset(root))
    assert Sample(src, 1) in scan_dataset(root)


def test_many_sources_split_each_source_by_its_manifest_groups(tiny_sources):
    dataset = load_dataset(tiny_sources, 32, seed=0)
    assert dataset.source_names() == ["alpha", "beta", "gamma"]
    split_of_group: dict[str, set] = {}
    for group, split in zip(dataset.groups, dataset.splits):
        split_of_group.setdefault(group, set()).add(split)
    assert all(len(splits) == 1 for splits in split_of_group.values())
    assert {g.split("/")[0] for g in dataset.groups} == {"alpha", "beta", "gamma"}
    assert len({g for g in dataset.groups if g.startswith("alpha/")}) == 6  # one group per person
    for source in ("alpha", "gamma"):
        assert {dataset.splits[i] for i in dataset.indices(sources=[source])} == {"train", "val", "test"}
    assert set(dataset.labels[dataset.indices(sources=["gamma"])]) == {0}


def test_a_saved_split_marks_the_sources_a_model_saw(tiny_sources, tmp_path):
    from maskdet.data.dataset import source_roots

    trained = load_dataset(tiny_sources, 32, exclude=["beta"])
    write_split_csv(tmp_path / "split.csv", trained, source_roots(tiny_sources))
    everything = load_dataset(tiny_sources, 32, split_csv=tmp_path / "split.csv")
    assert everything.seen_sources == {"alpha", "gamma"}
    fresh = load_dataset(tiny_sources, 32)
    beta = everything.indices(sources=["beta"])
    assert [everything.splits[i] for i in beta] == [fresh.splits[i] for i in beta]  # as a full run splits it


def test_one_class_alone_is_not_enough(tiny_sources):
    with pytest.raises(DatasetError, match="with_mask"):
        load_dataset(tiny_sources, 32, include=["gamma"])
