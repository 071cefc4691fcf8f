"""``run_layer_test``: the checks every nwsrec layer passes.

Output shapes, weight counts, ``from_config(get_config())``, a ``.keras`` save/load
round-trip that gives the same outputs, and one training step that changes every
trainable weight.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf


def _flat(outputs: Any) -> list[np.ndarray]:
    return [np.asarray(o) for o in tf.nest.flatten(outputs)]


def _inputs_for(data: Any) -> Any:
    if isinstance(data, list | tuple):
        return [keras.Input(shape=np.shape(d)[1:], dtype=str(np.asarray(d).dtype)) for d in data]
    return keras.Input(shape=np.shape(data)[1:], dtype=str(np.asarray(data).dtype))


def run_layer_test(
    layer_cls: type[keras.layers.Layer],
    init_kwargs: dict[str, Any],
    input_data: Any,
    *,
    expected_output_shapes: list[tuple[int, ...]],
    expected_num_trainable_weights: int,
    expected_num_non_trainable_weights: int,
    tmp_path: pathlib.Path,
    loss_fn: Callable[[Any], Any] | None = None,
) -> keras.layers.Layer:
    """Run the standard layer checks and return the built layer.

    Args:
        layer_cls: the layer class.
        init_kwargs: constructor arguments.
        input_data: a NumPy array, or a list of arrays for a multi-input layer.
        expected_output_shapes: the shape of each (flattened) output.
        expected_num_trainable_weights: ``len(layer.trainable_weights)``.
        expected_num_non_trainable_weights: ``len(layer.non_trainable_weights)``.
        tmp_path: where the ``.keras`` file is written.
        loss_fn: maps the training outputs to a scalar loss; default: the sum of the
            mean squares of the flattened outputs.

    Returns:
        The layer after its training step.
    """
    layer = layer_cls(**init_kwargs)
    outputs = layer(input_data, training=False)

    # Output shapes.
    shapes = [o.shape for o in _flat(outputs)]
    assert shapes == [tuple(s) for s in expected_output_shapes], shapes
    symbolic = layer.compute_output_shape(
        [tuple(np.shape(d)) for d in input_data]
        if isinstance(input_data, list | tuple)
        else tuple(np.shape(input_data))
    )
    if isinstance(outputs, tuple):
        assert [tuple(s) for s in symbolic] == shapes, symbolic
    else:
        assert tuple(symbolic) == shapes[0], symbolic

    # Weight counts.
    assert len(layer.trainable_weights) == expected_num_trainable_weights
    assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights

    # Config round-trip: the same config, and the same outputs with the same weights.
    config = layer.get_config()
    clone = layer_cls.from_config(config)
    assert clone.get_config() == config
    clone(input_data, training=False)
    clone.set_weights(layer.get_weights())
    for a, b in zip(_flat(clone(input_data, training=False)), _flat(outputs), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)

    # .keras save / load round-trip.
    inputs = _inputs_for(input_data)
    model = keras.Model(inputs, layer(inputs))
    path = tmp_path / f"{layer.name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    for a, b in zip(_flat(loaded(input_data, training=False)), _flat(outputs), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    for a, b in zip(loaded.get_weights(), layer.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)

    # One training step changes every trainable weight.
    if loss_fn is None:

        def loss_fn(outs: Any) -> Any:
            return sum(keras.ops.mean(keras.ops.square(o)) for o in tf.nest.flatten(outs))

    before = [np.array(w) for w in layer.trainable_weights]
    with tf.GradientTape() as tape:
        loss = loss_fn(layer(input_data, training=True))
    grads = tape.gradient(loss, layer.trainable_weights)
    for weight, grad in zip(layer.trainable_weights, grads, strict=True):
        assert grad is not None, weight.path
        assert np.all(np.isfinite(np.asarray(grad))), weight.path
    keras.optimizers.SGD(learning_rate=0.1).apply_gradients(
        zip(grads, layer.trainable_weights, strict=True)
    )
    for weight, old in zip(layer.trainable_weights, before, strict=True):
        assert not np.array_equal(np.asarray(weight), old), f"{weight.path} did not change"
    return layer
