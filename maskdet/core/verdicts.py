"""Verdicts: the one place that decides, names and counts them.

A face's verdict is what the app draws and counts. "mask", "worn_wrong" and "no_mask" are given
only when the classifier is sure: its most likely class has a probability above the top of
config.UNSURE_BAND (for a two-class model this is exactly "the mask probability lies outside the
band"). Otherwise the face is "unsure"; a box under config.MIN_FACE_SIZE is "too_small". Photos,
live frames and videos all count and describe verdicts with the functions below.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Optional

from maskdet import config

Box = tuple[int, int, int, int]

DEFINITE = ("mask", "worn_wrong", "no_mask")
"""Verdicts that count as a judgement, in the order headlines list them."""
VERDICTS = (*DEFINITE, "unsure", "too_small")
VERDICT_TEXT = {"mask": "mask", "worn_wrong": "mask worn wrong", "no_mask": "no mask", "unsure": "unsure",
                "too_small": "too small to judge"}
CAPTION_TEXT = {**VERDICT_TEXT, "worn_wrong": "worn wrong", "too_small": "too small"}
"""Shorter words for captions drawn on pictures."""
COUNT_KEYS = {"mask": "masked", "worn_wrong": "worn_wrong", "no_mask": "unmasked", "unsure": "unsure",
              "too_small": "too_small"}
"""Verdict -> its key in JSON and CSV counts ("masked", "unmasked" kept from the two-class API)."""
HEADLINE_PARTS = {"mask": "{} with mask", "worn_wrong": "{} worn wrong", "no_mask": "{} without",
                  "unsure": "{} unsure", "too_small": "{} too small to judge"}


def class_probabilities(prob_mask: float, prob_worn_wrong: Optional[float] = None) -> dict[str, float]:
    """Class -> probability from the two numbers a result keeps (no_mask is the rest)."""
    worn = prob_worn_wrong or 0.0
    probs = {"no_mask": max(0.0, 1.0 - prob_mask - worn), "mask": prob_mask}
    if prob_worn_wrong is not None:
        probs["worn_wrong"] = worn
    return probs


def most_likely(prob_mask: float, prob_worn_wrong: Optional[float] = None) -> str:
    """The classifier's pick (arg-max class)."""
    probs = class_probabilities(prob_mask, prob_worn_wrong)
    return max(probs, key=probs.__getitem__)


def verdict_of(prob_mask: float, box: Box, prob_worn_wrong: Optional[float] = None) -> str:
    """mask / worn_wrong / no_mask / unsure / too_small, from the class probabilities and the box."""
    if min(box[2] - box[0], box[3] - box[1]) < config.MIN_FACE_SIZE:
        return "too_small"
    probs = class_probabilities(prob_mask, prob_worn_wrong)
    best = max(probs, key=probs.__getitem__)
    return "unsure" if probs[best] <= config.UNSURE_BAND[1] else best


def count_verdicts(verdicts: Iterable[str]) -> dict[str, int]:
    """JSON/CSV counts: masked, worn_wrong, unmasked, unsure, too_small."""
    tally = Counter(verdicts)
    return {COUNT_KEYS[verdict]: tally[verdict] for verdict in VERDICTS}


def describe_counts(verdicts: Iterable[str]) -> str:
    """E.g. '5 faces: 2 with mask, 1 worn wrong, 2 without' (worn wrong, unsure and too small only
    when there are any; with mask and without always)."""
    tally = Counter(verdicts)
    total = sum(tally.values())
    parts = [HEADLINE_PARTS[v].format(tally[v]) for v in VERDICTS if tally[v] or v in ("mask", "no_mask")]
    return f"{total} {'face' if total == 1 else 'faces'}: {parts[0]}, {', '.join(parts[1:])}"
