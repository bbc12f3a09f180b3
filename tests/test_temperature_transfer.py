import numpy as np
import pytest

from maskdet.evaluation.temperature_transfer import Scores, calibration_figures, summary_line, unseen_temperature


def fold(rng: np.random.Generator, sharpness: float, name: str, faces: int = 1500) -> dict[str, Scores]:
    """Logits whose true temperature is `sharpness`: labels drawn from softmax(logits / sharpness)."""
    splits = {}
    for split in ("val", "test"):
        logits = rng.normal(0.0, 3.0, (faces, 2))
        scaled = logits / sharpness
        probs = np.exp(scaled - scaled.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        labels = (rng.uniform(size=faces) < probs[:, 1]).astype(int)
        splits[split] = Scores(logits, labels, np.array([name] * faces))
    return splits


def test_overconfident_folds_get_a_factor_above_one_that_calms_confident_errors():
    rng = np.random.default_rng(0)
    folds = {name: fold(rng, 2.0, name) for name in ("a", "b", "c")}
    result = unseen_temperature(folds)
    assert result["factor"] == pytest.approx(2.0, rel=0.15)
    assert set(result["leave_one_fold_out_factors"]) == {"a", "b", "c"}
    before, after = result["test_own_temperature"], result["test_with_factor"]
    assert after["confident_errors"] < before["confident_errors"]
    assert after["ece"] < before["ece"]
    assert set(after["ece_per_source"]) == {"a", "b", "c"}
    assert "confident errors" in summary_line(result)


def test_a_factor_fitted_on_other_folds_can_hurt_a_fold_unlike_them():
    rng = np.random.default_rng(1)
    folds = {"a": fold(rng, 3.0, "a"), "b": fold(rng, 3.0, "b"), "calm": fold(rng, 1.0, "calm")}
    result = unseen_temperature(folds)
    factors = result["leave_one_fold_out_factors"]
    assert factors["calm"] == pytest.approx(3.0, rel=0.15) and factors["a"] < 2.5  # fitted on the others only
    own, rescaled = result["test_own_temperature"]["ece_per_source"], result["test_with_factor"]["ece_per_source"]
    assert rescaled["calm"] > own["calm"]  # the honest estimate shows the harm


def test_calibration_figures_count_only_wrong_answers_given_with_confidence():
    probs = np.array([[0.05, 0.95], [0.95, 0.05], [0.4, 0.6], [0.92, 0.08]])
    labels = np.array([1, 1, 0, 0])
    figures = calibration_figures(probs, labels, np.array(["x", "x", "y", "y"]))
    assert figures["confident_errors"] == 0.25  # only the second face
    assert figures["confident_errors_per_source"] == {"x": 0.5, "y": 0.0}


def test_only_the_two_way_output_of_faces_wearing_a_mask_right_or_none_is_checked():
    rng = np.random.default_rng(2)
    folds = {name: fold(rng, 1.0, name, faces=300) for name in ("a", "b")}
    with_third = {name: {split: Scores(np.column_stack([s.logits, np.full(len(s.labels), -5.0)]), s.labels, s.sources)
                         for split, s in f.items()} for name, f in folds.items()}
    worn = Scores(np.tile([4.0, 0.0, -5.0], (5, 1)), np.full(5, 2), np.array(["a"] * 5))
    with_third["a"] = {split: Scores(*(np.concatenate(c) for c in zip(s, worn))) for split, s in with_third["a"].items()}
    assert unseen_temperature(with_third) == unseen_temperature(folds)
