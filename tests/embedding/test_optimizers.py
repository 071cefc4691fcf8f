"""Each sparse optimizer's update against a numpy reference of its TPU formula."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import nwsrec.embedding as embedding
import nwsrec.features as features
from nwsrec.embedding import (
    EmbeddingTable,
    SparseFTRL,
    SparseOptimizer,
    SparseSGD,
    make_sparse_optimizer,
)

E = tf.tpu.experimental.embedding

VOCAB, DIM = 12, 3
# Three steps of ids, with duplicates inside an example and across examples, empty examples,
# and rows used in one step but not the next (lazy Adam must leave those alone).
STEPS = [
    [[1, 4, 4], [], [4, 7], [1]],
    [[4], [9, 9, 9], [], [1, 4]],
    [[7, 1], [7], [], [2]],
]
NEVER_USED = sorted(set(range(VOCAB)) - {i for step in STEPS for ex in step for i in ex})


def _initial_table() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(VOCAB, DIM)).astype(np.float32)


def _upstream(step: int) -> np.ndarray:
    return np.random.default_rng(100 + step).normal(size=(len(STEPS[step]), DIM)).astype(np.float32)


def _row_grads(step: int) -> dict[int, np.ndarray]:
    """d/dW of sum(lookup(ids) * U): row r gets U[b] once per occurrence of r in example b."""
    grads: dict[int, np.ndarray] = {}
    upstream = _upstream(step).astype(np.float64)
    for b, example in enumerate(STEPS[step]):
        for row in example:
            grads[row] = grads.get(row, np.zeros(DIM)) + upstream[b]
    return grads


# ---------------------------------------------------------------- numpy references
def _ref_sgd(opt, w, slots, row, g, lr):
    w[row] -= lr * g


def _ref_adagrad(opt, w, slots, row, g, lr):
    a = slots["accumulators"]
    a[row] += g * g
    w[row] -= lr * g / np.sqrt(a[row])


def _ref_adagrad_rowwise(opt, w, slots, row, g, lr):
    a = slots["accumulators"]  # [VOCAB, 1]: one accumulator per row
    a[row] += np.mean(g * g)
    w[row] -= lr * g / np.sqrt(a[row])


def _ref_adam(opt, w, slots, row, g, lr):
    m, v = slots["momenta"], slots["velocities"]
    m[row] = opt.beta_1 * m[row] + (1 - opt.beta_1) * g
    v[row] = opt.beta_2 * v[row] + (1 - opt.beta_2) * g * g
    if opt.sum_inside_sqrt:
        w[row] -= lr * m[row] / np.sqrt(v[row] + opt.epsilon**2)
    else:
        w[row] -= lr * m[row] / (np.sqrt(v[row]) + opt.epsilon)


def _ref_ftrl(opt, w, slots, row, g, lr):
    """McMahan et al. 2013, Algorithm 1, per coordinate, general learning-rate power."""
    n, z = slots["accumulators"], slots["linears"]
    p = -opt.learning_rate_power
    scale = lr if opt.multiply_linear_by_learning_rate else 1.0
    z_row = z[row] / scale
    n_new = n[row] + g * g
    sigma = (n_new**p - n[row] ** p) / lr
    z_row = z_row + g - sigma * w[row]
    n[row] = n_new
    l1, l2 = opt.l1_regularization_strength, opt.l2_regularization_strength
    denominator = (opt.beta + n_new**p) / lr + 2 * l2
    w[row] = np.where(np.abs(z_row) <= l1, 0.0, -(z_row - np.sign(z_row) * l1) / denominator)
    z[row] = z_row * scale


REFERENCES = {
    E.SGD: _ref_sgd,
    E.Adagrad: _ref_adagrad,
    E.Adam: _ref_adam,
    E.FTRL: _ref_ftrl,
    features.AdagradRowwise: _ref_adagrad_rowwise,
}
INITIAL_SLOTS = {
    E.SGD: lambda o: {},
    E.Adagrad: lambda o: {"accumulators": o.initial_accumulator_value},
    features.AdagradRowwise: lambda o: {"accumulators": o.initial_accumulator_value},
    E.Adam: lambda o: {"momenta": 0.0, "velocities": 0.0},
    E.FTRL: lambda o: {"accumulators": o.initial_accumulator_value, "linears": 0.0},
}

LEARNING_RATES = [0.1, 0.05, 0.2]  # per step, for the callable-learning-rate cases

CASES = {
    "sgd": lambda lr: E.SGD(learning_rate=0.3),
    "adagrad": lambda lr: E.Adagrad(learning_rate=0.2, initial_accumulator_value=0.3),
    "adagrad_callable_lr": lambda lr: E.Adagrad(learning_rate=lambda: lr),
    "adagrad_rowwise": lambda lr: features.AdagradRowwise(0.2, initial_accumulator_value=0.3),
    "adagrad_rowwise_callable_lr": lambda lr: features.AdagradRowwise(lambda: lr),
    "adam_sum_inside_sqrt": lambda lr: E.Adam(0.05, beta_1=0.8, beta_2=0.9, epsilon=1e-2),
    "adam_eps_outside": lambda lr: E.Adam(
        0.05, beta_1=0.7, beta_2=0.95, epsilon=1e-3, sum_inside_sqrt=False
    ),
    "ftrl": lambda lr: E.FTRL(learning_rate=0.5),
    "ftrl_l1_l2_beta": lambda lr: E.FTRL(
        learning_rate=0.4,
        l1_regularization_strength=0.05,
        l2_regularization_strength=0.2,
        beta=0.7,
        initial_accumulator_value=0.2,
    ),
    "ftrl_power_callable_lr": lambda lr: E.FTRL(
        learning_rate=lambda: lr,
        learning_rate_power=-0.3,
        beta=0.5,
        l1_regularization_strength=0.01,
    ),
    "ftrl_linear_times_lr": lambda lr: E.FTRL(
        learning_rate=0.3,
        l1_regularization_strength=0.02,
        beta=0.4,
        multiply_linear_by_learning_rate=True,
    ),
}


# Ids of the table grouped before "t" (group layout): its rows precede t's in the variable.
OTHER_ROWS = 5
OTHER_STEPS = [[[0, 4], [], [4], [3]], [[1], [], [2, 2], []], [[0], [0], [4], [1]]]


def _train(config, lr_variable, in_function=True, layout="table"):
    """Runs STEPS through lookup + GradientTape + apply_gradient; snapshots every step.

    ``layout="group"``: the table is the second member of a TableGroup (rows 5.. of one
    variable shared with another table of the same optimizer, looked up and updated in
    the same step), and its rows are what is snapshot.
    """
    w0 = _initial_table()
    if layout == "table":
        table = EmbeddingTable("t", VOCAB, DIM, config, initializer=lambda shape, dtype: w0)
        updated = table

        def pooled(ids, other_ids):
            return table.lookup(ids), 0.0

    else:
        plan = embedding.plan_groups(
            [
                embedding.TableSpec("other", OTHER_ROWS, DIM, config, "ones"),
                embedding.TableSpec("t", VOCAB, DIM, config, lambda shape, dtype: w0),
            ]
        )
        assert len(plan) == 1 and plan[0].offsets == (0, OTHER_ROWS)
        updated = embedding.TableGroup(plan[0])
        table = embedding.TableView(updated, 1)

        def pooled(ids, other_ids):
            out = updated.lookup_members(
                {
                    0: embedding.table.prepare_ids(other_ids, OTHER_ROWS, "other"),
                    1: embedding.table.prepare_ids(ids, VOCAB, "t"),
                }
            )
            return out[1], tf.reduce_sum(out[0]) * 0.5

    def step(ids, other_ids, upstream):
        with tf.GradientTape() as tape:
            mine, other = pooled(ids, other_ids)
            loss = tf.reduce_sum(mine * upstream) + other
        updated.apply_gradient(tape.gradient(loss, updated.variable))

    if in_function:
        step = tf.function(step)
    snapshots = [_state(table)]
    for i, ids in enumerate(STEPS):
        lr_variable.assign(LEARNING_RATES[i])
        step(
            tf.ragged.constant(ids, dtype=tf.int64, ragged_rank=1),
            tf.ragged.constant(OTHER_STEPS[i], dtype=tf.int64, ragged_rank=1),
            tf.constant(_upstream(i)),
        )
        snapshots.append(_state(table))
    return table, snapshots


def _state(table):
    out = {"w": table.variable.numpy().copy()}
    out.update({k: v.numpy().copy() for k, v in table.slot_variables.items()})
    return out


@pytest.mark.parametrize("layout", ["table", "group"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_update_matches_formula_and_leaves_other_rows_bit_identical(case, layout):
    lr_variable = tf.Variable(LEARNING_RATES[0])
    config = CASES[case](lr_variable)
    table, snapshots = _train(config, lr_variable, layout=layout)

    w = _initial_table().astype(np.float64)
    rowwise = features.ROWWISE_SLOT_NAMES.get(type(config), ())
    slots = {
        name: np.full((VOCAB, 1 if name in rowwise else DIM), value, np.float64)
        for name, value in INITIAL_SLOTS[type(config)](config).items()
    }
    reference = REFERENCES[type(config)]
    for step in range(len(STEPS)):
        lr = LEARNING_RATES[step] if callable(config.learning_rate) else config.learning_rate
        grads = _row_grads(step)
        for row, g in grads.items():
            reference(config, w, slots, row, g, lr)
        before, after = snapshots[step], snapshots[step + 1]
        untouched = sorted(set(range(VOCAB)) - set(grads))
        for name in after:
            # Rows not in this step's batch: not a single bit changes, table or slot.
            np.testing.assert_array_equal(after[name][untouched], before[name][untouched])
        np.testing.assert_allclose(after["w"], w, rtol=2e-5, atol=2e-6, err_msg=f"step {step}")
        for name, expected in slots.items():
            np.testing.assert_allclose(after[name], expected, rtol=2e-5, atol=2e-6)
        # The update did move every looked-up row (the formula is not a no-op here).
        assert not np.array_equal(after["w"][sorted(grads)], before["w"][sorted(grads)])

    np.testing.assert_array_equal(snapshots[-1]["w"][NEVER_USED], _initial_table()[NEVER_USED])


def test_eager_and_tf_function_updates_are_identical():
    lr_variable = tf.Variable(0.1)
    _, eager = _train(CASES["ftrl_l1_l2_beta"](lr_variable), lr_variable, in_function=False)
    _, traced = _train(CASES["ftrl_l1_l2_beta"](lr_variable), lr_variable, in_function=True)
    for name in eager[-1]:
        np.testing.assert_allclose(eager[-1][name], traced[-1][name], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "make_default, make_variant",
    [
        (lambda: E.SGD(0.2), lambda: E.SGD(0.2, use_gradient_accumulation=False)),
        (
            lambda: E.Adagrad(0.2),
            lambda: E.Adagrad(0.2, low_dimensional_packing_status=True),
        ),
        (
            lambda: E.FTRL(0.2, l1_regularization_strength=0.01),
            lambda: E.FTRL(0.2, l1_regularization_strength=0.01, allow_zero_accumulator=True),
        ),
    ],
    ids=["sgd_no_accumulation", "adagrad_packing", "ftrl_allow_zero_accumulator"],
)
def test_tpu_only_settings_are_accepted_and_change_nothing(make_default, make_variant):
    lr_variable = tf.Variable(0.1)
    _, default = _train(make_default(), lr_variable)
    _, variant = _train(make_variant(), lr_variable)
    for name in default[-1]:
        np.testing.assert_array_equal(default[-1][name], variant[-1][name])


@pytest.mark.parametrize(
    "config, slots, copies",
    [
        (E.SGD(0.1), (), 1),
        (E.Adagrad(0.1), ("accumulators",), 2),
        (E.Adam(0.1), ("momenta", "velocities"), 3),
        (E.FTRL(0.1), ("accumulators", "linears"), 3),
        (features.AdagradRowwise(0.1), ("accumulators",), 1),
    ],
    ids=["sgd", "adagrad", "adam", "ftrl", "adagrad_rowwise"],
)
def test_slot_names_and_parameter_copies(config, slots, copies):
    optimizer = make_sparse_optimizer(config, "t")
    assert optimizer.slot_names == slots
    assert optimizer.parameter_copies == copies


@pytest.mark.parametrize(
    "optimizer",
    [
        E.AdagradMomentum(0.1),
        keras.optimizers.SGD(0.1),
        None,
        "adagrad",
    ],
    ids=["tpu_adagrad_momentum", "keras_sgd", "none", "string"],
)
def test_other_optimizer_types_are_rejected(optimizer):
    with pytest.raises(ValueError, match=r"`optimizer` of table 't' must be one of .*FTRL"):
        make_sparse_optimizer(optimizer, "t")


@pytest.mark.parametrize(
    "config, option",
    [
        (lambda: E.SGD(0.1, clip_weight_min=-1.0), "clip_weight_min"),
        (lambda: E.Adagrad(0.1, clip_weight_max=1.0), "clip_weight_max"),
        (lambda: E.FTRL(0.1, clipvalue=1.0), "clipvalue"),
        (lambda: E.Adam(0.1, clipvalue=(None, 2.0)), "clipvalue"),
        (lambda: E.SGD(0.1, weight_decay_factor=0.01), "weight_decay_factor"),
        (
            lambda: E.Adagrad(0.1, multiply_weight_decay_factor_by_learning_rate=True),
            "multiply_weight_decay_factor_by_learning_rate",
        ),
        (
            lambda: E.Adagrad(0.1, slot_variable_creation_fn=lambda *a: {}),
            "slot_variable_creation_fn",
        ),
        (lambda: E.Adam(0.1, lazy_adam=False), "lazy_adam"),
    ],
    ids=[
        "clip_weight_min",
        "clip_weight_max",
        "clipvalue_scalar",
        "clipvalue_tuple",
        "weight_decay_factor",
        "multiply_weight_decay",
        "slot_variable_creation_fn",
        "non_lazy_adam",
    ],
)
def test_unsupported_options_are_rejected_by_name(config, option):
    with pytest.raises(ValueError, match=rf"`{option}` of the optimizer of table 't' must be"):
        make_sparse_optimizer(config(), "t")


@pytest.mark.parametrize(
    "learning_rate, match",
    [
        (keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9), "callable taking no arg"),
        ("0.1", "must be a number or a callable"),
        (True, "must be a number or a callable"),
        (-0.1, "finite number >= 0"),
        (float("nan"), "finite number >= 0"),
    ],
    ids=["keras_schedule", "string", "bool", "negative", "nan"],
)
def test_bad_learning_rates_are_rejected(learning_rate, match):
    with pytest.raises(ValueError, match=rf"`learning_rate` .*table 't'.*{match}"):
        make_sparse_optimizer(E.SGD(learning_rate), "t")


@pytest.mark.parametrize(
    "kwargs, option",
    [
        ({"l1_regularization_strength": -0.1}, "l1_regularization_strength"),
        ({"l2_regularization_strength": -0.1}, "l2_regularization_strength"),
        ({"beta": -1.0}, "beta"),
        ({"learning_rate_power": 0.5}, "learning_rate_power"),
        ({"learning_rate": 0.0}, "learning_rate"),
    ],
    ids=["negative_l1", "negative_l2", "negative_beta", "positive_power", "zero_learning_rate"],
)
def test_bad_ftrl_hyper_parameters_are_rejected(kwargs, option):
    config = E.FTRL(**{"learning_rate": 0.1, **kwargs})
    with pytest.raises(ValueError, match=rf"`{option}` of the FTRL optimizer of table 't'"):
        make_sparse_optimizer(config, "t")


def test_ftrl_zero_learning_rate_is_allowed_with_linear_times_lr():
    config = E.FTRL(0.0, multiply_linear_by_learning_rate=True)
    assert make_sparse_optimizer(config, "t").parameter_copies == 3


# --------------------------------------- one table: nwsrec.features.OPTIMIZER_SLOT_NAMES


def test_embedding_supports_exactly_the_optimizers_of_the_features_table():
    assert embedding.SUPPORTED_OPTIMIZERS is features.SUPPORTED_OPTIMIZERS
    implemented = tuple(
        make_sparse_optimizer(cls(0.1), "t").config for cls in features.SUPPORTED_OPTIMIZERS
    )
    assert tuple(type(config) for config in implemented) == features.SUPPORTED_OPTIMIZERS


def _config(cls):
    return cls(learning_rate=0.1)


@pytest.mark.parametrize("cls", features.SUPPORTED_OPTIMIZERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("accumulation", [False, True], ids=["plain", "accumulation"])
def test_memory_plan_copies_match_what_a_table_allocates(cls, accumulation):
    # parameter_copies (what the memory plan charges) must count the [rows, dim] arrays
    # an EmbeddingTable really creates: the table plus one variable per slot name.
    config = _config(cls)
    table = EmbeddingTable(f"t_{cls.__name__}", 7, 3, config)
    allocated = [v for v in table.variables if tuple(v.shape) == (7, 3)]
    per_row = [v for v in table.variables if tuple(v.shape) == (7, 1)]
    assert len(allocated) + len(per_row) == len(table.variables)
    assert len(per_row) == features.row_state_floats(config)  # AdagradRowwise: 1
    assert tuple(table.slot_variables) == features.OPTIMIZER_SLOT_NAMES[cls]
    assert table.parameter_copies == len(allocated)
    extra = 1 if accumulation else 0  # accumulated gradients are an array on TPU only
    assert features.parameter_copies(config, accumulation) == len(allocated) + extra
    sparse = make_sparse_optimizer(config, "t")
    assert sparse.slot_names == features.optimizer_slot_names(config)
    assert sparse.parameter_copies == features.parameter_copies(config)


def test_a_sparse_optimizer_for_a_class_outside_the_table_cannot_be_defined():
    with pytest.raises(TypeError, match=r"`config_class` of SparseMomentum must be one of"):

        class SparseMomentum(SparseOptimizer):  # noqa: F841 - defining it must fail
            config_class = E.AdagradMomentum

            def update_rows(self, rows, grads, learning_rate):
                return dict(rows)


def test_a_subclass_reads_its_slot_names_from_the_table():
    class MySGD(SparseSGD):
        pass

    assert MySGD.slot_names == () == features.OPTIMIZER_SLOT_NAMES[E.SGD]
    assert SparseFTRL.slot_names is features.OPTIMIZER_SLOT_NAMES[E.FTRL]
