"""Splitting by group: whole groups go to train, val or test, each class near the target fractions;
a saved split (split.csv) is written and read back so evaluation and resumed runs reuse it exactly."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from maskdet.config import CLASS_NAMES
from maskdet.data.samples import DatasetError, Sample
from maskdet.data.sources import DataSource

if TYPE_CHECKING:
    from maskdet.data.dataset import LoadedDataset

SPLITS = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.70, 0.15, 0.15)


def split_groups(
    samples: list[Sample], groups: list[str], fractions: Sequence[float], seed: int
) -> list[str]:
    """Assign whole groups to splits, keeping each class near the target fractions.

    Largest groups go first (they are the hardest to place); equal sizes are ordered by the seed.
    """
    fractions = np.asarray(fractions, dtype=np.float64) / np.sum(fractions)
    members: dict[str, list[int]] = {}
    for i, group in enumerate(groups):
        members.setdefault(group, []).append(i)
    rng = np.random.default_rng(seed)
    names = list(members)
    order = rng.permutation(len(names))
    names = sorted((names[k] for k in order), key=lambda g: -len(members[g]))
    totals = np.bincount([s.label for s in samples], minlength=len(CLASS_NAMES)).astype(np.float64)
    targets = fractions[:, None] * totals[None, :]
    counts = np.zeros_like(targets)
    split_of_group = {}
    for name in names:
        group_counts = np.bincount([samples[i].label for i in members[name]], minlength=len(CLASS_NAMES))
        deficit = ((targets - counts) / np.maximum(targets, 1.0) * group_counts).sum(axis=1)
        chosen = int(np.argmax(deficit))
        counts[chosen] += group_counts
        split_of_group[name] = SPLITS[chosen]
    return [split_of_group[g] for g in groups]


def write_split_csv(path: Path, dataset: LoadedDataset, roots: dict[str, Path]) -> None:
    """Save source, file -> label, group, split so evaluation can reuse the exact split.
    `roots` maps each source name to its folder (file paths are stored relative to it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["source", "file", "label", "class", "group", "split"])
        for sample, group, split in zip(dataset.samples, dataset.groups, dataset.splits):
            rel = sample.path.relative_to(roots[sample.source]).as_posix()
            writer.writerow([sample.source, rel, sample.label, CLASS_NAMES[sample.label], group, split])


def read_split_csv(path: Path) -> dict[tuple[str, str], str]:
    """(source, file) -> split from a saved split CSV. Files written before sources existed have no
    source column: their rows match any single source."""
    if not Path(path).is_file():
        raise DatasetError(f"split file not found: {path}")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if rows and "source" not in rows[0]:
        return _AnySource({row["file"]: row["split"] for row in rows})
    return {(row["source"], row["file"]): row["split"] for row in rows}


class _AnySource(dict):
    """A legacy split table keyed by file only; looked up with (source, file) keys."""

    def __contains__(self, key: object) -> bool:
        return isinstance(key, tuple) and super().__contains__(key[1])

    def __getitem__(self, key: tuple[str, str]) -> str:
        return super().__getitem__(key[1])


def split_source(source: DataSource, samples: list[Sample], groups: list[str], saved: dict,
                  fractions: Sequence[float], seed: int) -> tuple[list[str], bool]:
    """(splits, whether they came from the split file): the saved split for this source when the
    split file lists it, else a fresh seeded one."""
    keys = [(source.name, s.path.relative_to(source.root).as_posix()) for s in samples]
    listed = [key in saved for key in keys]
    if not any(listed):
        return split_groups(samples, groups, fractions, seed), False
    splits = [saved[key] if ok else "" for key, ok in zip(keys, listed)]
    if not all(listed):
        _split_files_added_later(samples, groups, splits, fractions, seed)
    return splits, True


def _split_files_added_later(samples: list[Sample], groups: list[str], splits: list[str],
                             fractions: Sequence[float], seed: int) -> None:
    """Give files a saved split does not list (added to a source later, e.g. a new class) a split in
    place: the split of their group when the group was already placed, a fresh group split otherwise,
    so that a person already in the test split never lands in training."""
    placed = {group: split for group, split in zip(groups, splits) if split}
    new = [i for i, split in enumerate(splits) if not split and groups[i] not in placed]
    fresh = split_groups([samples[i] for i in new], [groups[i] for i in new], fractions, seed) if new else []
    placed.update({groups[i]: split for i, split in zip(new, fresh)})
    for i, split in enumerate(splits):
        if not split:
            splits[i] = placed[groups[i]]
