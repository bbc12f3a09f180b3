"""Metrics of two- and three-class predictions (maskdet.evaluation.metrics)."""

import numpy as np
import pytest

from maskdet.evaluation.metrics import classification_metrics, confident_error_rate, roc_auc


def test_three_class_confusion_and_worn_wrong_figures():
    probs = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.1, 0.6, 0.3], [0.1, 0.1, 0.8], [0.2, 0.1, 0.7]])
    labels = np.array([0, 1, 2, 2, 0])
    m = classification_metrics(probs, labels)
    assert m["confusion_matrix"] == [[1, 0, 1], [0, 1, 0], [0, 1, 1]]
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["accuracy_mask_vs_no_mask"] == pytest.approx(2 / 3)  # the bare face called worn wrong is wrong
    assert m["accuracy_two_way"] == 1.0  # yet its no_mask beats mask: the two-way output is right
    assert m["worn_wrong_called_mask"] == pytest.approx(0.5)
    assert m["per_class"]["worn_wrong"]["recall"] == pytest.approx(0.5)
    assert m["per_class"]["worn_wrong"]["precision"] == pytest.approx(0.5)


def test_two_class_model_scored_on_worn_wrong_faces_keeps_an_empty_column():
    probs = np.array([[0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    m = classification_metrics(probs, np.array([0, 1, 2]))
    assert m["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [0, 1, 0]]
    assert m["worn_wrong_called_mask"] == 1.0
    assert m["accuracy_mask_vs_no_mask"] == m["accuracy_two_way"] == 1.0


def test_two_class_model_without_worn_wrong_faces_reports_two_classes():
    m = classification_metrics(np.array([[0.8, 0.2], [0.3, 0.7]]), np.array([0, 1]))
    assert set(m["per_class"]) == {"no_mask", "mask"}
    assert np.isnan(m["worn_wrong_called_mask"])


def test_roc_auc_ranks_and_one_sided_sets():
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([False, False, True, True])) == pytest.approx(0.75)
    assert np.isnan(roc_auc(np.array([0.1, 0.2]), np.array([True, True])))


def test_confident_errors_count_only_sure_wrong_answers():
    probs = np.array([[0.95, 0.05], [0.6, 0.4], [0.02, 0.98]])
    assert confident_error_rate(probs, np.array([1, 1, 1])) == pytest.approx(1 / 3)
