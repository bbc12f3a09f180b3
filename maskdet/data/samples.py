"""A dataset's files: the error for a missing or unusable dataset, one labelled image file (Sample),
and listing a source's class folders."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from maskdet.config import CLASS_FOLDERS, IMAGE_EXTENSIONS, REQUIRED_FOLDERS


class DatasetError(ValueError):
    """The dataset folder is missing, incomplete, or too small to split."""


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int
    source: str = ""


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
