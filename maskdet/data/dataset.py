"""Dataset reading and leak-free splitting, over one or many sources.

Each source (see maskdet.data.sources) is split on its own, 70/15/15 per class, by group: copies of one
photo, photos of one person (file-name families, manifest groups) and near-duplicates found by a
perceptual hash that also matches mirror images always land in one split. Images are optionally
re-cropped the way the app crops faces (maskdet.data.recrop) before being resized to the model input.
"""

from __future__ import annotations

import csv
import re
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

import cv2
import numpy as np

from maskdet.config import CLASS_FOLDERS, CLASS_NAMES, IMAGE_EXTENSIONS, REQUIRED_FOLDERS
from maskdet.core.faces import CROP_SCALE
from maskdet.core.images import ImageError, load_image, resize_square
from maskdet.data.recrop import FaceLocator, FramedCrop, frame_crop
from maskdet.data.sources import DataSource, SourceError, discover_sources

SPLITS = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.70, 0.15, 0.15)
MIN_IMAGES_PER_CLASS = 5
HASH_MAX_DISTANCE = 6
"""Two 64-bit perceptual hashes this close (in bits) mark near-duplicate photos."""

DataPaths = Union[Path, str, Sequence[Union[Path, str]]]


class DatasetError(ValueError):
    """The dataset folder is missing, incomplete, or too small to split."""


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int
    source: str = ""


@dataclass
class LoadedDataset:
    """Decoded crops at the model's input size, with labels, sources, groups and splits.

    `landmarks` (N, 5, 2) are YuNet's points in crop coordinates scaled to [0, 1] (NaN where no face
    was found or no detector was used); `face_fraction` is the face box side over the crop side."""

    samples: list[Sample]
    images: np.ndarray
    groups: list[str]
    splits: list[str]
    landmarks: np.ndarray = field(default=None, repr=False)
    face_fraction: np.ndarray = field(default=None, repr=False)
    raw_face_fraction: np.ndarray = field(default=None, repr=False)
    seen_sources: set[str] = field(default_factory=set)
    """Sources whose split came from a saved split file: the ones a model was trained on."""

    def __post_init__(self) -> None:
        count = len(self.samples)
        if self.landmarks is None:
            self.landmarks = np.full((count, 5, 2), np.nan, np.float32)
        if self.face_fraction is None:
            self.face_fraction = np.full(count, np.nan, np.float32)
        if self.raw_face_fraction is None:
            self.raw_face_fraction = np.full(count, np.nan, np.float32)

    @property
    def labels(self) -> np.ndarray:
        return np.array([sample.label for sample in self.samples], dtype=np.int32)

    @property
    def sources(self) -> list[str]:
        return [sample.source for sample in self.samples]

    def source_names(self) -> list[str]:
        """Sources in the order they were loaded."""
        return list(dict.fromkeys(self.sources))

    def indices(self, split: Optional[str] = None, sources: Optional[Iterable[str]] = None) -> np.ndarray:
        """Positions of the samples in `split` (all splits when None) from `sources` (all when None)."""
        wanted = None if sources is None else set(sources)
        return np.array([i for i, (s, sample) in enumerate(zip(self.splits, self.samples))
                         if (split is None or s == split) and (wanted is None or sample.source in wanted)],
                        dtype=np.int64)

    def subset(self, split: str, sources: Optional[Iterable[str]] = None) -> tuple[np.ndarray, np.ndarray]:
        index = self.indices(split, sources)
        return self.images[index], self.labels[index]


def scan_dataset(root: Path, source: str = "", require_both: bool = True) -> list[Sample]:
    """List the image files of each class folder, sorted for reproducibility."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root}")
    samples = []
    for folder, label in CLASS_FOLDERS.items():
        class_dir = root / folder
        if not class_dir.is_dir():
            if require_both and folder in REQUIRED_FOLDERS:
                raise DatasetError(
                    f"{root} has no '{folder}/' folder; expected sub-folders: {', '.join(REQUIRED_FOLDERS)} "
                    "(and optionally incorrect_mask/)")
            continue
        files = sorted(p for p in class_dir.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
        samples += [Sample(p, label, source) for p in files]
    return samples


def load_dataset(
    data: DataPaths,
    input_size: int,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    split_csv: Optional[Path] = None,
    locator: Optional[FaceLocator] = None,
    crop_scale: float = CROP_SCALE,
    include: Optional[Iterable[str]] = None,
    exclude: Iterable[str] = (),
    both_classes: bool = True,
) -> LoadedDataset:
    """Read, (re-crop,) decode and split every source at `data`. With `split_csv`, sources it lists
    keep their saved split; sources it does not list get the split a training run would give them.
    Training needs both classes; scoring (both_classes=False) takes sources of one class, such as a
    fold of unmasked-only sources."""
    paths = [Path(data)] if isinstance(data, (str, Path)) else [Path(p) for p in data]
    try:
        sources = discover_sources(paths, include, exclude)
    except SourceError as err:
        raise DatasetError(str(err)) from err
    saved = read_split_csv(split_csv) if split_csv is not None else {}
    parts = [_load_source(source, input_size, locator, crop_scale, both_classes and len(sources) == 1)
             for source in sources]
    if locator is not None:
        locator.save()
    samples = [sample for part in parts for sample in part.samples]
    _check_class_counts(samples, paths, both_classes)
    groups, splits, seen = [], [], set()
    for source, part in zip(sources, parts):
        part_groups = _group_source(source, part)
        groups += part_groups
        part_splits, from_file = _split_source(source, part.samples, part_groups, saved, fractions, seed)
        splits += part_splits
        seen |= {source.name} if from_file else set()
    return LoadedDataset(
        samples, np.concatenate([part.images for part in parts if len(part.samples)]), groups, splits,
        np.concatenate([part.landmarks for part in parts]), np.concatenate([part.face_fraction for part in parts]),
        np.concatenate([part.raw_face_fraction for part in parts]), seen)


@dataclass
class _SourcePart:
    samples: list[Sample]
    images: np.ndarray
    hashes: np.ndarray
    landmarks: np.ndarray
    face_fraction: np.ndarray
    raw_face_fraction: np.ndarray


def _load_source(source: DataSource, input_size: int, locator: Optional[FaceLocator], crop_scale: float,
                 only_source: bool) -> _SourcePart:
    """Decode one source's images; unreadable files are skipped with one warning."""
    try:
        scanned = scan_dataset(source.root, source.name, require_both=only_source)
    except DatasetError as err:
        raise DatasetError(str(err)) from err
    kept, framed, hashes, failed = [], [], [], []
    for sample in scanned:
        try:
            image = load_image(sample.path)
        except ImageError as err:
            failed.append(str(err))
            continue
        face = locator.locate(source.root, sample.path, image) if locator is not None else None
        crop = frame_crop(image, face, crop_scale)
        framed.append(FramedCrop(resize_square(crop.image, input_size), crop.landmarks, crop.face_fraction,
                                 crop.raw_face_fraction))
        hashes.append(perceptual_hashes(image))
        kept.append(sample)
    if failed:
        warnings.warn(f"skipped {len(failed)} unreadable image(s): " + "; ".join(failed), stacklevel=3)
    empty = np.zeros((0, input_size, input_size, 3), np.uint8)
    return _SourcePart(
        kept, np.stack([f.image for f in framed]) if framed else empty,
        np.array(hashes, dtype=np.uint64).reshape(-1, 2),
        np.array([f.landmarks for f in framed], np.float32).reshape(-1, 5, 2),
        np.array([f.face_fraction for f in framed], np.float32),
        np.array([f.raw_face_fraction for f in framed], np.float32))


def _group_source(source: DataSource, part: _SourcePart) -> list[str]:
    """Group ids, prefixed by the source name so groups of different sources never merge."""
    known = [source.groups.get(s.path.relative_to(source.root).as_posix()) for s in part.samples]
    prefix = f"{source.name}/" if source.name else ""
    return [prefix + g for g in group_samples(part.samples, part.hashes, known)]


def _split_source(source: DataSource, samples: list[Sample], groups: list[str], saved: dict,
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


def _check_class_counts(samples: list[Sample], paths: list[Path], both_classes: bool) -> None:
    counts = np.bincount([s.label for s in samples], minlength=len(CLASS_NAMES))
    where = ", ".join(str(p) for p in paths)
    if not both_classes:
        if not samples:
            raise DatasetError(f"{where}: no readable images")
        return
    for folder in REQUIRED_FOLDERS:
        label = CLASS_FOLDERS[folder]
        if counts[label] < MIN_IMAGES_PER_CLASS:
            raise DatasetError(
                f"{where}: {counts[label]} readable '{folder}' image(s); at least "
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


def group_samples(samples: list[Sample], hashes: np.ndarray,
                  known: Optional[Sequence[Optional[str]]] = None) -> list[str]:
    """Union of name families, `known` groups (e.g. a manifest's person or recording; None where
    unknown) and perceptual-hash near-duplicates; returns a group id per sample."""
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
    first_in_known: dict[str, int] = {}
    for i, group in enumerate(known or ()):
        if group is not None:
            union(i, first_in_known.setdefault(group, i))
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
    return np.bitwise_count(values.astype(np.uint64))


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


def source_roots(data: DataPaths) -> dict[str, Path]:
    """Source name -> folder for the sources at `data` (for write_split_csv)."""
    paths = [Path(data)] if isinstance(data, (str, Path)) else [Path(p) for p in data]
    return {source.name: source.root for source in discover_sources(paths)}
