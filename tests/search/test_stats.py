import math

import numpy as np
import pytest

from nwsrec.search.stats import kendall_tau, paired_difference, recalibrated_log_loss


def test_paired_difference_matches_numpy():
    rng = np.random.default_rng(0)
    a = rng.normal(0.5, 0.3, size=500)
    b = a + rng.normal(0.01, 0.05, size=500)
    mean, low, high = paired_difference(b, a)
    d = b - a
    half = 1.959963984540054 * d.std(ddof=1) / np.sqrt(d.size)
    assert mean == pytest.approx(d.mean(), abs=1e-12)
    assert (low, high) == pytest.approx((d.mean() - half, d.mean() + half), abs=1e-12)
    with pytest.raises(ValueError, match="same examples"):
        paired_difference([1.0], [1.0, 2.0])


def _logistic_data(n=20000, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.float64)
    return y, z


def _raw(y, z):
    return np.logaddexp(0.0, z) - y * z


@pytest.mark.parametrize("scale", [0.2, 1.0, 6.0])
def test_recalibration_scores_a_monotone_rescaling_like_the_calibrated_logits(scale):
    y, z = _logistic_data()
    calibrated = recalibrated_log_loss(y, z).mean()
    assert recalibrated_log_loss(y, scale * z - 1.5).mean() == pytest.approx(calibrated, abs=1e-9)
    # The raw log loss punishes the same ranking for its confidence; the refit never
    # scores worse than the raw logits (they are one of the fits it could take).
    assert recalibrated_log_loss(y, scale * z).mean() <= _raw(y, scale * z).mean() + 1e-12
    if scale != 1.0:
        assert _raw(y, scale * z).mean() > calibrated + 1e-3


def test_recalibration_keeps_what_the_ranking_loses():
    y, z = _logistic_data()
    rng = np.random.default_rng(1)
    worse = z + rng.normal(0.0, 1.0, size=z.size)  # a noisier ranking
    assert recalibrated_log_loss(y, worse).mean() > recalibrated_log_loss(y, z).mean() + 0.01
    # A ranking of no use scores as the base rate: log 2 for balanced labels at best.
    constant = recalibrated_log_loss(y, np.zeros_like(z)).mean()
    p = y.mean()
    assert constant == pytest.approx(-(p * math.log(p) + (1 - p) * math.log(1 - p)), abs=1e-6)
    with pytest.raises(ValueError, match="same, non-zero length"):
        recalibrated_log_loss([1.0], [0.0, 1.0])


def test_kendall_tau_matches_the_definition_with_ties():
    x = [1, 2, 3, 4, 5]
    assert kendall_tau(x, [2, 4, 6, 8, 10]) == 1.0
    assert kendall_tau(x, [5, 4, 3, 2, 1]) == -1.0
    # one discordant pair of 10: (10 - 2) / 10
    assert kendall_tau(x, [1, 2, 3, 5, 4]) == pytest.approx(0.8)
    # tau-b with a tie in y: (n_c - n_d) / sqrt(n0 * (n0 - ties))
    assert kendall_tau([1, 2, 3], [1, 1, 2]) == pytest.approx(2 / math.sqrt(3 * 2))
    assert math.isnan(kendall_tau([1, 1], [1, 2]))
    with pytest.raises(ValueError, match="same length"):
        kendall_tau([1, 2], [1])
