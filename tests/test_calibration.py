import numpy as np
import pytest

from maskdet.evaluation.calibration import expected_calibration_error, fit_temperature, softmax


def test_ece_is_zero_for_perfect_calibration_and_large_for_overconfidence():
    labels = np.array([1] * 80 + [0] * 20)
    calibrated = np.tile([0.2, 0.8], (100, 1))
    assert expected_calibration_error(calibrated, labels) == pytest.approx(0.0, abs=1e-9)
    overconfident = np.tile([0.001, 0.999], (100, 1))
    assert expected_calibration_error(overconfident, labels) == pytest.approx(0.199, abs=1e-3)


def test_fit_temperature_recovers_the_generating_temperature():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, (4000, 2))
    labels = np.array([rng.choice(2, p=p) for p in softmax(true_logits)])
    assert fit_temperature(true_logits * 3.0, labels) == pytest.approx(3.0, rel=0.1)


def test_unsure_band_is_the_narrowest_that_reaches_the_target():
    from maskdet.evaluation.calibration import choose_unsure_band

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 2000)
    confident = np.where(labels == 1, rng.uniform(0.8, 1.0, 2000), rng.uniform(0.0, 0.2, 2000))
    muddled = rng.uniform(0.4, 0.6, 2000)  # right about half the time
    prob = np.where(np.arange(2000) < 100, muddled, confident)
    low, high = choose_unsure_band(prob, labels, target_accuracy=0.999)
    assert 0.39 <= low <= 0.41 and 0.59 <= high <= 0.61  # exactly the muddled faces
    narrow_low, _ = choose_unsure_band(prob, labels, target_accuracy=0.98)
    assert low < narrow_low < 0.5  # a laxer target withholds fewer faces
    assert choose_unsure_band(confident, labels) == (0.5, 0.5)  # nothing to withhold
    assert choose_unsure_band(rng.uniform(0, 1, 2000), labels, max_share=0.05) == (0.48, 0.52)
