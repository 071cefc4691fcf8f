import numpy as np
import pytest

from nwsrec.search.frontier import choose_default, choose_within, drop_warnings, greedy_frontier
from nwsrec.search.stats import paired_difference


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
    # One unit keeps a positive size: 2 units x 2 smaller sizes - 1 steps; then the
    # uniform width 4 (8 is full width, already a point).
    assert len(frontier.points) == 1 + 3 + 1
    assert frontier.points[3].sizes == {"cheap": 4, "dear": 0}
    assert frontier.points[-1].move == "uniform 4" and frontier.points[-1].uniform == 4
    assert frontier.points[0].uniform == 8


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
    assert order[4] == "a: 8 -> 4" and order[5:] == ["uniform 4"]
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
    with pytest.raises(ValueError, match="budget must admit a frontier point"):
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


def _entries(table, rows, noise, seed=0, budgets=()):
    evaluate, _ = _fake_evaluate(table, n=400, noise=noise, seed=seed)
    frontier = greedy_frontier(evaluate, {u: [0, 4, 8] for u in table}, rows, rows, budgets=budgets)
    return frontier, frontier.entries()


def test_a_budget_takes_a_uniform_width_unless_the_mixture_beats_it_with_confidence():
    # The path goes b 8 -> 4 -> 0. At 1000/1800 of full width, (a8, b0) (900
    # parameters, loss +0.0030) and the uniform width 4 (1,000 parameters, +0.0035)
    # fit: the mixture is better by 0.0005.
    table = {"a": {0: 0.03, 4: 0.002, 8: 0.0}, "b": {0: 0.003, 4: 0.0015, 8: 0.0}}
    rows = {"a": 100, "b": 100}
    budget = 1000 / 1800

    def evaluator(noise):
        def evaluate(sizes):
            base = 0.5 + sum(table[u][c] for u, c in sizes.items())
            seed = sum(ord(ch) * c for u, c in sizes.items() for ch in u)
            return base + np.random.default_rng(seed).normal(0.0, noise, size=400)

        return evaluate

    # Noisy evidence (each choice its own per-example noise): 0.0005 is inside the
    # interval, so the simple answer is kept.
    frontier = greedy_frontier(evaluator(0.05), {u: [0, 4, 8] for u in table}, rows, rows)
    points = frontier.entries()
    best = min((p for p in points if p["fraction"] <= budget), key=lambda p: p["holdout_loss"])
    chosen = points[choose_within(points, budget, None)]
    assert chosen["uniform"] == 4
    assert best["uniform"] is not None or best["vs_uniform"]["4"][2] >= 0
    # Noiseless evidence: the same 0.0005 is certain, and the mixture is taken.
    frontier = greedy_frontier(evaluator(0.0), {u: [0, 4, 8] for u in table}, rows, rows)
    points = frontier.entries()
    chosen = points[choose_within(points, budget, None)]
    assert chosen["uniform"] is None and chosen["sizes"] == {"a": 8, "b": 0}
    assert chosen["vs_uniform"]["4"][2] < 0


def test_default_point_is_judged_against_the_best_point_not_full_width():
    # Full width is worse than a narrower point (an over-trained supernet): the default is
    # the smallest point within tolerance of the *best* point.
    table = {"a": {0: 0.2, 4: -0.010, 8: 0.0}, "b": {0: 0.0005, 4: -0.010, 8: 0.0}}
    rows = {"a": 100, "b": 100}
    _, points = _entries(table, rows, noise=0.0)
    best = min(points, key=lambda p: p["holdout_loss"])
    assert best["sizes"] == {"a": 4, "b": 4}
    chosen = points[choose_default(points, 1e-3)]
    # (a4, b0) is 0.0105 above the best: too far; (a4, b4) itself is the smallest within.
    assert chosen["sizes"] == {"a": 4, "b": 4}
    assert chosen["vs_best"][2] <= 1e-3


def test_a_drop_the_evidence_says_matters_is_named_with_the_uniform_alternative():
    table = {"a": {0: 0.2, 4: 0.01, 8: 0.0}, "b": {0: 0.002, 4: 0.0005, 8: 0.0}}
    rows = {"a": 100, "b": 100}
    _, points = _entries(table, rows, noise=0.01)
    dropped = next(i for i, p in enumerate(points) if p["sizes"] == {"a": 4, "b": 0})
    lines = drop_warnings(points, dropped)
    assert len(lines) == 1 and lines[0].startswith("slot b is dropped")
    assert "+0.00150" in lines[0]  # b 4 -> 0 raised the loss by 0.002 - 0.0005
    kept = next(i for i, p in enumerate(points) if p["sizes"] == {"a": 8, "b": 8})
    assert drop_warnings(points, kept) == []
    # A drop that cost nothing is no warning.
    table["b"] = {0: 0.0, 4: 0.0, 8: 0.0}
    _, points = _entries(table, rows, noise=0.0)
    free = next(i for i, p in enumerate(points) if p["sizes"].get("b") == 0)
    assert drop_warnings(points, free) == []
