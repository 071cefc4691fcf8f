import keras
import numpy as np
import pytest
import tensorflow as tf

from nwsrec.features import (
    SUPPORTED_OPTIMIZERS,
    default_bias_initializer,
    default_bias_optimizer,
    default_vec_initializer,
    default_vec_optimizer,
    optimizer_name,
    parameter_copies,
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
