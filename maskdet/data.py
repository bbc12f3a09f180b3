"""Dataset reading and leak-free splitting.

A dataset is a folder with `with_mask/` and `without_mask/` sub-folders. Copies of one photo and
photos of one person are grouped (by file-name family and by a perceptual hash that also matches
mirror images) and every group lands in exactly one of train / val / test.
"""

from __future__ import annotations

import csv
import re
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

import cv2
import numpy as np

from maskdet.config import CLASS_FOLDERS, CLASS_NAMES, IMAGE_EXTENSIONS
from maskdet.images import ImageError, load_image, resize_square

SPLITS = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.70, 0.15, 0.15)
MIN_IMAGES_PER_CLASS = 5
HASH_MAX_DISTANCE = 6
"""Two 64-bit perceptual hashes this close (in bits) mark near-duplicate photos."""


class DatasetError(ValueError):
    """The dataset folder is missing, incomplete, or too small to split."""


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int


@dataclass
class LoadedDataset:
    """Decoded images at the model's input size, with their labels, groups and splits."""

    samples: list[Sample]
    images: np.ndarray
    groups: list[str]
    splits: list[str]

    def subset(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        index = [i for i, s in enumerate(self.splits) if s == split]
        labels = np.array([self.samples[i].label for i in index], dtype=np.int32)
        return self.images[index], labels


def scan_dataset(root: Path) -> list[Sample]:
    """List the image files of each class folder, sorted for reproducibility."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root}")
    samples = []
    for folder, label in CLASS_FOLDERS.items():
        class_dir = root / folder
        if not class_dir.is_dir():
            raise DatasetError(
                f"{root} has no '{folder}/' folder; expected sub-folders: {', '.join(CLASS_FOLDERS)}"
            )
        files = sorted(p for p in class_dir.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
        samples += [Sample(p, label) for p in files]
    return samples


def load_dataset(
    root: Path,
    input_size: int,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    split_csv: Optional[Path] = None,
) -> LoadedDataset:
    """Read, decode and split a dataset folder. With `split_csv`, reuse a saved split instead."""
    samples = scan_dataset(root)
    images, hashes, kept, failed = [], [], [], []
    for sample in samples:
        try:
            image = load_image(sample.path)
        except ImageError as err:
            failed.append(str(err))
            continue
        images.append(resize_square(image, input_size))
        hashes.append(perceptual_hashes(image))
        kept.append(sample)
    if failed:
        warnings.warn(f"skipped {len(failed)} unreadable image(s): " + "; ".join(failed), stacklevel=2)
    _check_class_counts(kept, root)
    if split_csv is not None:
        groups, splits = read_split_csv(split_csv, kept, Path(root))
    else:
        groups = group_samples(kept, np.array(hashes, dtype=np.uint64).reshape(-1, 2))
        splits = split_groups(kept, groups, fractions, seed)
    return LoadedDataset(kept, np.stack(images), groups, splits)


def _check_class_counts(samples: list[Sample], root: Path) -> None:
    counts = np.bincount([s.label for s in samples], minlength=len(CLASS_NAMES))
    for folder, label in CLASS_FOLDERS.items():
        if counts[label] < MIN_IMAGES_PER_CLASS:
            raise DatasetError(
                f"{root / folder} has {counts[label]} readable image(s); at least "
                f"{MIN_IMAGES_PER_CLASS} per class are needed to train and evaluate"
            )


# --- grouping -------------------------------------------------------------------------------

_COPY_SUFFIX = re.compile(r"(\s+copy(\s+\d+)*|\s*\(\d+\))+$", re.IGNORECASE)
_CLASH_SUFFIX = re.compile(r"-(png|jpe?g|bmp|webp)$", re.IGNORECASE)
_PERSON_NAME = re.compile(r"^\d+_\d+_(?P<person>[^\d_][^_]*)_\d+$")
_UPLOADER_ID = re.compile(r"^\d+_\d+_(?P<uploader>[0-9A-Za-z]{8})[0-9A-Za-z]{20,}$")
_AUGMENTED = re.compile(r"^augmented_", re.IGNORECASE)


def name_family(path: Path, label: int) -> str:
    """The group a file name implies: copies, per-person names and augmented sets share one."""
    stem = unicodedata.normalize("NFC", path.stem)
    stem = _CLASH_SUFFIX.sub("", stem)
    stem = _COPY_SUFFIX.sub("", stem).strip()
    if match := _PERSON_NAME.match(stem):
        return f"person:{match['person'].lower()}"
    if match := _UPLOADER_ID.match(stem):
        return f"uploader:{match['uploader']}"
    if _AUGMENTED.match(stem):
        return f"augmented:{label}"
    return f"name:{label}:{stem.lower()}"


def perceptual_hashes(image: np.ndarray) -> tuple[int, int]:
    """64-bit DCT hashes of the image and of its mirror image."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    return _dct_hash(small), _dct_hash(small[:, ::-1].copy())


def _dct_hash(small: np.ndarray) -> int:
    low = cv2.dct(small)[:8, :8].flatten()
    bits = low > np.median(low[1:])
    return int(np.packbits(bits).view(">u8")[0])


def group_samples(samples: list[Sample], hashes: np.ndarray) -> list[str]:
    """Union of name families and perceptual-hash near-duplicates; returns a group id per sample."""
    parent = list(range(len(samples)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        parent[find(i)] = find(j)

    families = [name_family(sample.path, sample.label) for sample in samples]
    first_with_family: dict[str, int] = {}
    for i, family in enumerate(families):
        union(i, first_with_family.setdefault(family, i))
    for i, j in near_duplicate_pairs(hashes):
        union(i, j)
    return [families[find(i)] for i in range(len(samples))]


def near_duplicate_pairs(hashes: np.ndarray) -> Iterable[tuple[int, int]]:
    """Index pairs whose hashes (plain vs plain, or plain vs mirrored) differ in few bits."""
    plain, mirrored = hashes[:, 0], hashes[:, 1]
    for i in range(len(plain) - 1):
        rest = slice(i + 1, None)
        distance = np.minimum(_popcount(plain[rest] ^ plain[i]), _popcount(mirrored[rest] ^ plain[i]))
        for j in np.nonzero(distance <= HASH_MAX_DISTANCE)[0]:
            yield i, i + 1 + int(j)


def _popcount(values: np.ndarray) -> np.ndarray:
    return np.unpackbits(values.astype(">u8").view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)


# --- splitting ------------------------------------------------------------------------------

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


def write_split_csv(path: Path, dataset: LoadedDataset, root: Path) -> None:
    """Save file -> label, group, split so evaluation can reuse the exact split."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "label", "class", "group", "split"])
        for sample, group, split in zip(dataset.samples, dataset.groups, dataset.splits):
            rel = sample.path.relative_to(root).as_posix()
            writer.writerow([rel, sample.label, CLASS_NAMES[sample.label], group, split])


def read_split_csv(path: Path, samples: list[Sample], root: Path) -> tuple[list[str], list[str]]:
    """Groups and splits for `samples` from a saved split CSV; files it does not list are an error."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = {row["file"]: row for row in csv.DictReader(handle)}
    groups, splits = [], []
    for sample in samples:
        row = rows.get(sample.path.relative_to(root).as_posix())
        if row is None:
            raise DatasetError(f"{sample.path} is not listed in the split file {path}")
        groups.append(row["group"])
        splits.append(row["split"])
    return groups, splits
