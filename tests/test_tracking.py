"""Tracking and smoothing: steady verdicts across frames, "unsure" until there is evidence."""

from __future__ import annotations

import numpy as np
import pytest

from maskdet import config
from maskdet.video import tracking
from maskdet.core.prediction import FaceResult
from maskdet.video.tracking import MAX_MISSED, MIN_FRAMES, Tracker, iou

BOX = (100, 100, 180, 190)


def face(prob: float, box=BOX) -> FaceResult:
    label = "mask" if prob > 0.5 else "no_mask"
    return FaceResult(box, box, label, prob, 0.9, np.zeros((4, 4, 3), np.uint8))


def shifted(box, dx: int):
    return (box[0] + dx, box[1], box[2] + dx, box[3])


def test_iou():
    assert iou(BOX, BOX) == 1.0
    assert iou(BOX, shifted(BOX, 500)) == 0.0
    assert 0.6 < iou(BOX, shifted(BOX, 10)) < 0.8


def test_a_new_face_is_unsure_until_seen_in_enough_frames():
    tracker = Tracker()
    verdicts = [tracker.update([face(0.99)])[0].verdict for _ in range(MIN_FRAMES + 2)]
    assert verdicts[:MIN_FRAMES - 1] == ["unsure"] * (MIN_FRAMES - 1)
    assert verdicts[MIN_FRAMES - 1:] == ["mask"] * 3


def test_one_odd_frame_does_not_flip_the_verdict():
    tracker = Tracker()
    for _ in range(6):
        tracker.update([face(0.99)])
    (odd,) = tracker.update([face(0.01)])
    assert odd.face.verdict == "no_mask" and odd.verdict == "mask"  # the frame says no mask; the track does not
    assert tracker.update([face(0.99)])[0].verdict == "mask"


def test_a_real_change_passes_through_unsure_and_never_jumps():
    tracker = Tracker()
    shown = [tracker.update([face(0.99)])[0].verdict for _ in range(6)]
    shown += [tracker.update([face(0.01)])[0].verdict for _ in range(12)]
    assert shown[-1] == "no_mask"
    changes = [(a, b) for a, b in zip(shown, shown[1:]) if a != b]
    assert ("mask", "no_mask") not in changes and ("no_mask", "mask") not in changes
    assert ("mask", "unsure") in changes and ("unsure", "no_mask") in changes


def test_a_change_shows_unsure_for_a_frame_even_when_the_band_is_narrow(monkeypatch):
    monkeypatch.setattr(config, "UNSURE_BAND", (0.49, 0.51))  # one smoothing step crosses it
    tracker = Tracker()
    shown = [tracker.update([face(0.99)])[0].verdict for _ in range(6)]
    shown += [tracker.update([face(0.01)])[0].verdict for _ in range(12)]
    changes = [(a, b) for a, b in zip(shown, shown[1:]) if a != b]
    assert changes == [("unsure", "mask"), ("mask", "unsure"), ("unsure", "no_mask")]


def test_faces_keep_their_tracks_when_listed_in_another_order_and_moving():
    tracker = Tracker()
    left, right = (10, 10, 90, 100), (300, 10, 380, 100)
    first = tracker.update([face(0.99, left), face(0.02, right)])
    moved = tracker.update([face(0.02, shifted(right, 8)), face(0.99, shifted(left, 8))])
    assert [t.track_id for t in moved] == [first[1].track_id, first[0].track_id]


def test_a_briefly_missed_face_keeps_its_track_a_long_gone_one_starts_again():
    tracker = Tracker()
    (start,) = tracker.update([face(0.99)])
    for _ in range(MAX_MISSED):
        assert tracker.update([]) == []  # no face, no verdict
    (back,) = tracker.update([face(0.99)])
    assert back.track_id == start.track_id and back.frames == 2
    for _ in range(MAX_MISSED + 1):
        tracker.update([])
    (new,) = tracker.update([face(0.99)])
    assert new.track_id != start.track_id and new.verdict == "unsure"


def test_too_small_and_unsure_rules_apply_to_the_smoothed_probability(monkeypatch):
    tracker = Tracker()
    small = (0, 0, 20, 20)
    for _ in range(MIN_FRAMES + 1):
        (tiny,) = tracker.update([face(0.99, small)])
    assert tiny.verdict == "too_small"
    monkeypatch.setattr(tracking, "SMOOTHING", 1.0)
    tracker = Tracker()
    for _ in range(MIN_FRAMES + 1):
        (middle,) = tracker.update([face(0.5)])
    assert middle.verdict == "unsure" and not middle.result().counted


def test_result_and_json_carry_the_smoothed_and_the_frame_numbers():
    tracker = Tracker()
    for _ in range(4):
        tracker.update([face(0.99)])
    (tracked,) = tracker.update([face(0.2)])
    result = tracked.result()
    assert result.prob_mask == tracked.prob_mask and result.label == "mask" and result.verdict == "mask"
    data = tracked.to_dict()
    assert data["frame_prob_mask"] == 0.2 and data["frame_verdict"] == "no_mask"
    assert data["verdict"] == "mask" and data["track"] == tracked.track_id


def worn(prob_worn_wrong: float, prob_mask: float = 0.02):
    return FaceResult((10, 10, 110, 110), (10, 10, 110, 110), "worn_wrong", prob_mask, 0.9,
                      np.zeros((4, 4, 3), np.uint8), prob_worn_wrong=prob_worn_wrong)


def test_worn_wrong_is_tracked_and_a_change_to_mask_passes_through_unsure():
    tracker = Tracker()
    shown = [tracker.update([worn(0.97)])[0] for _ in range(5)]
    assert shown[-1].verdict == "worn_wrong" and shown[-1].result().label == "worn_wrong"
    assert shown[-1].result().prob_worn_wrong == pytest.approx(0.97, abs=0.01)
    verdicts = [tracker.update([worn(0.02, prob_mask=0.97)])[0].verdict for _ in range(12)]
    assert verdicts[-1] == "mask"
    assert verdicts[verdicts.index("mask") - 1] == "unsure"  # never straight from worn wrong to mask
