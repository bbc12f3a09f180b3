"""detector-eval on a generated face-mask-extra tree: real crops of each class pasted on scenes, found
rates per class and size band, boxes on face-free images, and the shipped detector's own rows."""

from __future__ import annotations

import numpy as np
from PIL import Image

from maskdet.core.faces import FaceDetector
from maskdet.evaluation import detector_eval
from tests.conftest import EXAMPLES

CROPS = {"with_mask": "astronaut_mask.jpg", "without_mask": "astronaut_no_mask.jpg",
         "incorrect_mask": "astronaut_mask_under_nose.jpg"}


def make_extra(root):
    """wild (loose crops, filtered by origin), occlusion and improper (tight), like the real tree."""
    photos = {label: Image.open(EXAMPLES / name).convert("RGB") for label, name in CROPS.items()}
    rows = ["file,label,group,origin_repo"]
    for source, labels in (("wild", ("with_mask", "without_mask")), ("occlusion", ("with_mask", "without_mask")),
                           ("improper", tuple(CROPS))):
        for label in labels:
            (root / source / label).mkdir(parents=True)
            for i in range(3):
                photo = photos[label].rotate(4 * i - 4, center=(224, 122))  # about the face's centre
                # the examples' face box is about (175, 61, 272, 184): loose crops are a square of twice
                # it (like wild's), tight ones the face alone
                photo = photo.crop((159, 57, 289, 187) if source != "wild" else (104, 2, 344, 242))
                photo.save(root / source / label / f"{source}{i}.jpg")
                if source == "wild":
                    origin = "MacwinWin/face_mask_dataset" if i < 2 else "KaranFriends/Mask-Dataset"
                    rows.append(f"{label}/{source}{i}.jpg,{label},g{i},{origin}")
    (root / "wild" / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root


def test_real_crops_are_drawn_per_class_and_pasted_apart(tmp_path):
    root = make_extra(tmp_path / "extra")
    crops = detector_eval.real_crops(root, 4, seed=0)
    assert [label for _, _, label in crops] == ["with_mask"] * 4 + ["without_mask"] * 4 + ["incorrect_mask"] * 3
    assert not any("KaranFriends" in str(path) or path.name == "wild2.jpg" for path, _, _ in crops)  # origin filter
    assert {tight for path, tight, _ in crops if "wild" in path.parts} == {False}
    grey = [np.full((480, 640, 3), 128, np.uint8)]
    placed = 0
    for canvas, pasted in detector_eval.scenes(crops, grey, seed=0):
        assert canvas.shape == (480, 640, 3)
        placed += len(pasted)
        for a in pasted:
            low, high = detector_eval.BANDS[a.band]
            assert low <= a.face <= high and a.side == (a.face if a.side == a.face else 2 * a.face)
            assert 0 <= a.x and a.x + a.side <= 640 and 0 <= a.y and a.y + a.side <= 480
            for b in pasted:
                apart = a.x + a.side <= b.x or b.x + b.side <= a.x or a.y + a.side <= b.y or b.y + b.side <= a.y
                assert a is b or apart
    assert placed == len(crops)
    assert detector_eval.real_crops(root, 4, seed=0) == crops  # a fixed seed: the same draw


def test_detector_eval_reports_classes_bands_face_free_and_time(yunet_file, tmp_path, capsys):
    root = make_extra(tmp_path / "extra")
    variants = [v for v in detector_eval.VARIANTS if v.name.startswith(("SHIPPED", "today", "no re-detection"))]
    figures = detector_eval.evaluate(FaceDetector.load(yunet_file), root, 4, {}, [], None, variants=variants,
                                     texture_count=2)
    out = capsys.readouterr().out
    assert "masked" in out and "worn wrong" in out and "80-160px" in out and "face-free" in out
    shipped = figures["SHIPPED photo path: FaceDetector.detect"]
    assert [total for _, total in shipped["class"]] == [3, 3, 2]  # faces >= 24 px of 4, 4 and 3
    assert sum(total for _, total in shipped["band"]) == 11
    large = shipped["band"][-1]
    assert large[0] == large[1] > 0  # every face of 80 px and more is found
    assert shipped["face_free"] == (0, 0) and shipped["ms"] > 0
    today = figures["today: >= 0.4, under 0.75 re-found >= 0.6"]
    assert all(s[0] >= t[0] for s, t in zip(shipped["band"], today["band"]))  # never finds fewer
