import json

import numpy as np
import pytest
from PIL import Image

from maskdet import inference
from maskdet.images import ImageError
from maskdet.inference import Predictor
from maskdet.model import ModelFileError
from tests.conftest import EXAMPLES


def test_group_photo_gives_one_result_per_face(predictor):
    prediction = predictor.predict(EXAMPLES / "group_mixed.jpg")
    assert len(prediction.faces) == 5 and not prediction.whole_image
    assert all(face.label in ("mask", "no_mask") and 0.0 <= face.prob_mask <= 1.0 for face in prediction.faces)
    assert all(face.heatmap is not None and np.isfinite(face.heatmap).all() for face in prediction.faces)
    assert len(prediction.overlays()) == 5
    assert prediction.annotated().shape == prediction.image.shape
    assert not np.array_equal(prediction.annotated(), prediction.image)
    summary = json.loads(json.dumps(prediction.summary()))
    assert summary["faces_found"] == 5 and summary["masked"] + summary["unmasked"] == 5
    assert set(summary["timings_ms"]) == {"decode", "detect", "crop", "classify"}
    assert prediction.headline().startswith("5 faces:")


def test_no_face_falls_back_to_whole_image(predictor):
    prediction = predictor.predict(EXAMPLES / "cat_no_face.jpg")
    assert prediction.whole_image and len(prediction.faces) == 1
    assert "no face found" in prediction.notes[0]
    assert prediction.faces[0].box == (0, 0, *prediction.image.shape[1::-1])


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


def test_face_cap_is_stated(predictor, monkeypatch):
    monkeypatch.setattr(inference, "MAX_FACES", 2)
    prediction = predictor.predict(EXAMPLES / "group_mixed.jpg")
    assert len(prediction.faces) == 2 and prediction.faces_detected == 5
    assert "only the 2 most confident" in prediction.notes[0]


def test_missing_detector_means_whole_image_with_reason(tiny_model_file, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("MASKDET_YUNET_PATH", raising=False)
    fallback = Predictor(tiny_model_file, download_detector=False)
    prediction = fallback.predict(EXAMPLES / "group_mixed.jpg")
    assert prediction.whole_image and "face detector unavailable" in prediction.notes[0]
    assert "not in the cache" in fallback.detector_problem


def test_explicitly_configured_detector_that_is_missing_stops_loading(tiny_model_file, tmp_path):
    with pytest.raises(ModelFileError, match="no-detector.onnx"):
        Predictor(tiny_model_file, tmp_path / "no-detector.onnx")


def test_whole_image_mode_skips_detection(predictor):
    prediction = predictor.predict(EXAMPLES / "group_mixed.jpg", whole_image=True)
    assert prediction.whole_image and len(prediction.faces) == 1 and prediction.faces_detected == 0


def test_bfloat16_predictor_agrees_with_float32(predictor, tiny_model_file, yunet_file, monkeypatch):
    from maskdet.precision import PRECISION_ENV, PrecisionError

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
