import json

import numpy as np
import pytest
from PIL import Image

from maskdet import config
from maskdet.core import predictor as inference
from maskdet.core.images import ImageError
from maskdet.core.predictor import Predictor
from maskdet.core.model import ModelFileError
from maskdet.core.prediction import NO_DETECTOR_MESSAGE, NO_FACE_MESSAGE, verdict_of
from tests.conftest import EXAMPLES

VERDICTS = {"mask", "worn_wrong", "no_mask", "unsure", "too_small"}


def small_and_large_face(tmp_path, small: int = 64):
    """A canvas with the astronaut photo pasted twice: its face ~1/5 of the paste (64 px -> ~12 px)."""
    photo = Image.open(EXAMPLES / "astronaut_no_mask.jpg").convert("RGB")
    canvas = Image.new("RGB", (480, 320), (120, 130, 120))
    canvas.paste(photo.resize((small, small)), (100, 100))
    canvas.paste(photo.resize((200, 200)), (250, 60))
    canvas.save(tmp_path / "two-sizes.png")
    return tmp_path / "two-sizes.png"


def test_group_photo_gives_one_result_per_face(predictor):
    prediction = predictor.predict(EXAMPLES / "group_mixed.jpg")
    assert len(prediction.faces) == 5 and not prediction.whole_image
    assert all(face.label in config.CLASS_NAMES and 0.0 <= face.prob_mask <= 1.0 for face in prediction.faces)
    assert all(face.verdict in VERDICTS for face in prediction.faces)
    assert all(face.heatmap is not None and np.isfinite(face.heatmap).all() for face in prediction.faces)
    assert len(prediction.overlays()) == 5
    assert prediction.annotated().shape == prediction.image.shape
    assert not np.array_equal(prediction.annotated(), prediction.image)
    on_photo = prediction.annotated(heatmaps_on_photo=True)
    assert on_photo.shape == prediction.image.shape and not np.array_equal(on_photo, prediction.annotated())
    summary = json.loads(json.dumps(prediction.summary()))
    assert summary["faces_found"] == 5
    assert summary["masked"] + summary["unmasked"] + summary["unsure"] + summary["too_small"] == 5
    assert [face["verdict"] for face in summary["faces"]] == [face.verdict for face in prediction.faces]
    assert set(summary["timings_ms"]) == {"decode", "detect", "crop", "classify"}
    assert prediction.headline().startswith("5 faces:")


@pytest.mark.parametrize("source", ["cat", "one-pixel", "flat-grey"])
def test_no_face_means_no_verdict(predictor, source):
    image = {"cat": EXAMPLES / "cat_no_face.jpg", "one-pixel": np.full((1, 1, 3), 200, np.uint8),
             "flat-grey": np.full((480, 640, 3), 128, np.uint8)}[source]
    prediction = predictor.predict(image)
    assert prediction.faces == [] and not prediction.whole_image
    assert prediction.headline() == NO_FACE_MESSAGE == "No face found — try a closer, frontal photo"
    summary = prediction.summary()
    assert summary["faces"] == [] and summary["masked"] == summary["unmasked"] == 0
    assert summary["notes"] == [NO_FACE_MESSAGE]
    assert np.array_equal(prediction.annotated(), prediction.image)  # nothing drawn on it
    assert prediction.overlays() == []


def test_unsure_faces_keep_their_label_but_are_not_counted(predictor, monkeypatch):
    sure = predictor.predict(EXAMPLES / "group_mixed.jpg", explain=False)
    monkeypatch.setattr(config, "UNSURE_BAND", (0.0, 1.0))  # every probability is "near 0.5"
    unsure = predictor.predict(EXAMPLES / "group_mixed.jpg", explain=False)
    assert [f.label for f in unsure.faces] == [f.label for f in sure.faces]  # arg-max kept
    assert {f.verdict for f in unsure.faces} == {"unsure"} and not any(f.counted for f in unsure.faces)
    summary = unsure.summary()
    assert summary["masked"] == summary["unmasked"] == 0 and summary["unsure"] == 5
    assert summary["unsure_band"] == [0.0, 1.0]
    assert {face["label"] for face in summary["faces"]} <= set(config.CLASS_NAMES)
    assert unsure.headline() == "5 faces: 0 with mask, 0 without, 5 unsure"
    assert all(f.caption() == "unsure" for f in unsure.faces)


def test_verdict_band_and_size_edges(monkeypatch):
    monkeypatch.setattr(config, "UNSURE_BAND", (0.3, 0.7))
    monkeypatch.setattr(config, "MIN_FACE_SIZE", 24)
    big = (0, 0, 40, 50)
    assert [verdict_of(p, big) for p in (0.0, 0.29, 0.3, 0.5, 0.7, 0.71, 1.0)] == [
        "no_mask", "no_mask", "unsure", "unsure", "unsure", "mask", "mask"]
    assert verdict_of(0.99, (0, 0, 23, 50)) == "too_small" and verdict_of(0.99, (0, 0, 24, 24)) == "mask"


def test_too_small_faces_are_found_but_not_judged(predictor, tmp_path):
    prediction = predictor.predict(small_and_large_face(tmp_path))
    assert len(prediction.faces) == 2
    small, large = sorted(prediction.faces, key=lambda f: f.box[2] - f.box[0])
    assert small.box[2] - small.box[0] < config.MIN_FACE_SIZE <= large.box[2] - large.box[0]
    assert small.verdict == "too_small" and small.caption() == "too small" and not small.counted
    assert small.label in config.CLASS_NAMES  # still classified: the arg-max is in the JSON
    assert large.verdict != "too_small"
    summary = prediction.summary()
    assert summary["too_small"] == 1 and summary["masked"] + summary["unmasked"] + summary["unsure"] == 1
    assert "1 too small to judge" in prediction.headline()


def test_without_cam_there_are_no_heatmaps_but_same_labels(predictor):
    with_cam = predictor.predict(EXAMPLES / "group_mixed.jpg")
    without = predictor.predict(EXAMPLES / "group_mixed.jpg", explain=False)
    assert without.overlays() == [] and all(face.heatmap is None for face in without.faces)
    assert [f.prob_mask for f in without.faces] == pytest.approx([f.prob_mask for f in with_cam.faces], abs=1e-5)


def test_inputs_of_any_kind_and_exif_rotation(predictor, tmp_path):
    photo = Image.open(EXAMPLES / "astronaut_no_mask.jpg")
    canvas = Image.new("RGB", (900, 600), (128, 128, 128))
    canvas.paste(photo, (0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways; upright it is 600 wide, 900 high
    canvas.save(tmp_path / "rotated.jpg", exif=exif)
    rotated = predictor.predict(tmp_path / "rotated.jpg")
    assert rotated.image.shape[:2] == (900, 600)
    (face,) = rotated.faces
    assert face.box[0] >= 600 - 512 and face.box[3] <= 512  # the face sits top-right once upright
    for source in (photo, np.asarray(photo), (EXAMPLES / "astronaut_no_mask.jpg").read_bytes(), photo.convert("L")):
        assert len(predictor.predict(source).faces) == 1


def test_bad_input_raises_image_error(predictor, tmp_path):
    bad = tmp_path / "text.jpg"
    bad.write_text("plain text")
    with pytest.raises(ImageError, match="not a recognised image"):
        predictor.predict(bad)
    assert len(predictor.predict(EXAMPLES / "astronaut_mask.jpg").faces) == 1


def test_scaled_copy_for_display_keeps_verdicts(predictor):
    prediction = predictor.predict(EXAMPLES / "group_mixed.jpg")
    small = prediction.scaled(400)
    assert max(small.image.shape[:2]) == 400 and small.summary()["faces"] != []
    assert [f.verdict for f in small.faces] == [f.verdict for f in prediction.faces]
    factor = 400 / 800
    for a, b in zip(small.faces, prediction.faces):
        assert a.box == pytest.approx([v * factor for v in b.box], abs=1)
    assert small.annotated(heatmaps_on_photo=True).shape == small.image.shape


def test_face_cap_is_stated(predictor, monkeypatch):
    monkeypatch.setattr(inference, "MAX_FACES", 2)
    prediction = predictor.predict(EXAMPLES / "group_mixed.jpg")
    assert len(prediction.faces) == 2 and prediction.faces_detected == 5
    assert "only the 2 most confident" in prediction.notes[0]


def test_missing_detector_means_no_verdict_with_reason(tiny_model_file, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("MASKDET_YUNET_PATH", raising=False)
    fallback = Predictor(tiny_model_file, download_detector=False)
    prediction = fallback.predict(EXAMPLES / "group_mixed.jpg")
    assert prediction.faces == [] and not prediction.whole_image
    assert prediction.headline() == NO_DETECTOR_MESSAGE
    assert any("face detector unavailable" in note for note in prediction.notes)
    assert "not in the cache" in fallback.detector_problem
    assert len(fallback.predict(EXAMPLES / "group_mixed.jpg", whole_image=True).faces) == 1


def test_explicitly_configured_detector_that_is_missing_stops_loading(tiny_model_file, tmp_path):
    with pytest.raises(ModelFileError, match="no-detector.onnx"):
        Predictor(tiny_model_file, tmp_path / "no-detector.onnx")


def test_whole_image_mode_skips_detection(predictor):
    prediction = predictor.predict(EXAMPLES / "group_mixed.jpg", whole_image=True)
    assert prediction.whole_image and len(prediction.faces) == 1 and prediction.faces_detected == 0
    assert prediction.faces[0].box == (0, 0, 800, 520)
    assert prediction.headline().startswith("Whole image as one face: ")
    cat = predictor.predict(EXAMPLES / "cat_no_face.jpg", whole_image=True)  # the user says it is a face
    assert len(cat.faces) == 1 and cat.faces[0].verdict in VERDICTS
    tiny = predictor.predict(np.full((10, 10, 3), 90, np.uint8), whole_image=True)
    assert tiny.faces[0].verdict == "too_small" and tiny.summary()["too_small"] == 1


def test_bfloat16_predictor_agrees_with_float32(predictor, tiny_model_file, yunet_file, monkeypatch):
    from maskdet.core.numerics import PRECISION_ENV, PrecisionError

    assert predictor.engine.precision == "float32"  # the suite pins float32 (conftest)
    half = Predictor(tiny_model_file, yunet_file, precision="bfloat16")
    assert half.engine.precision == "bfloat16"
    expected = predictor.predict(EXAMPLES / "group_mixed.jpg")
    got = half.predict(EXAMPLES / "group_mixed.jpg")
    assert [face.box for face in got.faces] == [face.box for face in expected.faces]
    np.testing.assert_allclose([f.prob_mask for f in got.faces], [f.prob_mask for f in expected.faces], atol=0.03)
    monkeypatch.setenv(PRECISION_ENV, "int4")
    with pytest.raises(PrecisionError, match="int4"):
        Predictor(tiny_model_file, yunet_file)


def test_a_mask_worn_wrong_is_its_own_verdict_everywhere_in_the_result(worn_wrong_predictor):
    prediction = worn_wrong_predictor.predict(EXAMPLES / "astronaut_mask_under_nose.jpg")
    (face,) = prediction.faces
    assert face.label == face.verdict == "worn_wrong" and face.prob_worn_wrong > 0.9
    assert face.caption().startswith("worn wrong ")
    assert prediction.headline() == "1 face: 0 with mask, 1 worn wrong, 0 without"
    summary = prediction.summary()
    assert (summary["masked"], summary["worn_wrong"], summary["unmasked"]) == (0, 1, 0)
    assert summary["faces"][0]["prob_worn_wrong"] == pytest.approx(face.prob_worn_wrong, abs=1e-4)
    assert summary["faces"][0]["prob_mask"] < 0.1  # prob_mask is a mask worn right
    json.dumps(summary)


def test_a_two_class_model_still_serves_and_never_says_worn_wrong(two_class_model_file, yunet_file):
    prediction = Predictor(two_class_model_file, yunet_file).predict(EXAMPLES / "astronaut_mask_under_nose.jpg")
    (face,) = prediction.faces
    assert face.verdict == "mask" and face.prob_worn_wrong is None
    assert "prob_worn_wrong" not in prediction.summary()["faces"][0]
    assert prediction.summary()["worn_wrong"] == 0


def test_three_class_verdict_rule_matches_the_two_class_band():
    big = (0, 0, 100, 100)
    assert verdict_of(0.05, big, prob_worn_wrong=0.9) == "worn_wrong"
    assert verdict_of(0.45, big, prob_worn_wrong=0.45) == "unsure"  # no class sure enough
    assert verdict_of(0.8, big, prob_worn_wrong=0.15) == "mask"
    assert verdict_of(0.1, big, prob_worn_wrong=0.1) == "no_mask"
