"""Which images belong together, so that a split never separates them: copies of one photo and photos of
one person by file-name family, groups a source's manifest names, and near-duplicates found by a
perceptual hash that also matches mirror images."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Iterable, Optional, Sequence

import cv2
import numpy as np

from maskdet.data.samples import Sample

HASH_MAX_DISTANCE = 6
"""Two 64-bit perceptual hashes this close (in bits) mark near-duplicate photos."""

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
