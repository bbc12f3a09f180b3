"""The one `maskdet` command: `maskdet SUBCOMMAND [options]`, or `python -m maskdet SUBCOMMAND` from
a checkout. Each subcommand is the `main` of its module, imported only when it runs, so that
`maskdet --help` answers at once; `maskdet SUBCOMMAND --help` shows its options."""

from __future__ import annotations

import importlib
import sys
from typing import Optional

SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "predict": ("maskdet.predict", "command", "classify the faces in photos, folders and videos"),
    "train": ("maskdet.training.train", "main", "train the classifier (resumable)"),
    "evaluate": ("maskdet.evaluation.evaluate", "main", "evaluate a model per source, with figures"),
    "crossval": ("maskdet.training.crossval", "main", "held-out-source folds: train and evaluate each"),
    "compare-folds": ("maskdet.evaluation.fold_compare", "main", "compare recipes on their held-out-source folds"),
    "bench": ("maskdet.bench", "command", "the speed benchmark (photo, app, live and video figures)"),
    "detector-eval": ("maskdet.evaluation.detector_eval", "main", "measure the face detector's operating point"),
    "size-eval": ("maskdet.evaluation.size_eval", "main", "accuracy by face size (the minimum face size)"),
}
"""name -> (module, function taking argv and returning an exit code, one-line help)."""


def usage() -> str:
    width = max(map(len, SUBCOMMANDS))
    lines = [f"  {name:<{width}}  {text}" for name, (_, _, text) in SUBCOMMANDS.items()]
    return ("usage: maskdet SUBCOMMAND [options]   (or: python -m maskdet SUBCOMMAND [options])\n\n"
            "Face-mask detection with VGG16 and per-face Grad-CAM explanations.\n\nsubcommands:\n"
            + "\n".join(lines) + "\n\n`maskdet SUBCOMMAND --help` shows a subcommand's options.")


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    if argv[0] == "--version":
        from maskdet import __version__

        print(f"maskdet {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"maskdet: unknown subcommand {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module, function, _ = SUBCOMMANDS[name]
    return getattr(importlib.import_module(module), function)(rest) or 0


if __name__ == "__main__":
    sys.exit(main())
