"""Training: train (`maskdet train`, resumable) and crossval (`maskdet crossval`, held-out-source
folds).

Layer: may import maskdet.evaluation and everything below it (data, video, core, render, config);
never web or bench.
"""
