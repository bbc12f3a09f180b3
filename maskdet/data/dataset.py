"""Dataset reading and leak-free splitting, over one or many sources.

Each source (see maskdet.data.sources) is split on its own, 70/15/15 per class, by group: copies of one
photo, photos of one person (file-name families, manifest groups) and near-duplicates found by a
perceptual hash that also matches mirror images always land in one split (maskdet.data.grouping finds
the groups, maskdet.data.splitting places them and saves the split). Images are optionally
re-cropped the way the app crops faces (maskdet.data.recrop) before being resized to the model input.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

import numpy as np

from maskdet.config import CLASS_FOLDERS, CLASS_NAMES, REQUIRED_FOLDERS
from maskdet.core.faces import CROP_SCALE
from maskdet.core.images import ImageError, load_image, resize_square
from maskdet.data.grouping import group_samples, perceptual_hashes
from maskdet.data.recrop import FaceLocator, FramedCrop, frame_crop
from maskdet.data.samples import DatasetError, Sample, scan_dataset
from maskdet.data.sources import DataSource, SourceError, discover_sources
from maskdet.data.splitting import DEFAULT_FRACTIONS, read_split_csv, split_source

MIN_IMAGES_PER_CLASS = 5

DataPaths = Union[Path, str, Sequence[Union[Path, str]]]


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
        part_splits, from_file = split_source(source, part.samples, part_groups, saved, fractions, seed)
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


def source_roots(data: DataPaths) -> dict[str, Path]:
    """Source name -> folder for the sources at `data` (for write_split_csv)."""
    paths = [Path(data)] if isinstance(data, (str, Path)) else [Path(p) for p in data]
    return {source.name: source.root for source in discover_sources(paths)}
