"""Training: train (`maskdet train`, resumable) and crossval (`maskdet crossval`, held-out-source
folds). train's parts: recipe (its options and their defaults), checkpoints (the files --resume
reads), report (what a finished run writes: model.keras, metrics.json, curves), new_class (one more
class on a frozen model: --new-class-only).

Layer: may import maskdet.evaluation and everything below it (data, video, core, render, config);
never web or bench.
"""
