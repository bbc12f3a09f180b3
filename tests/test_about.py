"""The app's words about the model (maskdet.web.about), read from metrics.json."""

import json

from maskdet.web.about import METRICS_FILE, about_markdown


def test_about_gives_the_shipped_worn_wrong_figures():
    text = about_markdown()
    worn = json.loads(METRICS_FILE.read_text())["test"]["per_class"]["worn_wrong"]
    assert f"mask worn wrong {worn['recall']:.1%} (of {worn['support']} such faces" in text
    assert "`worn_wrong` (2)" in text


def test_about_leaves_worn_wrong_out_for_a_test_split_without_such_faces(tmp_path):
    metrics = json.loads(METRICS_FILE.read_text())
    metrics["test"]["per_class"]["worn_wrong"]["support"] = 0
    metrics["model_info"]["class_names"] = ["no_mask", "mask"]
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(metrics))
    text = about_markdown(path)
    assert "worn wrong" not in text and "recall mask" in text
