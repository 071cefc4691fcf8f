import os
import subprocess
import sys
import typing

import keras
import numpy as np
import pytest
import tensorflow as tf

from nwsrec.features import (
    OPTIMIZER_SLOT_NAMES,
    ROWWISE_SLOT_NAMES,
    SUPPORTED_OPTIMIZERS,
    AdagradRowwise,
    EmbeddingOptimizer,
    SlotDefaults,
    default_bias_initializer,
    default_bias_optimizer,
    default_slot_defaults,
    default_vec_initializer,
    default_vec_optimizer,
    optimizer_name,
    optimizer_slot_names,
    parameter_copies,
    row_state_floats,
    supported_optimizer_names,
)

E = tf.tpu.experimental.embedding


@pytest.mark.parametrize(
    ("optimizer", "copies"),
    [
        pytest.param(E.SGD(learning_rate=0.1), 1, id="sgd"),
        pytest.param(E.Adagrad(learning_rate=0.1), 2, id="adagrad"),
        pytest.param(E.Adam(learning_rate=0.1), 3, id="adam"),
        pytest.param(E.FTRL(learning_rate=0.1), 3, id="ftrl"),
    ],
)
def test_parameter_copies_counts_table_plus_optimizer_state(optimizer, copies):
    assert parameter_copies(optimizer) == copies
    assert parameter_copies(optimizer, use_gradient_accumulation=True) == copies + 1


def test_model_flag_decides_accumulation_not_the_optimizer_attribute():
    # TF2 optimizers default use_gradient_accumulation=True; the model flag wins.
    assert parameter_copies(E.SGD(use_gradient_accumulation=True), False) == 1
    assert parameter_copies(E.SGD(use_gradient_accumulation=False), True) == 2


@pytest.mark.parametrize(
    "optimizer",
    [
        pytest.param(E.AdagradMomentum(learning_rate=0.1), id="adagrad-momentum"),
        pytest.param(keras.optimizers.Adam(), id="keras-adam"),
        pytest.param("sgd", id="string"),
        pytest.param(None, id="none"),
    ],
)
def test_unsupported_optimizer_is_a_value_error(optimizer):
    with pytest.raises(ValueError, match=r"`optimizer` must be one of .*Received: optimizer="):
        parameter_copies(optimizer)
    with pytest.raises(ValueError, match="`optimizer` must be one of"):
        optimizer_name(optimizer)


def test_accumulation_flag_must_be_bool():
    with pytest.raises(ValueError, match="`use_gradient_accumulation` must be a bool"):
        parameter_copies(E.SGD(), use_gradient_accumulation=1)


def test_optimizer_name_is_the_class_name():
    assert [optimizer_name(cls()) for cls in SUPPORTED_OPTIMIZERS] == [
        "SGD",
        "Adagrad",
        "Adam",
        "FTRL",
        "AdagradRowwise",
    ]


def test_default_optimizers_are_the_seed_defaults_and_fresh_objects():
    bias, vec = default_bias_optimizer(), default_vec_optimizer()
    assert isinstance(bias, E.FTRL) and bias.learning_rate == pytest.approx(0.01)
    assert isinstance(vec, E.Adagrad) and vec.learning_rate == pytest.approx(0.01)
    assert default_bias_optimizer() is not bias
    assert default_vec_optimizer() is not vec


def test_default_initializers_zeros_and_uniform_within_one_thousandth():
    zeros = default_bias_initializer()([5, 1], dtype=tf.float32).numpy()
    assert np.array_equal(zeros, np.zeros([5, 1], np.float32))
    values = default_vec_initializer()([100, 100], dtype=tf.float32).numpy()
    assert values.min() >= -0.001 and values.max() < 0.001
    # 10,000 uniform draws: each tail of width 1e-4 is hit with probability 1 - 0.95**1e4.
    assert values.min() < -0.0009 and values.max() > 0.0009


# ----------------------------------------------------------- the one optimizer table


def test_supported_optimizers_are_the_keys_of_the_one_table():
    assert SUPPORTED_OPTIMIZERS == tuple(OPTIMIZER_SLOT_NAMES)
    assert SUPPORTED_OPTIMIZERS == (E.SGD, E.Adagrad, E.Adam, E.FTRL, AdagradRowwise)


def test_the_table_is_read_only():
    with pytest.raises(TypeError):
        OPTIMIZER_SLOT_NAMES[E.AdagradMomentum] = ("accumulators", "momenta")  # type: ignore[index]


@pytest.mark.parametrize("cls", SUPPORTED_OPTIMIZERS, ids=lambda c: c.__name__)
def test_table_slot_names_are_the_ones_tensorflow_gives_each_optimizer(cls):
    # The TPU optimizer objects name their own slot variables; the table must agree (a
    # renamed or added slot in TF would otherwise go unnoticed).
    optimizer = cls(learning_rate=0.1)
    if cls is AdagradRowwise:
        pytest.skip("nwsrec's own optimizer: TensorFlow has no row-wise Adagrad")
    if not hasattr(optimizer, "_slot_names"):  # pragma: no cover - TF internals moved
        pytest.skip("this TensorFlow does not expose _slot_names()")
    assert OPTIMIZER_SLOT_NAMES[cls] == tuple(optimizer._slot_names())
    assert optimizer_slot_names(optimizer) == OPTIMIZER_SLOT_NAMES[cls]


@pytest.mark.parametrize("cls", SUPPORTED_OPTIMIZERS, ids=lambda c: c.__name__)
def test_parameter_copies_is_read_from_the_table(cls):
    optimizer = cls(learning_rate=0.1)
    full = len(OPTIMIZER_SLOT_NAMES[cls]) - len(ROWWISE_SLOT_NAMES.get(cls, ()))
    assert parameter_copies(optimizer) == 1 + full
    assert parameter_copies(optimizer, True) == 2 + full
    assert row_state_floats(optimizer) == len(ROWWISE_SLOT_NAMES.get(cls, ()))


def test_rowwise_adagrad_keeps_one_float_per_row_and_checks_its_accumulator_start():
    optimizer = AdagradRowwise(0.1)
    assert (parameter_copies(optimizer), row_state_floats(optimizer)) == (1, 1)
    assert optimizer_name(optimizer) == "AdagradRowwise"
    assert row_state_floats(E.Adagrad(0.1)) == 0
    with pytest.raises(ValueError, match=r"`initial_accumulator_value` must be a number > 0"):
        AdagradRowwise(0.1, initial_accumulator_value=0.0)


@pytest.mark.parametrize(
    "optimizer",
    [
        pytest.param(E.AdagradMomentum(learning_rate=0.1), id="adagrad-momentum"),
        pytest.param(E.Adagrad, id="a-class-not-an-object"),
        pytest.param(None, id="none"),
    ],
)
def test_optimizer_slot_names_rejects_what_the_table_does_not_hold(optimizer):
    with pytest.raises(ValueError, match=r"`optimizer` must be one of .*Rowwise\. Received"):
        optimizer_slot_names(optimizer)
    with pytest.raises(ValueError, match="`optimizer` must be one of"):
        parameter_copies(optimizer)


def test_supported_optimizer_names_lists_the_table_in_order():
    assert supported_optimizer_names() == (
        "tf.tpu.experimental.embedding.SGD, tf.tpu.experimental.embedding.Adagrad, "
        "tf.tpu.experimental.embedding.Adam, tf.tpu.experimental.embedding.FTRL, "
        "nwsrec.features.AdagradRowwise"
    )


def test_default_slot_defaults_are_the_four_defaults_and_fresh_objects():
    first, second = default_slot_defaults(), default_slot_defaults()
    assert isinstance(first, SlotDefaults)
    assert type(first.bias_optimizer) is E.FTRL
    assert type(first.vec_optimizer) is E.Adagrad
    assert first.bias_optimizer.learning_rate == first.vec_optimizer.learning_rate == 0.01
    assert float(tf.reduce_sum(first.bias_initializer([2, 1]))) == 0.0
    assert float(tf.reduce_max(tf.abs(first.vec_initializer([4, 8])))) <= 0.001
    for a, b in zip(first, second, strict=True):
        assert a is not b


def test_embedding_optimizer_alias_names_the_supported_classes():
    assert set(typing.get_args(EmbeddingOptimizer)) == set(SUPPORTED_OPTIMIZERS)


def test_features_does_not_import_the_embedding_layer():
    # features is the lower layer: embedding reads its optimizer table, never the reverse.
    code = (
        "import sys, nwsrec.features; "
        "bad = sorted(m for m in sys.modules if m.startswith('nwsrec.embedding')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
