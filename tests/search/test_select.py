import math

import numpy as np
import pytest
import tensorflow as tf

from nwsrec.layers import MixedEmbedOpComb
from nwsrec.search.select import holdout_batches, pinned_sizes, select_widths

# The held-out loss a fake model has at each size: slot "a" carries signal (8 is a bit
# better than 4, 0 much worse), slot "b" is noise (any width costs a little).
LOSS = {"a": {0: 0.10, 4: 0.0200, 8: 0.0195}, "b": {0: 0.0, 4: 0.0003, 8: 0.0002}}
BASE = 0.5


def _layer():
    layer = MixedEmbedOpComb(
        ["a", "b"], [[0, 4, 8], [0, 4, 8]], warmup_steps=0, pretraining_steps=0, seed=0
    )
    layer.build((None, 24))
    return layer


class FakeTrainer:
    """Evaluates to a loss that depends only on the sizes the layer is pinned to."""

    holdout_every = 4
    batch_size = 8

    def __init__(self, layer):
        self.nws_layers = [layer]
        self.calls = 0

    def local_eval_step(self, batch):
        self.calls += 1
        layer = self.nws_layers[0]
        sizes = {
            name: choices[int(np.argmax(p))]
            for (name, p), choices in zip(
                layer.choice_probabilities().items(),
                layer.embedding_size_choices_list,
                strict=True,
            )
        }
        loss = BASE + sum(LOSS[s][c] for s, c in sizes.items())
        # label 1 and logit z: log(1 + exp(-z)) == loss.
        z = -math.log(math.expm1(loss))
        n = batch["label"].shape[0]
        return tf.ones([n]), tf.fill([n], tf.constant(z, tf.float32))


def _batches(count=2, size=8):
    return [{"label": tf.ones([size])} for _ in range(count)]


@pytest.mark.parametrize(
    ("tolerance", "expected"), [(1e-3, {"a": 4, "b": 0}), (0.0, {"a": 8, "b": 0})]
)
def test_select_keeps_the_smallest_size_within_tolerance_of_the_best(tolerance, expected):
    trainer = FakeTrainer(_layer())
    selection = select_widths(trainer, _batches(), tolerance=tolerance, rounds=2)
    assert selection.sizes == expected
    for slot, row in selection.losses.items():
        best = min(row)
        np.testing.assert_allclose(
            np.array(row) - best,
            [LOSS[slot][c] - min(LOSS[slot].values()) for c in (0, 4, 8)],
            atol=1e-6,
        )
    assert selection.base_loss == pytest.approx(BASE + 0.0195 + 0.0002, abs=1e-6)
    final = BASE + sum(LOSS[s][c] for s, c in expected.items())
    assert selection.final_loss == pytest.approx(final, abs=1e-6)
    assert selection.num_examples == 16 and selection.tolerance == tolerance


def test_select_reports_progress_and_leaves_the_architecture_weights_as_they_were():
    layer = _layer()
    before = layer.get_arch_embedding_weights().numpy().copy()
    seen = []
    trainer = FakeTrainer(layer)
    select_widths(
        trainer, _batches(), tolerance=0.0, rounds=1, on_progress=lambda i, n: seen.append((i, n))
    )
    # 1 base + 2 slots x 2 other sizes + 1 final evaluations, 2 batches each.
    assert seen == [(i, 6) for i in range(1, 7)]
    assert trainer.calls == 12
    np.testing.assert_array_equal(layer.get_arch_embedding_weights().numpy(), before)


def test_pinned_sizes_pins_inside_the_block_and_restores_after_an_error():
    layer = _layer()
    before = layer.get_arch_embedding_weights().numpy().copy()
    with pytest.raises(RuntimeError, match="boom"):
        with pinned_sizes(layer, {"a": 4, "b": 0}):
            probs = layer.choice_probabilities()
            np.testing.assert_allclose(probs["a"], [0.0, 1.0, 0.0], atol=1e-12)
            np.testing.assert_allclose(probs["b"], [1.0, 0.0, 0.0], atol=1e-12)
            raise RuntimeError("boom")
    np.testing.assert_array_equal(layer.get_arch_embedding_weights().numpy(), before)


@pytest.mark.parametrize(
    ("sizes", "error", "match"),
    [
        ({"c": 4}, LookupError, "slots of the layer.*'c'"),
        ({"a": 5}, ValueError, "slot a.*\\[0, 4, 8\\]"),
    ],
)
def test_pinned_sizes_rejects_unknown_slots_and_sizes(sizes, error, match):
    with pytest.raises(error, match=match):
        with pinned_sizes(_layer(), sizes):
            pass


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tolerance": -1.0}, "tolerance.*>= 0"),
        ({"tolerance": float("nan")}, "tolerance"),
        ({"tolerance": 0.0, "rounds": 0}, "rounds.*>= 1"),
    ],
)
def test_select_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        select_widths(FakeTrainer(_layer()), _batches(), **kwargs)


def test_select_needs_an_nws_layer():
    trainer = FakeTrainer(_layer())
    trainer.nws_layers = []
    with pytest.raises(ValueError, match="NWS layer"):
        select_widths(trainer, _batches(), tolerance=0.0)


def test_holdout_batches_needs_a_holdout_split():
    trainer = FakeTrainer(_layer())
    trainer.holdout_every = 0
    with pytest.raises(ValueError, match="holdout_every.*>= 2"):
        holdout_batches(trainer, "data/train-*")


def test_cached_lookups_give_the_loss_of_a_full_forward_pass(tmp_path):
    from nwsrec.data.synthetic import SyntheticConfig, generate_synthetic
    from nwsrec.runs import resolve_params
    from nwsrec.search.select import _HoldoutLoss
    from nwsrec.training.trainer import Trainer

    config = SyntheticConfig(num_train=1024, num_test=256, pair_ranks=(1,), num_noise_slots=1)
    generate_synthetic(tmp_path / "data", config)
    overrides = {"batch_size": 64, "hidden_units": [4], "holdout_every": 4, "search": True}
    cls, params = resolve_params("synthetic", overrides, data_dir=str(tmp_path / "data"))
    trainer = Trainer(lambda: cls(params), params, str(tmp_path / "run"), progress=False)
    trainer.train(steps=5)
    batches = holdout_batches(trainer, params["train_file_pattern"], max_batches=2)
    cached = _HoldoutLoss(trainer, batches)
    assert cached._pooled is not None  # the Model path: lookups done once
    layer = trainer.nws_layers[0]
    for sizes in ({"1": 4, "2": 16, "3": 0}, {"1": 0, "2": 8, "3": 4}):
        with pinned_sizes(layer, sizes):
            total = 0.0
            for batch in batches:
                labels, logits = trainer.local_eval_step(batch)
                total += float(
                    tf.reduce_sum(
                        tf.nn.sigmoid_cross_entropy_with_logits(
                            labels=tf.cast(labels, tf.float32), logits=logits
                        )
                    )
                )
            assert cached() == pytest.approx(total / cached.num_examples, rel=1e-5)


# ------------------------------------------------------------------ frontier, paired CIs

from nwsrec.search.select import greedy_frontier, paired_difference  # noqa: E402


def test_paired_difference_matches_numpy():
    rng = np.random.default_rng(0)
    a = rng.normal(0.5, 0.3, size=500)
    b = a + rng.normal(0.01, 0.05, size=500)
    mean, low, high = paired_difference(b, a)
    d = b - a
    half = 1.959963984540054 * d.std(ddof=1) / np.sqrt(d.size)
    assert mean == pytest.approx(d.mean(), abs=1e-12)
    assert (low, high) == pytest.approx((d.mean() - half, d.mean() + half), abs=1e-12)
    assert paired_difference([1.0, 2.0], [1.0, 2.0]) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="same examples"):
        paired_difference([1.0], [1.0, 2.0])


def test_paired_interval_covers_the_true_difference_about_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    covered = 0
    trials = 400
    for _ in range(trials):
        base = rng.exponential(0.6, size=300)
        other = base + 0.002 + rng.normal(0.0, 0.02, size=300)
        _, low, high = paired_difference(other, base)
        covered += low <= 0.002 <= high
    # Binomial(400, 0.95): sd ~ 4.4 trials; 0.90 is more than 4 sd below.
    assert covered / trials >= 0.90


def _fake_evaluate(table, n=64, noise=0.0, seed=0):
    """Per-example losses: 0.5 + the sum of each unit's loss at its size (+ fixed noise)."""
    rng = np.random.default_rng(seed)
    jitter = rng.normal(0.0, noise, size=n) if noise else np.zeros(n)
    calls = []

    def evaluate(sizes):
        calls.append(dict(sizes))
        return 0.5 + sum(table[u][c] for u, c in sizes.items()) + jitter

    return evaluate, calls


def test_greedy_frontier_shrinks_the_expensive_unit_first_at_equal_loss():
    table = {
        "cheap": {0: 0.05, 4: 0.001, 8: 0.0},
        "dear": {0: 0.05, 4: 0.001, 8: 0.0},
    }
    evaluate, _ = _fake_evaluate(table)
    rows = {"cheap": 2, "dear": 4082}
    frontier = greedy_frontier(evaluate, {u: [0, 4, 8] for u in table}, rows, rows)
    moves = [p.move for p in frontier.points]
    assert moves[0] == "full"
    # The same loss for 8 -> 4, but "dear" saves 2,041x the parameters: it goes first.
    assert moves[1] == "dear: 8 -> 4"
    assert moves.index("dear: 4 -> 0") < moves.index("cheap: 8 -> 4")
    assert frontier.full_parameters == (2 + 4082) * 9
    assert [p.embedding_parameters for p in frontier.points][:3] == [
        (2 + 4082) * 9,
        2 * 9 + 4082 * 5,
        2 * 9,  # "dear" dropped with its bias
    ]
    # One unit keeps a positive size: 2 units x 2 smaller sizes - 1 steps.
    assert len(frontier.points) == 1 + 3
    assert frontier.points[-1].sizes == {"cheap": 4, "dear": 0}


def test_greedy_frontier_takes_the_least_loss_per_parameter_and_records_every_point():
    # "a" costs a lot of loss when narrower, "b" a little, "c" nothing (noise slot).
    table = {
        "a": {0: 0.2, 4: 0.01, 8: 0.0},
        "b": {0: 0.002, 4: 0.0005, 8: 0.0},
        "c": {0: 0.0, 4: 0.0, 8: 0.0},
    }
    evaluate, calls = _fake_evaluate(table, noise=0.01)
    rows = {"a": 100, "b": 100, "c": 100}
    frontier = greedy_frontier(evaluate, {u: [0, 4, 8] for u in table}, rows, rows)
    order = [p.move for p in frontier.points[1:]]
    assert order[:2] == ["c: 8 -> 4", "c: 4 -> 0"]
    assert order[2:4] == ["b: 8 -> 4", "b: 4 -> 0"]
    assert order[4] == "a: 8 -> 4" and len(order) == 5
    for point in frontier.points:
        expected = sum(table[u][c] for u, c in point.sizes.items())
        assert point.delta == pytest.approx(expected, abs=1e-9)
        # Paired on the same examples, the fixed noise cancels: a zero-width interval.
        assert point.ci95[0] == pytest.approx(expected, abs=1e-9)
        assert point.ci95[1] == pytest.approx(expected, abs=1e-9)
    assert frontier.num_examples == 64
    # Uniform widths 4 and 8 measured as reference points.
    assert [r["width"] for r in frontier.reference] == [4, 8]
    assert frontier.reference[0]["delta"] == pytest.approx(0.0105, abs=1e-9)
    assert frontier.evaluations == len(calls)


def test_frontier_budget_and_default_point():
    table = {
        "a": {0: 0.2, 4: 0.01, 8: 0.0},
        "b": {0: 0.002, 4: 0.0005, 8: 0.0},
    }
    evaluate, _ = _fake_evaluate(table)
    rows = {"a": 100, "b": 100}
    frontier = greedy_frontier(evaluate, {u: [0, 4, 8] for u in table}, rows, rows)
    points = frontier.sorted_points()
    assert [p.embedding_parameters for p in points] == sorted(
        p.embedding_parameters for p in points
    )
    # Within 1e-3 of full: b at 4 (0.0005), not b at 0 (0.002).
    default = points[frontier.default_index(1e-3)]
    assert default.sizes == {"a": 8, "b": 4}
    # Within half of full width's 1,800 parameters: the lowest loss that fits.
    chosen = points[frontier.within(budget_params=900)]
    assert chosen.embedding_parameters <= 900
    assert chosen.sizes == {"a": 8, "b": 0}
    with pytest.raises(ValueError, match="at least one frontier point"):
        frontier.within(budget_params=10)


def test_regrow_spends_what_a_budget_leaves_on_the_best_unit():
    # Path: (a8, b8) 990 params -> b 8->4 (950) -> a 8->4 (550) -> ...; at a budget of 900
    # the best path point is (a4, b4), and 40 of the 350 parameters left give b back 8.
    table = {"a": {0: 0.3, 4: 0.02, 8: 0.0}, "b": {0: 0.004, 4: 0.001, 8: 0.0}}
    evaluate, _ = _fake_evaluate(table)
    rows = {"a": 100, "b": 10}
    frontier = greedy_frontier(evaluate, {u: [0, 4, 8] for u in table}, rows, rows, budgets=[900])
    moves = [p.move for p in frontier.points]
    assert moves[1:3] == ["b: 8 -> 4", "a: 8 -> 4"]
    grown = [p for p in frontier.points if p.move.startswith("regrow")]
    assert len(grown) == 1 and grown[0].move == "regrow b: 4 -> 8"
    assert grown[0].sizes == {"a": 4, "b": 8} and grown[0].embedding_parameters == 590
    assert grown[0].delta == pytest.approx(0.02, abs=1e-9)
    assert frontier.sorted_points()[frontier.within(budget_params=900)].sizes == grown[0].sizes


def test_lazy_frontier_takes_the_exhaustive_path_in_far_fewer_evaluations():
    # An additive loss (each unit's cost independent of the others, rows differ): the
    # lazy heap must find the same path as measuring every unit at every step.
    rng = np.random.default_rng(3)
    table = {}
    for i in range(12):
        scale = float(rng.uniform(0.0, 0.02))
        table[f"u{i}"] = {0: scale * 8, 2: scale * 3, 4: scale, 8: 0.0}
    rows = {u: int(r) for u, r in zip(table, rng.integers(2, 5000, size=len(table)), strict=True)}
    cands = {u: [0, 2, 4, 8] for u in table}
    evaluate, _ = _fake_evaluate(table)
    exhaustive = greedy_frontier(evaluate, cands, rows, rows, lazy=False)
    evaluate, _ = _fake_evaluate(table)
    lazy = greedy_frontier(evaluate, cands, rows, rows)
    assert [p.move for p in lazy.points] == [p.move for p in exhaustive.points]
    assert lazy.evaluations < exhaustive.evaluations / 3
