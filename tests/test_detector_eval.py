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
    variants = [v for v in detector_eval.VARIANTS if v.name.startswith(("SHIPPED", "before"))]
    figures = detector_eval.evaluate(FaceDetector.load(yunet_file), root, 4, {}, [], None, variants=variants,
                                     texture_count=2)
    out = capsys.readouterr().out
    assert "masked" in out and "worn wrong" in out and "64-160px" in out and "<32px" in out and "face-free" in out
    assert "by source (faces >= 32 px), SHIPPED photo path" in out and "wild with_mask" in out
    shipped = figures["SHIPPED photo path: FaceDetector.detect"]
    large_faces = sum(total for _, total in shipped["class"])
    assert all(total > 0 for _, total in shipped["class"]) and large_faces + shipped["small"][1] == 11
    assert sum(total for _, total in shipped["band"]) == 11
    assert sum(total for total in (t for _, t in shipped["source"].values())) == large_faces
    assert {source for source, _ in shipped["source"]} <= {"wild", "occlusion", "improper"}
    large = shipped["band"][-1]
    assert large[0] == large[1] > 0  # every face of 64 px and more is found
    assert shipped["face_free"] == (0, 0) and shipped["ms"] > 0
    before = figures["before: >= 0.4, re-found >= 0.6 (mirrored too)"]
    assert all(s[0] >= b[0] for s, b in zip(shipped["band"], before["band"]))  # never finds fewer


def test_variants_apply_the_faint_rule_and_the_second_detector_last():
    from maskdet.core.face_geometry import Face
    from maskdet.evaluation.detector_variants import Look, Variant

    def look(score, confirm, mirrored=0.0, second=0.0):
        face = Face(box=(0, 0, 40, 40), crop_box=(0, 0, 40, 40), score=score, landmarks=())
        return Look(face, confirm=confirm, confirm_mirror=mirrored, second=second)

    rule, before = Variant("the rule"), Variant("before", floor=0.4, faint=0.0)
    assert rule.weak_kept(look(0.5, 0.65))[0] and not rule.weak_kept(look(0.35, 0.65))[0]  # faint: 0.8 needed
    assert rule.weak_kept(look(0.35, 0.1, mirrored=0.85))[0] and before.weak_kept(look(0.35, 0.65))[0]
    second = Variant("second", rule="second-confirm")
    assert not rule.weak_kept(look(0.5, 0.1, second=0.9))[0] and second.weak_kept(look(0.5, 0.1, second=0.9))[0]
    assert second.needs_second and not rule.needs_second
    assert not Variant("plain", rule="confirm").weak_kept(look(0.5, 0.1, mirrored=0.9))[0]


def test_real_crops_may_come_from_chosen_sources_only(tmp_path):
    root = make_extra(tmp_path / "extra")
    crops = detector_eval.real_crops(root, 4, seed=0, sources=["wild"])
    assert crops and {path.parent.parent.name for path, _, _ in crops} == {"wild"}
    assert {label for _, _, label in crops} == {"with_mask", "without_mask"}  # wild has no worn-wrong faces
