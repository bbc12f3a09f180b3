import numpy as np

from maskdet.core.prediction import FaceResult, Prediction
from maskdet.render.drawing import VERDICT_COLOURS
from maskdet.web.result_view import View, face_rows, face_table, summary_markdown
from maskdet.web.session_store import KeptResults


def prediction(probs=(0.97, 0.5, 0.02), whole=False) -> Prediction:
    image = np.full((200, 300, 3), 90, np.uint8)
    faces = [FaceResult((10 + 90 * i, 10, 80 + 90 * i, 90), (0 + 90 * i, 0, 90 + 90 * i, 100),
                        "mask" if p > 0.5 else "no_mask", p, 0.9, image[:90, :90], np.ones((4, 4), np.float32))
             for i, p in enumerate(probs)]
    return Prediction(image, faces, whole, len(faces), [], {})


def test_table_rows_number_verdict_confidence_and_score():
    rows = face_rows(prediction())
    assert rows == [[1, "mask", "97% mask", "0.90"], [2, "unsure", "50% no mask", "0.90"],
                    [3, "no mask", "98% no mask", "0.90"]]
    assert face_rows(prediction((0.9,), whole=True))[0][3] == "—"  # nothing was detected: no score
    styled = face_table(prediction()).to_html()
    assert all("rgb{}".format(VERDICT_COLOURS[v]) in styled for v in ("mask", "unsure", "no_mask"))
    assert face_table(None).data.empty


def test_views_redraw_from_the_kept_result():
    kept = prediction()
    faint, strong = View(0.2, True, True), View(0.9, True, True)
    assert not np.array_equal(faint.picture(kept), strong.picture(kept))
    assert not np.array_equal(faint.tiles(kept)[0][0], strong.tiles(kept)[0][0])
    assert View(0.9, False, True).tiles(kept) == []
    assert np.array_equal(View(0.9, False, True).picture(kept), View(0.9, True, False).picture(kept))
    assert summary_markdown(kept) == "**3 faces: 1 with mask, 1 without, 1 unsure**"


def test_kept_results_are_bounded_in_number_and_age(monkeypatch):
    store = KeptResults(capacity=2, max_age_s=60)
    results = [prediction() for _ in range(3)]
    for i, result in enumerate(results):
        store.put(f"s{i}", result)
    assert len(store) == 2 and store.get("s0") is None and store.get("s2") is results[2]
    store.put(None, results[0])  # no session (a direct call): nothing kept
    assert len(store) == 2
    store.drop("s2")
    assert store.get("s2") is None
    clock = [1000.0]
    monkeypatch.setattr("maskdet.web.session_store.time.monotonic", lambda: clock[0])
    store.put("s9", results[0])
    clock[0] += 61
    assert store.get("s9") is None
