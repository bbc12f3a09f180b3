"""Dataset sources: which folders hold training data, what each is called, and its known groups.

A *source* is a folder with `with_mask/` and/or `without_mask/` (one class is allowed: several
public sources hold only unmasked faces). `--data` takes sources, roots whose sub-folders are
sources, or both. A `manifest.csv` with a `group` column (person, recording or photo) is honoured
so that one person never sits on both sides of a split.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence

from maskdet.config import CLASS_FOLDERS

MANIFEST = "manifest.csv"


class SourceError(ValueError):
    """A data path holds no usable source, or a named source does not exist."""


@dataclass(frozen=True)
class DataSource:
    """One folder of face images from one origin. `groups` maps a file (relative, POSIX) to the
    group its manifest gives it; files the manifest does not name are grouped by name and hash."""

    name: str
    root: Path
    groups: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def classes(self) -> tuple[str, ...]:
        """The class folders this source has, e.g. ("without_mask",)."""
        return tuple(folder for folder in CLASS_FOLDERS if (self.root / folder).is_dir())


def is_source(path: Path) -> bool:
    return any((path / folder).is_dir() for folder in CLASS_FOLDERS)


def discover_sources(paths: Sequence[Path], include: Optional[Iterable[str]] = None,
                     exclude: Iterable[str] = ()) -> list[DataSource]:
    """Sources found at `paths` (each a source or a root of sources), filtered by name."""
    found: list[DataSource] = []
    for path in map(Path, paths):
        if not path.is_dir():
            raise SourceError(f"dataset folder not found: {path}")
        roots = [path] if is_source(path) else sorted(p for p in path.iterdir() if p.is_dir() and is_source(p))
        if not roots:
            raise SourceError(
                f"{path} has no '{'/, '.join(CLASS_FOLDERS)}/' folder and no sub-folder that has one")
        found += [DataSource(root.name, root, read_manifest_groups(root)) for root in roots]
    _check_unique_names(found)
    return filter_sources(found, include, exclude)


def filter_sources(sources: list[DataSource], include: Optional[Iterable[str]] = None,
                   exclude: Iterable[str] = ()) -> list[DataSource]:
    """Keep the sources named in `include` (all when None), minus those in `exclude`."""
    names = {source.name for source in sources}
    wanted = set(include) if include is not None else set(names)
    unknown = (wanted | set(exclude)) - names
    if unknown:
        raise SourceError(f"unknown source(s): {', '.join(sorted(unknown))}; found: {', '.join(sorted(names))}")
    kept = [source for source in sources if source.name in wanted and source.name not in set(exclude)]
    if not kept:
        raise SourceError("no source left to use after --sources/--exclude-sources")
    return kept


def _check_unique_names(sources: list[DataSource]) -> None:
    seen: dict[str, Path] = {}
    for source in sources:
        if source.name in seen:
            raise SourceError(f"two sources are called '{source.name}': {seen[source.name]} and {source.root}")
        seen[source.name] = source.root


def read_manifest_groups(root: Path) -> dict[str, str]:
    """file -> group from `root/manifest.csv` when it has `file` and `group` columns, else {}."""
    manifest = root / MANIFEST
    if not manifest.is_file():
        return {}
    with open(manifest, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not {"file", "group"} <= set(reader.fieldnames or ()):
            return {}
        return {row["file"]: row["group"] for row in reader if row["group"]}
