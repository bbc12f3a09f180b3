"""Training data: sources, loading and leak-free splitting, re-cropping as the app crops faces,
augmentation and balanced batches.

sources (folders of classes, manifests' groups), samples (a dataset's files), dataset (reading
per source), grouping (name families, near-duplicates), splitting (groups to splits, split.csv), recrop (YuNet re-crops, cached), augment (against shortcuts), batches (source- and
class-balanced).

Layer: may import maskdet.core, maskdet.render and maskdet.config (not video, evaluation, training
or web).
"""
