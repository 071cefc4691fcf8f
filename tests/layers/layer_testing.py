"""Backend-neutral test helpers for the layers of nwsrec.

``run_layer_test``: the checks every nwsrec layer passes. Output shapes, weight counts,
``from_config(get_config())``, a ``.keras`` save/load round-trip that gives the same
outputs, and one training step that changes every trainable weight.

The autodiff and compilation helpers (``train_gradients``, ``compiled_training_call``,
``compiled``, ``num_traced_ops``) use the backend's own machinery: ``tf.GradientTape`` and
``tf.function`` on TensorFlow, ``jax.grad`` / ``jax.jit`` over ``Layer.stateless_call`` on
JAX. Neither framework is imported at module level, so these helpers (and the tests that
use them) run with TensorFlow unimportable under ``KERAS_BACKEND=jax``.
"""

from __future__ import annotations

import inspect
import pathlib
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import pytest

BACKEND = keras.backend.backend()


def _flat(outputs: Any) -> list[np.ndarray]:
    return [np.asarray(o) for o in keras.tree.flatten(outputs)]


def _unsupported() -> Any:
    return pytest.skip(f"no autodiff helper for the {BACKEND!r} backend")


def _jax_state(layer: keras.layers.Layer) -> tuple[list[Any], list[Any]]:
    return (
        [v.value for v in layer.trainable_variables],
        [v.value for v in layer.non_trainable_variables],
    )


def _training_kwargs(layer: keras.layers.Layer) -> dict[str, bool]:
    # ``stateless_call`` passes keyword arguments to ``call`` as they are (``__call__``
    # drops ``training`` for a ``call`` without it).
    return {"training": True} if "training" in inspect.signature(layer.call).parameters else {}


def _jax_write_back(layer: keras.layers.Layer, non_trainable: list[Any]) -> None:
    for variable, value in zip(layer.non_trainable_variables, non_trainable, strict=True):
        variable.assign(value)


def train_gradients(
    layer: keras.layers.Layer,
    inputs: Any,
    loss_fn: Callable[[Any], Any],
    *,
    compiled: bool = False,
) -> tuple[Any, list[Any], Any]:
    """One training call of ``layer`` and the gradients of ``loss_fn(outputs)``.

    The layer's state (``step``, seed generator) advances as in an ordinary training call.

    Returns:
        ``(outputs, grads, input_grads)``: the outputs, the gradient for each of
        ``layer.trainable_weights``, and the gradient for ``inputs`` (same structure).
    """
    if BACKEND == "tensorflow":
        import tensorflow as tf

        def step(x: Any) -> Any:
            with tf.GradientTape() as tape:
                tape.watch(x)
                outputs = layer(x, training=True)
                loss = loss_fn(outputs)
            grads, input_grads = tape.gradient(loss, [layer.trainable_weights, x])
            return outputs, grads, input_grads

        if compiled:
            step = tf.function(step)
        return step(tf.nest.map_structure(tf.constant, inputs))
    if BACKEND == "jax":
        import jax

        trainable, non_trainable = _jax_state(layer)

        def loss_and_state(trainable: list[Any], x: Any) -> Any:
            outputs, new_state = layer.stateless_call(
                trainable, non_trainable, x, **_training_kwargs(layer)
            )
            return loss_fn(outputs), (outputs, new_state)

        grad_fn = jax.grad(loss_and_state, argnums=(0, 1), has_aux=True)
        if compiled:
            grad_fn = jax.jit(grad_fn)
        (grads, input_grads), (outputs, new_state) = grad_fn(
            trainable, jax.tree.map(jax.numpy.asarray, inputs)
        )
        _jax_write_back(layer, new_state)
        return outputs, list(grads), input_grads
    return _unsupported()


def compiled_training_call(
    layer: keras.layers.Layer,
) -> tuple[Callable[[Any], Any], Callable[[], int]]:
    """A compiled ``layer(x, training=True)`` that keeps the layer's state, and its trace count.

    TensorFlow: ``tf.function``; JAX: ``jax.jit`` of ``stateless_call`` with the new state
    written back after each call.
    """
    if BACKEND == "tensorflow":
        import tensorflow as tf

        fn = tf.function(lambda x: layer(x, training=True))
        return fn, fn.experimental_get_tracing_count
    if BACKEND == "jax":
        import jax

        traces: list[int] = []

        @jax.jit
        def stateless(trainable: list[Any], non_trainable: list[Any], x: Any) -> Any:
            traces.append(1)
            return layer.stateless_call(trainable, non_trainable, x, **_training_kwargs(layer))

        def call(x: Any) -> Any:
            outputs, new_state = stateless(*_jax_state(layer), x)
            _jax_write_back(layer, new_state)
            return outputs

        return call, lambda: len(traces)
    return _unsupported()


def compiled(fn: Callable[[], Any]) -> Callable[[], Any]:
    """``fn`` compiled by the backend (``tf.function`` / ``jax.jit``)."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.function(fn)
    if BACKEND == "jax":
        import jax

        return jax.jit(fn)
    return _unsupported()


def num_traced_ops(layer: keras.layers.Layer, width: int) -> int:
    """Number of operations in a traced training step (call + arch-weight gradient).

    TensorFlow: the ops of the ``tf.function`` graph; JAX: the equations of the jaxpr.
    """
    if BACKEND == "tensorflow":
        import tensorflow as tf

        @tf.function
        def train_step(x: Any) -> Any:
            with tf.GradientTape() as tape:
                y = layer(x, training=True)
                loss = tf.reduce_sum(y * y)
            return tape.gradient(loss, layer.arch_embedding_weights)

        spec = tf.TensorSpec((None, width), tf.float32)
        return len(train_step.get_concrete_function(spec).graph.get_operations())
    if BACKEND == "jax":
        import jax

        trainable, non_trainable = _jax_state(layer)

        def loss(trainable: list[Any], x: Any) -> Any:
            y, _ = layer.stateless_call(trainable, non_trainable, x, **_training_kwargs(layer))
            return jax.numpy.sum(y * y)

        jaxpr = jax.make_jaxpr(jax.grad(loss))(trainable, np.ones((2, width), np.float32))
        return len(jaxpr.jaxpr.eqns)
    return _unsupported()


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
            return sum(keras.ops.mean(keras.ops.square(o)) for o in keras.tree.flatten(outs))

    before = [np.array(w) for w in layer.trainable_weights]
    _, grads, _ = train_gradients(layer, input_data, loss_fn)
    for weight, grad in zip(layer.trainable_weights, grads, strict=True):
        assert grad is not None, weight.path
        assert np.all(np.isfinite(np.asarray(grad))), weight.path
    keras.optimizers.SGD(learning_rate=0.1).apply_gradients(
        zip(grads, layer.trainable_weights, strict=True)
    )
    for weight, old in zip(layer.trainable_weights, before, strict=True):
        assert not np.array_equal(np.asarray(weight), old), f"{weight.path} did not change"
    return layer
