import json
import shutil

import pytest

from maskdet import predict
from maskdet.config import CLASS_NAMES
from maskdet.core.verdicts import VERDICTS
from tests.conftest import EXAMPLES


def test_json_output_shape_and_bad_file_continues(cli_env, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(EXAMPLES / "group_mixed.jpg", folder / "group.jpg")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (folder / "notes.txt").write_text("not an image; folders only yield image extensions")
    code = predict.main([str(folder), str(EXAMPLES / "cat_no_face.jpg"), "--json"])
    records = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [r["file"].rsplit("/", 1)[1] for r in records] == ["broken.png", "group.jpg", "cat_no_face.jpg"]
    broken, group, cat = records
    assert broken["error"] and broken["faces"] == []
    assert group["error"] is None and len(group["faces"]) == 5 and group["whole_image"] is False
    assert set(group["faces"][0]) >= {"box", "label", "verdict", "prob_mask", "detection_score"}
    assert all(len(f["box"]) == 4 and f["label"] in CLASS_NAMES for f in group["faces"])
    assert all(f["verdict"] in VERDICTS for f in group["faces"])
    assert cat["faces"] == [] and cat["whole_image"] is False and cat["error"] is None
    assert cat["notes"] == ["No face found — try a closer, frontal photo"]


def test_no_face_text_output_and_whole_image_flag_keeps_its_meaning(cli_env, capsys):
    assert predict.main([str(EXAMPLES / "cat_no_face.jpg")]) == 0
    assert "cat_no_face.jpg: No face found — try a closer, frontal photo" in capsys.readouterr().out
    assert predict.main([str(EXAMPLES / "cat_no_face.jpg"), "--whole-image", "--json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["whole_image"] is True and len(record["faces"]) == 1
    assert record["faces"][0]["box"] == [0, 0, 451, 300]


def test_unsure_and_too_small_in_json(cli_env, tmp_path, capsys, monkeypatch):
    from maskdet import config
    from tests.test_predictor import small_and_large_face

    photo = small_and_large_face(tmp_path)
    monkeypatch.setattr(config, "UNSURE_BAND", (0.0, 1.0))
    assert predict.main([str(photo), "--json", "--no-cam"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    verdicts = sorted(face["verdict"] for face in record["faces"])
    assert verdicts == ["too_small", "unsure"]
    assert all(face["label"] in CLASS_NAMES for face in record["faces"])


def test_out_folder_gets_annotated_images_and_heatmaps(cli_env, tmp_path, capsys):
    code = predict.main([str(EXAMPLES / "group_mixed.jpg"), "--out", str(tmp_path / "out")])
    assert code == 0 and "5 faces" in capsys.readouterr().out
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "0000_group_mixed_annotated.jpg" in written and "0000_group_mixed_heatmaps.jpg" in written
    assert sum("gradcam" in name for name in written) == 5


def test_no_cam_and_whole_image_flags(cli_env, tmp_path, capsys):
    code = predict.main([str(EXAMPLES / "group_mixed.jpg"), "--no-cam", "--whole-image", "--json",
                         "--out", str(tmp_path)])
    (record,) = json.loads(capsys.readouterr().out)
    assert code == 0 and record["whole_image"] and len(record["faces"]) == 1
    assert not any("gradcam" in p.name or "heatmaps" in p.name for p in tmp_path.iterdir())


def test_exit_status_non_zero_only_when_every_input_failed(cli_env, tmp_path, capsys):
    bad = tmp_path / "zero.jpg"
    bad.write_bytes(b"")
    assert predict.main([str(bad), str(tmp_path / "missing.jpg")]) == 1
    assert "empty" in capsys.readouterr().err
    assert predict.main([str(tmp_path / "empty-folder-does-not-exist")]) == 1
    (tmp_path / "empty").mkdir()
    assert predict.main([str(tmp_path / "empty")]) == 2


def test_missing_model_is_a_clear_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MASKDET_MODEL", str(tmp_path / "gone.keras"))
    assert predict.main([str(EXAMPLES / "group_mixed.jpg")]) == 2
    assert "model file not found" in capsys.readouterr().err


def test_worn_wrong_in_the_command_lines_json_and_text(cli_env, worn_wrong_model_file, monkeypatch, capsys):
    monkeypatch.setenv("MASKDET_MODEL", str(worn_wrong_model_file))
    assert predict.main([str(EXAMPLES / "astronaut_mask_under_nose.jpg"), "--json", "--no-cam"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    (face,) = record["faces"]
    assert face["verdict"] == "worn_wrong" and face["prob_worn_wrong"] > 0.9
    assert predict.main([str(EXAMPLES / "astronaut_mask_under_nose.jpg"), "--no-cam"]) == 0
    assert "1 worn wrong" in capsys.readouterr().out
