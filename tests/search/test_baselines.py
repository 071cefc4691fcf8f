import itertools

import numpy as np
import pytest

from nwsrec.search.baselines import (
    DEFAULT_ALPHA,
    popularity_dims,
    popularity_parameters,
    uniform_dims,
)

# The 26 Criteo Kaggle field sizes at scale 0.01 (nwsrec.data.criteo.criteo_rows(0.01)).
CRITEO_ROWS = dict(
    enumerate(
        [15, 6, 101312, 22026, 4, 4, 125, 6, 3, 931, 57, 83516, 32, 4, 150, 54613, 4, 57, 22, 4]
        + [70465, 4, 4, 2862, 4, 1426],
        start=1,
    )
)


def test_uniform_dims_gives_every_slot_the_width():
    assert uniform_dims([3, 1, 2], 8) == {3: 8, 1: 8, 2: 8}
    assert uniform_dims(["1:0", "1:1"], 0) == {"1:0": 0, "1:1": 0}
    for bad in (-1, 2.5, True, "8"):
        with pytest.raises(ValueError, match="`width` must be an integer >= 0"):
            uniform_dims([1], bad)


@pytest.mark.parametrize("fraction", [1 / 8, 1 / 4, 1 / 2])
@pytest.mark.parametrize("alpha", [0.0, 0.1, DEFAULT_ALPHA, 0.6, 1.0])
def test_popularity_dims_meet_the_budget_with_widths_in_range(fraction, alpha):
    full = popularity_parameters(CRITEO_ROWS, uniform_dims(CRITEO_ROWS, 16))
    budget = int(fraction * full)
    dims = popularity_dims(CRITEO_ROWS, budget, alpha=alpha, max_width=16)
    assert list(dims) == list(CRITEO_ROWS)
    assert all(isinstance(d, int) and 1 <= d <= 16 for d in dims.values())
    spent = popularity_parameters(CRITEO_ROWS, dims)
    assert spent <= budget
    # Tight: one more unit of width on the largest block would overshoot the budget,
    # so the rule leaves less than that block's rows unspent (unless it is at 16).
    big = max(CRITEO_ROWS, key=CRITEO_ROWS.get)
    assert dims[big] == 16 or budget - spent < 2 * CRITEO_ROWS[big]


def test_popularity_widths_fall_with_rows_and_alpha_0_is_uniform():
    full = popularity_parameters(CRITEO_ROWS, uniform_dims(CRITEO_ROWS, 16))
    dims = popularity_dims(CRITEO_ROWS, full // 8, alpha=DEFAULT_ALPHA, max_width=16)
    by_rows = sorted(CRITEO_ROWS, key=CRITEO_ROWS.get)
    widths = [dims[s] for s in by_rows]
    assert widths == sorted(widths, reverse=True)  # fewer rows: more popular, wider
    assert widths[0] == 16 and widths[-1] < 16
    flat = popularity_dims(CRITEO_ROWS, full // 8, alpha=0.0, max_width=16)
    assert len(set(flat.values())) == 1


def test_popularity_dims_skew_grows_monotonically_with_alpha():
    full = popularity_parameters(CRITEO_ROWS, uniform_dims(CRITEO_ROWS, 16))
    small, big = 9, 3  # 3 rows and 101,312 rows
    previous_big, previous_small = None, None
    for alpha in np.linspace(0.0, 1.0, 11):
        dims = popularity_dims(CRITEO_ROWS, full // 4, alpha=float(alpha), max_width=16)
        if previous_big is not None:
            assert dims[big] <= previous_big and dims[small] >= previous_small
        previous_big, previous_small = dims[big], dims[small]
    assert previous_big < popularity_dims(CRITEO_ROWS, full // 4, alpha=0.0, max_width=16)[big]


def test_popularity_dims_use_lookups_per_block():
    rows = {"1:0": 100, "1:1": 100}
    budget = 100 * 8 + 100 * 2 + 200
    dims = popularity_dims(rows, budget, alpha=1.0, max_width=16, lookups={"1:0": 0.8, "1:1": 0.2})
    assert dims["1:0"] > dims["1:1"]  # same rows, the bucket of more lookups is wider
    assert popularity_parameters(rows, dims) <= budget


def test_popularity_dims_budget_extremes():
    rows = {1: 10, 2: 1000}
    assert popularity_dims(rows, 10**9, max_width=16) == {1: 16, 2: 16}
    least = popularity_parameters(rows, {1: 1, 2: 1})
    assert popularity_dims(rows, least, max_width=16) == {1: 1, 2: 1}
    assert popularity_dims(rows, 1010 + 20, max_width=16, bias_rows=0) == {1: 3, 2: 1}
    with pytest.raises(ValueError, match=r"`budget_params` must be >= 2020 .*budget_params=2019"):
        popularity_dims(rows, least - 1, max_width=16)


def test_popularity_dims_is_the_reference_rule_when_no_width_is_clipped():
    # alpha_power_rule of the reference code: d_i = B / sum(n^(1 - a)) * n_i^(-a), rounded.
    rows = {1: 1000, 2: 8000, 3: 27000}
    alpha = 1 / 3
    budget = 168_000
    lam = budget / sum(n ** (1 - alpha) for n in rows.values())
    reference = {s: round(lam * n**-alpha) for s, n in rows.items()}
    assert reference == {1: 12, 2: 6, 3: 4}
    assert popularity_dims(rows, budget, alpha=alpha, max_width=64, bias_rows=0) == reference


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"slot_rows": {}}, "`slot_rows` must be a non-empty mapping"),
        ({"slot_rows": {1: 0}}, r"`slot_rows` must hold integers >= 1. Received: slot_rows\[1\]=0"),
        ({"slot_rows": {1: 2.5}}, r"slot_rows\[1\]=2.5"),
        ({"alpha": -0.1}, "`alpha` must be a number >= 0. Received: alpha=-0.1"),
        ({"alpha": float("nan")}, "`alpha` must be a number >= 0"),
        ({"alpha": float("inf")}, "`alpha` must be finite"),
        ({"min_width": 0}, "`min_width` must be an integer >= 1. Received: min_width=0"),
        ({"max_width": 0}, "`max_width` must be an integer >= min_width=1"),
        ({"budget_params": 10.5}, "`budget_params` must be an integer"),
        ({"bias_rows": -1}, "`bias_rows` must be an integer >= 0"),
        ({"lookups": {1: 1.0}}, r"`lookups` must give every block a count > 0. .*\[2\]=None"),
        ({"lookups": {1: 1.0, 2: 0}}, r"lookups\[2\]=0"),
    ],
)
def test_popularity_dims_bad_input_is_a_clear_error(kwargs, message):
    args = {"slot_rows": {1: 10, 2: 100}, "budget_params": 10_000, "max_width": 16, **kwargs}
    with pytest.raises(ValueError, match=message):
        popularity_dims(**args)


def test_popularity_dims_are_the_best_lambda_on_small_cases():
    # Brute force over the reference rule's lambda grid: no lambda gives a larger total
    # within the budget than the one found.
    rows = {1: 3, 2: 40, 3: 500}
    for budget, alpha in itertools.product([1100, 2500, 5000], [0.2, 0.5]):
        dims = popularity_dims(rows, budget, alpha=alpha, max_width=16, bias_rows=0)
        best = 0
        for lam in np.geomspace(0.01, 1e4, 20000):
            trial = {
                s: min(16, max(1, int(np.floor(lam * (1 / n) ** alpha + 0.5))))
                for s, n in rows.items()
            }
            spent = popularity_parameters(rows, trial, 0)
            if spent <= budget:
                best = max(best, spent)
        assert popularity_parameters(rows, dims, 0) == best
