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
- AdagradRowwise (:class:`nwsrec.features.AdagradRowwise`, FBGEMM's row-wise Adagrad; no TPU
  counterpart): one accumulator per row, ``a += mean(g**2)`` over the row's ``dim``
  values; ``w -= lr * g / sqrt(a)``.
- Adam (lazy, as on TPU: no bias correction; use a callable learning rate
  ``lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)`` for it): ``m = beta_1 * m + (1 - beta_1) * g``;
  ``v = beta_2 * v + (1 - beta_2) * g**2``; ``w -= lr * m / sqrt(v + epsilon**2)`` with
  ``sum_inside_sqrt=True`` (the default), else ``w -= lr * m / (sqrt(v) + epsilon)``.
- FTRL (McMahan et al. 2013, per-coordinate, with ``p = -learning_rate_power``):
  ``n' = n + g**2``; ``z += g - (n'**p - n**p) / lr * w``;
  ``w = 0`` if ``|z| <= l1`` else ``(sign(z) * l1 - z) / ((beta + n'**p) / lr + 2 * l2)``;
  ``n = n'``. With ``multiply_linear_by_learning_rate=True`` the ``linears`` slot holds
  ``z * lr`` instead (the same update, written so a learning rate near zero stays finite).

Rows that are not in the batch, and their optimizer slots, are never written: an update
gathers the batch's rows of the table and slots, computes on those ``[n, dim]`` blocks, and
writes them back with ``ResourceScatterUpdate``. (TensorFlow's fused
``ResourceSparseApply*`` / ``ResourceScatterSub`` CPU kernels compute the same row by row;
at dim 16 they measured 1.5-3x slower than gather, vectorized math and scatter-update; again
on the Criteo-shaped model of ``bench/peers.py``: ``ResourceSparseApplyAdagradV2`` took 3.8 ms
of CPU per step where the gathers, math and scatters it replaces took about 2, and the run
0.93x the examples/s.)

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
from typing import Any, ClassVar, TypeGuard

import keras
import tensorflow as tf

from nwsrec.features.optimizers import (
    OPTIMIZER_SLOT_NAMES,
    ROWWISE_SLOT_NAMES,
    SUPPORTED_OPTIMIZERS,
    AdagradRowwise,
    EmbeddingOptimizer,
    supported_optimizer_names,
)

__all__ = [
    "SUPPORTED_OPTIMIZERS",
    "SparseAdagrad",
    "SparseAdagradRowwise",
    "SparseAdam",
    "SparseFTRL",
    "SparseOptimizer",
    "SparseSGD",
    "make_sparse_optimizer",
]

_TPU = tf.tpu.experimental.embedding

# SUPPORTED_OPTIMIZERS (the classes an EmbeddingTable accepts) and each class's slot
# variable names come from nwsrec.features.optimizers.OPTIMIZER_SLOT_NAMES, the one table
# that memory planning (parameter_copies) reads too; each SparseOptimizer below declares
# only which class it implements.


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _unsupported(table: str, option: str, value: object, default: str) -> ValueError:
    return ValueError(
        f"`{option}` of the optimizer of table '{table}' must be {default}: nwsrec's "
        f"CPU/GPU embedding tables do not implement it. Received: {option}={value!r}"
    )


class SparseOptimizer(abc.ABC):
    """Applies one TPU-embedding optimizer's update to the rows of a batch.

    An update gathers the batch's rows of the table and of each slot, computes their new
    values with :meth:`update_rows` (elementwise math on ``[n, dim]`` blocks), and writes
    them back with ``ResourceScatterUpdate``. Nothing else is read or written. Subclasses
    validate their TPU optimizer object at construction. Build one with
    :func:`make_sparse_optimizer`.

    Args:
        config: the ``tf.tpu.experimental.embedding`` optimizer object.
        table_name: the table it trains (named in error messages).

    Example:
        >>> import tensorflow as tf
        >>> make_sparse_optimizer(tf.tpu.experimental.embedding.SGD(0.1), "t").slot_names
        ()
    """

    #: The ``tf.tpu.experimental.embedding`` class this optimizer implements (a key of
    #: :data:`nwsrec.features.OPTIMIZER_SLOT_NAMES`); set by every concrete subclass.
    config_class: ClassVar[type]

    #: Names of the optimizer slot variables, as the TPU optimizer object names them:
    #: ``OPTIMIZER_SLOT_NAMES[config_class]``, filled in when a subclass is defined.
    slot_names: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        config_class = cls.__dict__.get("config_class")
        if config_class is not None:
            if config_class not in OPTIMIZER_SLOT_NAMES:
                raise TypeError(
                    f"`config_class` of {cls.__name__} must be one of "
                    f"{supported_optimizer_names()}. Received: config_class={config_class!r}"
                )
            cls.slot_names = OPTIMIZER_SLOT_NAMES[config_class]

    def __init__(self, config: EmbeddingOptimizer, table_name: str) -> None:
        self.config: Any = config  # a TPU optimizer object or AdagradRowwise
        self.table_name = table_name
        self._check_common()

    @property
    def parameter_copies(self) -> int:
        """The table plus its ``[rows, dim]`` slot variables: SGD 1, Adagrad 2, Adam 3,
        FTRL 3, AdagradRowwise 1 (its accumulators are ``[rows, 1]``)."""
        return 1 + len(self.slot_names) - len(ROWWISE_SLOT_NAMES.get(self.config_class, ()))

    def slot_shape(self, slot_name: str, rows: int, dim: int) -> tuple[int, int]:
        """The shape of slot ``slot_name`` for a table ``[rows, dim]``: ``[rows, 1]`` for
        a row-wise slot, else ``[rows, dim]``."""
        if slot_name in ROWWISE_SLOT_NAMES.get(self.config_class, ()):
            return (rows, 1)
        return (rows, dim)

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
    def update_rows(
        self, rows: Mapping[str, tf.Tensor], grads: tf.Tensor, learning_rate: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        """New values of the batch's rows.

        Args:
            rows: ``"table"`` and each slot name -> the current rows ``[n, dim]``.
            grads: ``[n, dim]``, the summed gradient of each row.
            learning_rate: scalar float32.

        Returns:
            ``"table"`` and each slot name -> the new rows ``[n, dim]``.
        """

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
            ids: int64 ``[n]``, unique row ids (a duplicate would be written twice, not
                summed).
            grads: float32 ``[n, dim]``, the summed gradient of each row in ``ids``.
        """
        targets = {"table": variable, **{name: slots[name] for name in self.slot_names}}
        rows = {name: tf.gather(target, ids) for name, target in targets.items()}
        new_rows = self.update_rows(rows, grads, self.learning_rate())
        for name, target in targets.items():
            tf.raw_ops.ResourceScatterUpdate(
                resource=target.handle, indices=ids, updates=new_rows[name]
            )

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
    """``w -= lr * g``."""

    config_class = _TPU.SGD

    def update_rows(  # noqa: D102
        self, rows: Mapping[str, tf.Tensor], grads: tf.Tensor, learning_rate: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        return {"table": rows["table"] - learning_rate * grads}


class SparseAdagrad(SparseOptimizer):
    """``a += g**2; w -= lr * g / sqrt(a)``."""

    config_class = _TPU.Adagrad

    def slot_initial_value(self, slot_name: str) -> float:  # noqa: D102
        del slot_name
        return float(self.config.initial_accumulator_value)

    def update_rows(  # noqa: D102
        self, rows: Mapping[str, tf.Tensor], grads: tf.Tensor, learning_rate: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        accumulators = rows["accumulators"] + tf.square(grads)
        table = rows["table"] - learning_rate * grads * tf.math.rsqrt(accumulators)
        return {"table": table, "accumulators": accumulators}


class SparseAdagradRowwise(SparseOptimizer):
    """``a += mean(g**2)`` per row (``a`` is ``[n, 1]``); ``w -= lr * g / sqrt(a)``."""

    config_class = AdagradRowwise

    def slot_initial_value(self, slot_name: str) -> float:  # noqa: D102
        del slot_name
        return float(self.config.initial_accumulator_value)

    def update_rows(  # noqa: D102
        self, rows: Mapping[str, tf.Tensor], grads: tf.Tensor, learning_rate: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        accumulators = rows["accumulators"] + tf.reduce_mean(
            tf.square(grads), axis=1, keepdims=True
        )
        table = rows["table"] - (learning_rate * tf.math.rsqrt(accumulators)) * grads
        return {"table": table, "accumulators": accumulators}


class SparseAdam(SparseOptimizer):
    """Lazy Adam on the rows of the batch, with the TPU formula (no bias correction)."""

    config_class = _TPU.Adam

    def __init__(self, config: EmbeddingOptimizer, table_name: str) -> None:
        super().__init__(config, table_name)
        config = self.config
        if not config.lazy_adam:
            raise ValueError(
                f"`lazy_adam` of the optimizer of table '{table_name}' must be True: "
                "non-lazy Adam updates every row each step, so a step would cost in "
                f"proportion to the table's rows. Received: lazy_adam={config.lazy_adam!r}"
            )

    def update_rows(  # noqa: D102
        self, rows: Mapping[str, tf.Tensor], grads: tf.Tensor, learning_rate: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        beta_1 = tf.constant(self.config.beta_1, tf.float32)
        beta_2 = tf.constant(self.config.beta_2, tf.float32)
        epsilon = tf.constant(self.config.epsilon, tf.float32)
        momenta = beta_1 * rows["momenta"] + (1.0 - beta_1) * grads
        velocities = beta_2 * rows["velocities"] + (1.0 - beta_2) * tf.square(grads)
        if self.config.sum_inside_sqrt:
            step = momenta * tf.math.rsqrt(velocities + tf.square(epsilon))
        else:
            step = momenta / (tf.sqrt(velocities) + epsilon)
        return {
            "table": rows["table"] - learning_rate * step,
            "momenta": momenta,
            "velocities": velocities,
        }


class SparseFTRL(SparseOptimizer):
    """FTRL-proximal, per coordinate, as TensorFlow's FTRL kernels compute it.

    The TPU ``beta`` adds ``beta / lr`` to the quadratic term, the same as TensorFlow's
    ``l2 + beta / (2 * lr)`` that the TPU optimization-parameters proto prescribes.
    """

    config_class = _TPU.FTRL

    def __init__(self, config: EmbeddingOptimizer, table_name: str) -> None:
        super().__init__(config, table_name)
        config = self.config
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

    def _power(self, accumulators: tf.Tensor) -> tf.Tensor:
        """``n ** -learning_rate_power`` (a square root for the usual -0.5)."""
        power = -float(self.config.learning_rate_power)
        if power == 0.5:
            return tf.sqrt(accumulators)
        return tf.pow(accumulators, power)

    def update_rows(  # noqa: D102
        self, rows: Mapping[str, tf.Tensor], grads: tf.Tensor, learning_rate: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        config = self.config
        l1, l2, beta = (
            float(config.l1_regularization_strength),
            float(config.l2_regularization_strength),
            float(config.beta),
        )
        table = rows["table"]
        accumulators = rows["accumulators"] + tf.square(grads)
        new_power = self._power(accumulators)
        sigma = new_power - self._power(rows["accumulators"])
        # Scalars are folded first: the [n, dim] blocks see as few ops as possible.
        if config.multiply_linear_by_learning_rate:
            # ``linears`` holds z * lr.
            linears = rows["linears"] + grads * learning_rate - sigma * table
            threshold = l1 * learning_rate
            quadratic = new_power
            if beta or l2:
                quadratic += beta + 2.0 * l2 * learning_rate
        else:
            inverse_rate = 1.0 / learning_rate
            linears = rows["linears"] + grads - sigma * inverse_rate * table
            threshold = tf.constant(l1, tf.float32)
            quadratic = new_power * inverse_rate
            if beta or l2:
                quadratic += beta * inverse_rate + 2.0 * l2
        if l1:
            shrunk = (tf.sign(linears) * threshold - linears) / quadratic
            table = tf.where(tf.abs(linears) > threshold, shrunk, 0.0)
        else:
            table = -linears / quadratic
        return {"table": table, "accumulators": accumulators, "linears": linears}


_BY_TYPE: dict[type, type[SparseOptimizer]] = {
    cls.config_class: cls
    for cls in (SparseSGD, SparseAdagrad, SparseAdam, SparseFTRL, SparseAdagradRowwise)
}
if tuple(_BY_TYPE) != SUPPORTED_OPTIMIZERS:  # pragma: no cover - a table edited on one side
    raise ImportError(
        "nwsrec.embedding must implement exactly nwsrec.features.SUPPORTED_OPTIMIZERS, in "
        f"order. Received: {[c.__name__ for c in _BY_TYPE]}"
    )


def make_sparse_optimizer(optimizer: EmbeddingOptimizer, table_name: str) -> SparseOptimizer:
    """The sparse row optimizer for a TPU-embedding optimizer object.

    Args:
        optimizer: a ``tf.tpu.experimental.embedding`` ``SGD``, ``Adagrad``, ``Adam`` or
            ``FTRL`` object, or an :class:`nwsrec.features.AdagradRowwise`; its
            hyper-parameters are honoured.
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
        raise ValueError(
            f"`optimizer` of table '{table_name}' must be one of {supported_optimizer_names()}. "
            f"Received: optimizer={optimizer!r}"
        )
    return cls(optimizer, table_name)
