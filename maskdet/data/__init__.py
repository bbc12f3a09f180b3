"""Training data: sources, loading and leak-free splitting, re-cropping as the app crops faces,
augmentation and balanced batches.

sources (folders of classes, manifests' groups), dataset (reading, grouping, splitting per
source), recrop (YuNet re-crops, cached), augment (against shortcuts), batches (source- and
class-balanced).

Layer: may import maskdet.core, maskdet.render and maskdet.config (not video, evaluation, training
or web).
"""
