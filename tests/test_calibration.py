import numpy as np
import pytest

from maskdet.calibration import expected_calibration_error, fit_temperature, softmax


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
