"""Sparse row optimizers for embedding tables on CPU/GPU.

Each table is configured with a ``tf.tpu.experimental.embedding`` optimizer object (``SGD``,
``Adagrad``, ``Adam`` or ``FTRL``), the same object a ``TableConfig`` takes. Off TPU nothing
in TensorFlow applies those objects, so this module turns one into a :class:`SparseOptimizer`
that updates only the rows of a batch, with the formulas of the TPU embedding optimizers
(``tensorflow/core/protobuf/tpu/optimization_parameters.proto``). For a row ``r`` with summed
gradient ``g`` (duplicate ids of a batch are summed first) and learning rate ``lr``:

- SGD: ``w -= lr * g``.
- Adagrad: ``a += g**2``; ``w -= lr * g / sqrt(a)``; ``a`` starts at
  ``initial_accumulator_value``.
- Adam (lazy, as on TPU: no bias correction; use a callable learning rate
  ``lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)`` for it): ``m = beta_1 * m + (1 - beta_1) * g``;
  ``v = beta_2 * v + (1 - beta_2) * g**2``; ``w -= lr * m / sqrt(v + epsilon**2)`` with
  ``sum_inside_sqrt=True`` (the default), else ``w -= lr * m / (sqrt(v) + epsilon)``.
- FTRL (McMahan et al. 2013, per-coordinate, with ``p = -learning_rate_power``):
  ``n' = n + g**2``; ``z += g - (n'**p - n**p) / lr * w``;
  ``w = 0`` if ``|z| <= l1`` else ``(sign(z) * l1 - z) / ((beta + n'**p) / lr + 2 * l2)``;
  ``n = n'``. With ``multiply_linear_by_learning_rate=True`` the ``linears`` slot holds
  ``z * lr`` instead (the same update, written so a learning rate near zero stays finite).

Rows that are not in the batch, and their optimizer slots, are never written. SGD, Adagrad
and FTRL use TensorFlow's fused ``ResourceSparseApply*`` / ``ResourceScatterSub`` kernels;
Adam gathers its rows, computes, and scatters them back.

Options of the TPU objects that change the result and are not implemented here
(weight clipping, gradient clipping, weight decay, custom slot creation, non-lazy Adam) are a
``ValueError`` when set. ``use_gradient_accumulation`` and ``low_dimensional_packing_status``
are TPU precision/layout settings: here gradients are always summed in float32 before the
update (what gradient accumulation means on TPU) and the layout is TensorFlow's, so either
value gives the same result. FTRL's ``allow_zero_accumulator`` changes nothing either: the
accumulators start above zero (the TPU class enforces it) and only grow.

Example:
    >>> import tensorflow as tf
    >>> opt = make_sparse_optimizer(tf.tpu.experimental.embedding.Adagrad(0.1), "t")
    >>> opt.slot_names
    ('accumulators',)
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping
from typing import Any

import keras
import tensorflow as tf

__all__ = [
    "SUPPORTED_OPTIMIZERS",
    "SparseAdagrad",
    "SparseAdam",
    "SparseFTRL",
    "SparseOptimizer",
    "SparseSGD",
    "make_sparse_optimizer",
]

_TPU = tf.tpu.experimental.embedding

#: The TPU-embedding optimizer classes an :class:`~nwsrec.embedding.EmbeddingTable` accepts.
SUPPORTED_OPTIMIZERS: tuple[type, ...] = (_TPU.SGD, _TPU.Adagrad, _TPU.Adam, _TPU.FTRL)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _unsupported(table: str, option: str, value: Any, default: str) -> ValueError:
    return ValueError(
        f"`{option}` of the optimizer of table '{table}' must be {default}: nwsrec's "
        f"CPU/GPU embedding tables do not implement it. Received: {option}={value!r}"
    )


class SparseOptimizer(abc.ABC):
    """Applies one TPU-embedding optimizer's update to the rows of a batch.

    Subclasses validate their TPU optimizer object at construction and implement
    :meth:`apply`. Build one with :func:`make_sparse_optimizer`.

    Args:
        config: the ``tf.tpu.experimental.embedding`` optimizer object.
        table_name: the table it trains (named in error messages).

    Example:
        >>> import tensorflow as tf
        >>> make_sparse_optimizer(tf.tpu.experimental.embedding.SGD(0.1), "t").slot_names
        ()
    """

    #: Names of the optimizer slot variables, as the TPU optimizer object names them.
    slot_names: tuple[str, ...] = ()

    def __init__(self, config: Any, table_name: str) -> None:
        self.config = config
        self.table_name = table_name
        self._check_common()

    @property
    def parameter_copies(self) -> int:
        """The table plus its slot variables: SGD 1, Adagrad 2, Adam 3, FTRL 3."""
        return 1 + len(self.slot_names)

    def slot_initial_value(self, slot_name: str) -> float:
        """The value every row of slot ``slot_name`` starts at."""
        del slot_name
        return 0.0

    def learning_rate(self) -> tf.Tensor:
        """The learning rate now: the constant, or the callable's current value."""
        rate = self.config.learning_rate
        if callable(rate):
            rate = rate()
        return tf.cast(rate, tf.float32)

    @abc.abstractmethod
    def apply(
        self,
        variable: tf.Variable,
        slots: Mapping[str, tf.Variable],
        ids: tf.Tensor,
        grads: tf.Tensor,
    ) -> None:
        """Updates rows ``ids`` of ``variable`` and of its ``slots``.

        Args:
            variable: the table ``[vocab_size, dim]``.
            slots: the optimizer slots by name, each ``[vocab_size, dim]``.
            ids: int64 ``[n]``, unique row ids.
            grads: float32 ``[n, dim]``, the summed gradient of each row in ``ids``.
        """

    def _check_common(self) -> None:
        config, table = self.config, self.table_name
        rate = config.learning_rate
        if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule) or (
            not callable(rate) and not _is_number(rate)
        ):
            raise ValueError(
                f"`learning_rate` of the optimizer of table '{table}' must be a number or a "
                "callable taking no arguments (wrap a schedule as "
                f"`lambda: schedule(step)`). Received: learning_rate={rate!r}"
            )
        if _is_number(rate) and not (math.isfinite(rate) and rate >= 0):
            raise ValueError(
                f"`learning_rate` of the optimizer of table '{table}' must be a finite "
                f"number >= 0. Received: learning_rate={rate!r}"
            )
        for option in ("clip_weight_min", "clip_weight_max"):
            if getattr(config, option, None) is not None:
                raise _unsupported(table, option, getattr(config, option), "None")
        clip = (
            getattr(config, "clip_gradient_min", None),
            getattr(config, "clip_gradient_max", None),
        )
        if clip != (None, None):
            raise _unsupported(table, "clipvalue", clip, "None")
        if getattr(config, "weight_decay_factor", None):
            raise _unsupported(table, "weight_decay_factor", config.weight_decay_factor, "None")
        if getattr(config, "multiply_weight_decay_factor_by_learning_rate", None):
            raise _unsupported(
                table,
                "multiply_weight_decay_factor_by_learning_rate",
                config.multiply_weight_decay_factor_by_learning_rate,
                "None",
            )
        if getattr(config, "slot_variable_creation_fn", None) is not None:
            raise _unsupported(
                table, "slot_variable_creation_fn", config.slot_variable_creation_fn, "None"
            )


class SparseSGD(SparseOptimizer):
    """``w -= lr * g`` on the rows of the batch (``ResourceScatterSub``)."""

    slot_names = ()

    def apply(self, variable, slots, ids, grads) -> None:  # noqa: D102
        del slots
        tf.raw_ops.ResourceScatterSub(
            resource=variable.handle, indices=ids, updates=grads * self.learning_rate()
        )


class SparseAdagrad(SparseOptimizer):
    """``a += g**2; w -= lr * g / sqrt(a)`` on the rows (``ResourceSparseApplyAdagrad``)."""

    slot_names = ("accumulators",)

    def slot_initial_value(self, slot_name: str) -> float:  # noqa: D102
        del slot_name
        return float(self.config.initial_accumulator_value)

    def apply(self, variable, slots, ids, grads) -> None:  # noqa: D102
        tf.raw_ops.ResourceSparseApplyAdagrad(
            var=variable.handle,
            accum=slots["accumulators"].handle,
            lr=self.learning_rate(),
            grad=grads,
            indices=ids,
        )


class SparseAdam(SparseOptimizer):
    """Lazy Adam on the rows of the batch, with the TPU formula (no bias correction)."""

    slot_names = ("momenta", "velocities")

    def __init__(self, config: Any, table_name: str) -> None:
        super().__init__(config, table_name)
        if not config.lazy_adam:
            raise ValueError(
                f"`lazy_adam` of the optimizer of table '{table_name}' must be True: "
                "non-lazy Adam updates every row each step, so a step would cost in "
                f"proportion to the table's rows. Received: lazy_adam={config.lazy_adam!r}"
            )

    def apply(self, variable, slots, ids, grads) -> None:  # noqa: D102
        beta_1 = tf.constant(self.config.beta_1, tf.float32)
        beta_2 = tf.constant(self.config.beta_2, tf.float32)
        epsilon = tf.constant(self.config.epsilon, tf.float32)
        momenta, velocities = slots["momenta"], slots["velocities"]
        m = beta_1 * tf.gather(momenta, ids) + (1.0 - beta_1) * grads
        v = beta_2 * tf.gather(velocities, ids) + (1.0 - beta_2) * tf.square(grads)
        if self.config.sum_inside_sqrt:
            step = m * tf.math.rsqrt(v + tf.square(epsilon))
        else:
            step = m / (tf.sqrt(v) + epsilon)
        w = tf.gather(variable, ids) - self.learning_rate() * step
        tf.raw_ops.ResourceScatterUpdate(resource=momenta.handle, indices=ids, updates=m)
        tf.raw_ops.ResourceScatterUpdate(resource=velocities.handle, indices=ids, updates=v)
        tf.raw_ops.ResourceScatterUpdate(resource=variable.handle, indices=ids, updates=w)


class SparseFTRL(SparseOptimizer):
    """FTRL-proximal on the rows of the batch (``ResourceSparseApplyFtrl``).

    The TPU ``beta`` enters TensorFlow's kernel as ``l2 + beta / (2 * lr)``, as the TPU
    optimization-parameters proto prescribes.
    """

    slot_names = ("accumulators", "linears")

    def __init__(self, config: Any, table_name: str) -> None:
        super().__init__(config, table_name)
        for option in (
            "l1_regularization_strength",
            "l2_regularization_strength",
            "beta",
        ):
            value = getattr(config, option)
            if not _is_number(value) or not value >= 0:
                raise ValueError(
                    f"`{option}` of the FTRL optimizer of table '{table_name}' must be a "
                    f"number >= 0. Received: {option}={value!r}"
                )
        power = config.learning_rate_power
        if not _is_number(power) or not power <= 0:
            raise ValueError(
                f"`learning_rate_power` of the FTRL optimizer of table '{table_name}' must be "
                f"a number <= 0. Received: learning_rate_power={power!r}"
            )
        rate = config.learning_rate
        if _is_number(rate) and rate == 0 and not config.multiply_linear_by_learning_rate:
            raise ValueError(
                f"`learning_rate` of the FTRL optimizer of table '{table_name}' must be > 0 "
                "unless `multiply_linear_by_learning_rate=True`. Received: learning_rate=0"
            )

    def slot_initial_value(self, slot_name: str) -> float:  # noqa: D102
        if slot_name == "accumulators":
            return float(self.config.initial_accumulator_value)
        return 0.0

    def apply(self, variable, slots, ids, grads) -> None:  # noqa: D102
        config = self.config
        rate = self.learning_rate()
        l2 = tf.constant(config.l2_regularization_strength, tf.float32)
        if config.beta:
            l2 += tf.constant(config.beta, tf.float32) / (2.0 * rate)
        tf.raw_ops.ResourceSparseApplyFtrl(
            var=variable.handle,
            accum=slots["accumulators"].handle,
            linear=slots["linears"].handle,
            grad=grads,
            indices=ids,
            lr=rate,
            l1=tf.constant(config.l1_regularization_strength, tf.float32),
            l2=l2,
            lr_power=tf.constant(config.learning_rate_power, tf.float32),
            multiply_linear_by_lr=bool(config.multiply_linear_by_learning_rate),
        )


_BY_TYPE: dict[type, type[SparseOptimizer]] = {
    _TPU.SGD: SparseSGD,
    _TPU.Adagrad: SparseAdagrad,
    _TPU.Adam: SparseAdam,
    _TPU.FTRL: SparseFTRL,
}


def make_sparse_optimizer(optimizer: Any, table_name: str) -> SparseOptimizer:
    """The sparse row optimizer for a TPU-embedding optimizer object.

    Args:
        optimizer: a ``tf.tpu.experimental.embedding`` ``SGD``, ``Adagrad``, ``Adam`` or
            ``FTRL`` object; its hyper-parameters are honoured.
        table_name: the table it trains (named in error messages).

    Returns:
        A :class:`SparseOptimizer`.

    Raises:
        ValueError: for any other optimizer, or an option set that is not implemented.

    Example:
        >>> import tensorflow as tf
        >>> make_sparse_optimizer(tf.tpu.experimental.embedding.FTRL(0.1), "t").parameter_copies
        3
    """
    cls = _BY_TYPE.get(type(optimizer))
    if cls is None:
        names = ", ".join(f"tf.tpu.experimental.embedding.{c.__name__}" for c in _BY_TYPE)
        raise ValueError(
            f"`optimizer` of table '{table_name}' must be one of {names}. "
            f"Received: optimizer={optimizer!r}"
        )
    return cls(optimizer, table_name)
