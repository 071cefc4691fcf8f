"""Optimizers of embedding slices and how much memory each one costs.

A slice's optimizer is a TF2 TPU-embedding optimizer object
(``tf.tpu.experimental.embedding.SGD``, ``Adagrad``, ``Adam`` or ``FTRL``) or nwsrec's
:class:`AdagradRowwise` (FBGEMM's row-wise Adagrad, which TPU embedding does not have).
Each one keeps a fixed number of ``[rows, dim]`` float arrays per table — the table itself
plus the optimizer's slot variables — which is what :func:`parameter_copies` counts, and
row-wise state of ``[rows, 1]`` (:func:`row_state_floats`):

==============  ======  =========  ==============================  =======================
optimizer       copies  per row    arrays                          slot variable names
==============  ======  =========  ==============================  =======================
SGD             1       0          table                           (none)
Adagrad         2       0          table, accumulator              accumulators
Adam            3       0          table, first and second moment  momenta, velocities
FTRL            3       0          table, accumulator, linear      accumulators, linears
AdagradRowwise  1       1          table, one accumulator per row  accumulators ``[rows, 1]``
==============  ======  =========  ==============================  =======================

:data:`OPTIMIZER_SLOT_NAMES` and :data:`ROWWISE_SLOT_NAMES` are the one table of these
facts: :func:`parameter_copies` (memory planning) and the sparse optimizers of
:mod:`nwsrec.embedding` (which allocate one variable per slot name, ``[rows, 1]`` for a
row-wise one) both read them, and :data:`SUPPORTED_OPTIMIZERS` is the first's keys.

Gradient accumulation adds one more array. Any other optimizer is an error, never a
silent default.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple, TypeAlias

import tensorflow as tf

__all__ = [
    "OPTIMIZER_SLOT_NAMES",
    "ROWWISE_SLOT_NAMES",
    "SUPPORTED_OPTIMIZERS",
    "AdagradRowwise",
    "EmbeddingOptimizer",
    "Initializer",
    "SlotDefaults",
    "default_bias_initializer",
    "default_bias_optimizer",
    "default_slot_defaults",
    "default_vec_initializer",
    "default_vec_optimizer",
    "optimizer_name",
    "optimizer_slot_names",
    "parameter_copies",
    "row_state_floats",
    "supported_optimizer_names",
]

_EMBEDDING = tf.tpu.experimental.embedding


class AdagradRowwise:
    """Row-wise Adagrad (FBGEMM's ``EXACT_ROWWISE_ADAGRAD``): one accumulator per row.

    For a row with summed gradient ``g`` (``[dim]``): ``a += mean(g**2)``;
    ``w -= lr * g / sqrt(a)``; ``a`` starts at ``initial_accumulator_value``. The optimizer
    state is one float per row instead of ``dim`` (per-element Adagrad): a 16-wide table
    with its state takes 17 floats per row instead of 32. TPU embedding has no such
    optimizer: a table with it has no TPU ``TableConfig``.

    Args:
        learning_rate: a number >= 0, or a callable taking no arguments (called at each
            update). Default 0.001.
        initial_accumulator_value: the accumulators' start, > 0. Default 0.1 (TPU
            Adagrad's).

    Example:
        >>> AdagradRowwise(0.05).learning_rate
        0.05
    """

    def __init__(
        self,
        learning_rate: float | Callable[[], Any] = 0.001,
        initial_accumulator_value: float = 0.1,
    ) -> None:
        if not (
            isinstance(initial_accumulator_value, int | float)
            and not isinstance(initial_accumulator_value, bool)
            and initial_accumulator_value > 0
        ):
            raise ValueError(
                "`initial_accumulator_value` must be a number > 0. "
                f"Received: initial_accumulator_value={initial_accumulator_value!r}"
            )
        self.learning_rate = learning_rate
        self.initial_accumulator_value = initial_accumulator_value

    def __repr__(self) -> str:
        return (
            f"AdagradRowwise(learning_rate={self.learning_rate!r}, "
            f"initial_accumulator_value={self.initial_accumulator_value!r})"
        )


EmbeddingOptimizer: TypeAlias = (
    tf.tpu.experimental.embedding.SGD
    | tf.tpu.experimental.embedding.Adagrad
    | tf.tpu.experimental.embedding.Adam
    | tf.tpu.experimental.embedding.FTRL
    | AdagradRowwise
)
"""A supported embedding optimizer object (for type hints)."""

Initializer: TypeAlias = Callable[..., Any]
"""An embedding initializer, called as ``initializer(shape, dtype=...)`` -> a tensor."""

# Exact classes, not isinstance: a subclass (or AdagradMomentum, which carries an extra
# momentum array) must not be counted as its parent. The names are those the TPU
# optimizer objects give their slot variables.
OPTIMIZER_SLOT_NAMES: Mapping[type, tuple[str, ...]] = MappingProxyType(
    {
        _EMBEDDING.SGD: (),
        _EMBEDDING.Adagrad: ("accumulators",),
        _EMBEDDING.Adam: ("momenta", "velocities"),
        _EMBEDDING.FTRL: ("accumulators", "linears"),
        AdagradRowwise: ("accumulators",),
    }
)
"""``{optimizer class: names of its slot variables}``, read-only: the one table of the
supported embedding optimizers and of the arrays each one keeps besides the table, each
``[rows, dim]`` unless :data:`ROWWISE_SLOT_NAMES` lists it as ``[rows, 1]``."""

ROWWISE_SLOT_NAMES: Mapping[type, tuple[str, ...]] = MappingProxyType(
    {AdagradRowwise: ("accumulators",)}
)
"""``{optimizer class: names of its [rows, 1] slot variables}`` (one float per row)."""

SUPPORTED_OPTIMIZERS: tuple[type, ...] = tuple(OPTIMIZER_SLOT_NAMES)
"""The optimizer classes an embedding slice (and an ``EmbeddingTable``) may use."""


def supported_optimizer_names() -> str:
    """The supported classes for error messages, comma-separated.

    Example:
        >>> supported_optimizer_names().split(", ")[0]
        'tf.tpu.experimental.embedding.SGD'
    """
    return ", ".join(
        f"tf.tpu.experimental.embedding.{cls.__name__}"
        if cls.__module__.startswith("tensorflow")
        else f"nwsrec.features.{cls.__name__}"
        for cls in SUPPORTED_OPTIMIZERS
    )


def optimizer_slot_names(optimizer: EmbeddingOptimizer) -> tuple[str, ...]:
    """Names of the ``[rows, dim]`` slot variables ``optimizer`` keeps besides the table.

    Args:
        optimizer: a ``tf.tpu.experimental.embedding`` ``SGD``, ``Adagrad``, ``Adam`` or
            ``FTRL`` object (matched by exact class).

    Raises:
        ValueError: if ``optimizer`` is of any other type.

    Example:
        >>> import tensorflow as tf
        >>> optimizer_slot_names(tf.tpu.experimental.embedding.Adam())
        ('momenta', 'velocities')
    """
    names = OPTIMIZER_SLOT_NAMES.get(type(optimizer))
    if names is None:
        raise ValueError(
            f"`optimizer` must be one of {supported_optimizer_names()}. "
            f"Received: optimizer={optimizer!r}"
        )
    return names


def parameter_copies(optimizer: EmbeddingOptimizer, use_gradient_accumulation: bool = False) -> int:
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
        The number of copies: SGD 1, Adagrad 2, Adam 3, FTRL 3, AdagradRowwise 1 (its
        accumulators are per row, :func:`row_state_floats`), plus 1 with accumulation.

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
    names = optimizer_slot_names(optimizer)
    full = len(names) - len(ROWWISE_SLOT_NAMES.get(type(optimizer), ()))
    return 1 + full + (1 if use_gradient_accumulation else 0)


def row_state_floats(optimizer: EmbeddingOptimizer) -> int:
    """Floats of optimizer state per row that do not scale with the width: the
    ``[rows, 1]`` slots (:data:`ROWWISE_SLOT_NAMES`); 0 for per-element optimizers.

    Raises:
        ValueError: if ``optimizer`` is not supported.

    Example:
        >>> row_state_floats(AdagradRowwise(0.1)), parameter_copies(AdagradRowwise(0.1))
        (1, 1)
    """
    optimizer_slot_names(optimizer)
    return len(ROWWISE_SLOT_NAMES.get(type(optimizer), ()))


def optimizer_name(optimizer: EmbeddingOptimizer) -> str:
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


def default_bias_optimizer() -> EmbeddingOptimizer:
    """The bias slice's default optimizer: ``FTRL(learning_rate=0.01)`` (a new object).

    Example:
        >>> default_bias_optimizer().learning_rate
        0.01
    """
    return _EMBEDDING.FTRL(learning_rate=0.01)


def default_vec_optimizer() -> EmbeddingOptimizer:
    """A vector slice's default optimizer: ``Adagrad(learning_rate=0.01)`` (a new object).

    Example:
        >>> default_vec_optimizer().learning_rate
        0.01
    """
    return _EMBEDDING.Adagrad(learning_rate=0.01)


def default_bias_initializer() -> Initializer:
    """The bias slice's default initializer: zeros.

    Example:
        >>> float(default_bias_initializer()([2, 1]).numpy().sum())
        0.0
    """
    return tf.zeros_initializer()


def default_vec_initializer() -> Initializer:
    """A vector slice's default initializer: uniform in ``[-0.001, 0.001)``.

    Example:
        >>> init = default_vec_initializer()
        >>> bool(abs(init([4, 8]).numpy()).max() <= 0.001)
        True
    """
    return tf.random_uniform_initializer(minval=-0.001, maxval=0.001)


class SlotDefaults(NamedTuple):
    """The optimizers and initializers a :class:`~nwsrec.features.FeatureSlot` uses for
    arguments it is not given (see :attr:`nwsrec.features.Env.slot_defaults`).

    Example:
        >>> d = default_slot_defaults()
        >>> type(d.bias_optimizer).__name__, type(d.vec_optimizer).__name__
        ('FTRL', 'Adagrad')
    """

    bias_optimizer: EmbeddingOptimizer
    bias_initializer: Initializer
    vec_optimizer: EmbeddingOptimizer
    vec_initializer: Initializer


def default_slot_defaults() -> SlotDefaults:
    """New default objects: FTRL(0.01) and zeros for biases, Adagrad(0.01) and uniform
    +-0.001 for vectors."""
    return SlotDefaults(
        default_bias_optimizer(),
        default_bias_initializer(),
        default_vec_optimizer(),
        default_vec_initializer(),
    )
