import numpy as np
import pytest

from nwsrec.metrics import exact_auc, log_loss


def _pairwise_auc(labels, scores):
    pos = scores[labels == 1]
    neg = scores[labels == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return wins / (pos.size * neg.size)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_equals_the_pairwise_count_with_ties_as_half(seed):
    rng = np.random.default_rng(seed)
    labels = (rng.random(500) < 0.3).astype(float)
    scores = rng.integers(0, 20, size=500).astype(float)  # many ties
    assert exact_auc(labels, scores) == pytest.approx(_pairwise_auc(labels, scores), abs=1e-12)


def test_auc_of_perfect_reversed_and_single_class_scores():
    assert exact_auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert exact_auc([0, 0, 1, 1], [0.4, 0.3, 0.2, 0.1]) == 0.0
    assert np.isnan(exact_auc([1, 1], [0.2, 0.3]))


def test_log_loss_matches_the_formula_and_clips():
    labels = np.array([1.0, 0.0, 1.0])
    probs = np.array([0.9, 0.2, 0.6])
    expected = -np.mean(np.log([0.9, 0.8, 0.6]))
    assert log_loss(labels, probs) == pytest.approx(expected, rel=1e-12)
    assert np.isfinite(log_loss([1.0], [0.0]))


@pytest.mark.parametrize(
    ("labels", "values", "match"),
    [([0, 1], [0.5], "same length"), ([0, 2], [0.1, 0.2], "must be 0 or 1")],
    ids=["length", "label-value"],
)
def test_bad_inputs_are_errors(labels, values, match):
    with pytest.raises(ValueError, match=match):
        exact_auc(labels, values)
    with pytest.raises(ValueError, match=match):
        log_loss(labels, values)
