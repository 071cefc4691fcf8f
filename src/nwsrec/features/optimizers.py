"""Optimizers of embedding slices and how much memory each one costs.

A slice's optimizer is a TF2 TPU-embedding optimizer object
(``tf.tpu.experimental.embedding.SGD``, ``Adagrad``, ``Adam`` or ``FTRL``). Each one keeps
a fixed number of ``[rows, dim]`` float arrays per table — the table itself plus the
optimizer's slot variables — which is what :func:`parameter_copies` counts:

=========  ======  ==============================
optimizer  copies  arrays
=========  ======  ==============================
SGD        1       table
Adagrad    2       table, accumulator
Adam       3       table, first and second moment
FTRL       3       table, accumulator, linear
=========  ======  ==============================

Gradient accumulation adds one more array. Any other optimizer is an error, never a
silent default.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

__all__ = [
    "SUPPORTED_OPTIMIZERS",
    "default_bias_initializer",
    "default_bias_optimizer",
    "default_vec_initializer",
    "default_vec_optimizer",
    "optimizer_name",
    "parameter_copies",
]

_EMBEDDING = tf.tpu.experimental.embedding

# Exact classes, not isinstance: a subclass (or AdagradMomentum, which carries an extra
# momentum array) must not be counted as its parent.
_COPIES: dict[type, int] = {
    _EMBEDDING.SGD: 1,
    _EMBEDDING.Adagrad: 2,
    _EMBEDDING.Adam: 3,
    _EMBEDDING.FTRL: 3,
}

SUPPORTED_OPTIMIZERS: tuple[type, ...] = tuple(_COPIES)
"""The optimizer classes an embedding slice may use."""


def _supported_names() -> str:
    return ", ".join(f"tf.tpu.experimental.embedding.{cls.__name__}" for cls in _COPIES)


def parameter_copies(optimizer: Any, use_gradient_accumulation: bool = False) -> int:
    """Number of ``[rows, dim]`` float arrays a table trained by ``optimizer`` keeps.

    The seed's ``_get_slot_number``: the table plus the optimizer's slot variables, one
    more with gradient accumulation. The model-level ``use_gradient_accumulation`` flag
    decides, not the optimizer object's own attribute (TF2 defaults that one to ``True``).

    Args:
        optimizer: a ``tf.tpu.experimental.embedding`` ``SGD``, ``Adagrad``, ``Adam`` or
            ``FTRL`` object.
        use_gradient_accumulation: whether one more array is kept for accumulated
            gradients.

    Returns:
        The number of copies: SGD 1, Adagrad 2, Adam 3, FTRL 3, plus 1 with accumulation.

    Raises:
        ValueError: if ``optimizer`` is of any other type, or the flag is not a bool.

    Example:
        >>> import tensorflow as tf
        >>> parameter_copies(tf.tpu.experimental.embedding.FTRL(learning_rate=0.01))
        3
        >>> parameter_copies(tf.tpu.experimental.embedding.SGD(), True)
        2
    """
    if not isinstance(use_gradient_accumulation, bool):
        raise ValueError(
            "`use_gradient_accumulation` must be a bool. "
            f"Received: use_gradient_accumulation={use_gradient_accumulation!r}"
        )
    copies = _COPIES.get(type(optimizer))
    if copies is None:
        raise ValueError(
            f"`optimizer` must be one of {_supported_names()}. Received: optimizer={optimizer!r}"
        )
    return copies + (1 if use_gradient_accumulation else 0)


def optimizer_name(optimizer: Any) -> str:
    """Short name of a supported optimizer (``"SGD"``, ``"Adagrad"``, ``"Adam"``, ``"FTRL"``).

    Args:
        optimizer: a supported ``tf.tpu.experimental.embedding`` optimizer object.

    Raises:
        ValueError: if ``optimizer`` is not supported.

    Example:
        >>> import tensorflow as tf
        >>> optimizer_name(tf.tpu.experimental.embedding.Adagrad())
        'Adagrad'
    """
    parameter_copies(optimizer)
    return type(optimizer).__name__


def default_bias_optimizer() -> Any:
    """The bias slice's default optimizer: ``FTRL(learning_rate=0.01)`` (a new object).

    Example:
        >>> default_bias_optimizer().learning_rate
        0.01
    """
    return _EMBEDDING.FTRL(learning_rate=0.01)


def default_vec_optimizer() -> Any:
    """A vector slice's default optimizer: ``Adagrad(learning_rate=0.01)`` (a new object).

    Example:
        >>> default_vec_optimizer().learning_rate
        0.01
    """
    return _EMBEDDING.Adagrad(learning_rate=0.01)


def default_bias_initializer() -> Any:
    """The bias slice's default initializer: zeros.

    Example:
        >>> float(default_bias_initializer()([2, 1]).numpy().sum())
        0.0
    """
    return tf.zeros_initializer()


def default_vec_initializer() -> Any:
    """A vector slice's default initializer: uniform in ``[-0.001, 0.001)``.

    Example:
        >>> init = default_vec_initializer()
        >>> bool(abs(init([4, 8]).numpy()).max() <= 0.001)
        True
    """
    return tf.random_uniform_initializer(minval=-0.001, maxval=0.001)
