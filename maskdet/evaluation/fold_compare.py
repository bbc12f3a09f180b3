"""Compare training recipes on held-out-source folds: one table, a row per held-out source.

Each recipe is LABEL=FILE[,FILE...]: `heldout.json` files written by `maskdet crossval` (a recipe's
folds may come from several runs), or a model's `metrics.json` whose `held_out_sources` holds them.
Only sources every recipe scored are compared, so the pooled row weighs the same faces for each.
The "± noise" column is how far two recipes' accuracies on that many faces can differ by chance
alone (95%); differences inside it are not evidence, and run-to-run training spread comes on top.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Mapping, Optional

from maskdet.evaluation.report import percent

def held_out_figures(path: Path, split: str = "test") -> dict[str, Mapping]:
    """The figures per held-out source, on `split`, that one file holds (a metrics.json: test only)."""
    data = json.loads(path.read_text())
    if "held_out_sources" in data:
        if split != "test":
            raise ValueError(f"{path}: a model's metrics.json holds the held-out test split only")
        return dict(data["held_out_sources"]["per_source"])
    figures: dict[str, Mapping] = {}
    for name, fold in data.items():
        if isinstance(fold, dict) and split in fold:
            figures.update(fold[split])
    if not figures:
        raise ValueError(f"{path}: neither a crossval heldout.json nor a metrics.json with held_out_sources")
    return figures


def parse_recipe(spec: str, split: str = "test") -> tuple[str, dict[str, Mapping]]:
    label, _, files = spec.partition("=")
    if not label or not files:
        raise ValueError(f"expected LABEL=FILE[,FILE...], got {spec!r}")
    figures: dict[str, Mapping] = {}
    for file in files.split(","):
        figures.update(held_out_figures(Path(file), split))
    return label, figures


def recall(metrics: Mapping, class_name: str) -> float:
    per_class = metrics["per_class"].get(class_name, {})
    return per_class.get("recall", math.nan) if per_class.get("support") else math.nan


def two_way(metrics: Mapping) -> tuple[float, int]:
    """Accuracy between mask and no mask, and the faces it counts (worn-wrong faces left out)."""
    faces = sum(metrics["per_class"].get(c, {}).get("support", 0) for c in ("no_mask", "mask"))
    return metrics.get("accuracy_mask_vs_no_mask", metrics["accuracy"]), faces


def comparison_table(recipes: dict[str, dict[str, Mapping]]) -> str:
    """Markdown: per shared source, each recipe's accuracy, recalls, confident errors and ECE
    (cells "first / second / ..." in the recipes' order), then the pooled accuracy."""
    shared = sorted(set.intersection(*(set(figures) for figures in recipes.values())))
    if not shared:
        raise ValueError("the recipes share no held-out source")
    labels = " / ".join(recipes)
    lines = [f"| source | images | accuracy ({labels}) | ± noise | recall no_mask | recall mask | confident errors | ECE |",
             "|---|---|---|---|---|---|---|---|"]
    for source in shared:
        rows = [figures[source] for figures in recipes.values()]
        columns = [[two_way(m)[0] for m in rows],
                   [recall(m, "no_mask") for m in rows], [recall(m, "mask") for m in rows],
                   [m["confident_errors"] for m in rows], [m["ece"] for m in rows]]
        faces = two_way(rows[-1])[1]
        cells = [" / ".join(percent(v) for v in column) for column in columns]
        lines.append(f"| {source} | {faces} | {cells[0]} | {noise(columns[0], faces)} | " + " | ".join(cells[1:]) + " |")
    pooled = [pooled_accuracy(figures, shared) for figures in recipes.values()]
    images = sum(two_way(list(recipes.values())[-1][s])[1] for s in shared)
    lines.append(f"| **pooled** | {images} | " + " / ".join(f"**{percent(v)}**" for v in pooled)
                 + f" | {noise(pooled, images)} | | | | |")
    return "\n".join(lines)


def noise(accuracies: list[float], faces: int) -> str:
    """± the 95% half-width of the difference between two accuracies measured on `faces` faces each,
    taken as independent (conservative for the same faces); the mean accuracy is shrunk towards
    one half by one face each way, so that two perfect scores still show their uncertainty."""
    if faces == 0:
        return "–"
    right = sum(a for a in accuracies if not math.isnan(a)) / max(1, sum(not math.isnan(a) for a in accuracies))
    shrunk = (right * faces + 1) / (faces + 2)
    return f"±{1.96 * math.sqrt(2 * shrunk * (1 - shrunk) / faces):.1%}"


def pooled_accuracy(figures: Mapping[str, Mapping], sources: list[str]) -> float:
    """Accuracy between mask and no mask over all faces of `sources` together."""
    scored = [two_way(figures[s]) for s in sources]
    return sum(accuracy * faces for accuracy, faces in scored) / sum(faces for _, faces in scored)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="maskdet compare-folds", description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs="+", metavar="LABEL=FILE[,FILE...]",
                        help="a recipe's heldout.json files (or a metrics.json with held_out_sources)")
    parser.add_argument("--split", choices=("val", "test"), default="test",
                        help="the held-out sources' split to compare on (decide on val, report test)")
    args = parser.parse_args(argv)
    try:
        recipes = dict(parse_recipe(spec, args.split) for spec in args.recipes)
        print(comparison_table(recipes))
    except (OSError, ValueError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
