"""``EmbeddingTable``: one embedding table with its own sparse optimizer, for CPU/GPU.

A table is a ``tf.Variable`` ``[vocab_size, dim]`` plus the slot variables of its optimizer
(a ``tf.tpu.experimental.embedding`` ``SGD``, ``Adagrad``, ``Adam`` or ``FTRL`` object, see
:mod:`nwsrec.embedding.optimizers`). A training step costs in proportion to the ids of the
batch, not to the table's rows:

    ids (SparseTensor / RaggedTensor [B, None])      e.g. [[3, 7], [], [7]]
      lookup:  gather rows 3, 7, 7 -> sum per example -> [[w3 + w7], [0...], [w7]]  [B, dim]
      tape.gradient(loss, table.variable)             IndexedSlices(ids [3, 7, 7], rows)
      apply_gradient: unique ids [3, 7], summed rows -> optimizer update of rows 3 and 7 only

Under a ``tf.distribute`` strategy, create the table inside ``strategy.scope()``; call
:meth:`EmbeddingTable.apply_gradient` with gradients that are already summed across
replicas: the table all-reduces nothing, and updates every local copy of its variables
through ``merge_call`` + ``strategy.extended.update``.

Performance on CPU: a step reads and writes the batch's rows at random places of tables
that can be gigabytes, so each row costs a cache and a TLB miss. On Linux with transparent
huge pages in ``madvise`` mode, starting the process with
``GLIBC_TUNABLES=glibc.malloc.hugetlb=1`` (glibc >= 2.35) puts the tables in 2 MiB pages;
the updates of 26 tables of 1e6 rows measured 2-4x faster with it (``bench/tables.py``
uses it).

Example:
    >>> import tensorflow as tf
    >>> table = EmbeddingTable("t", 10, 4, tf.tpu.experimental.embedding.SGD(0.1))
    >>> ids = tf.ragged.constant([[1, 2], []], dtype=tf.int64)
    >>> with tf.GradientTape() as tape:
    ...     loss = tf.reduce_sum(table.lookup(ids))
    >>> table.apply_gradient(tape.gradient(loss, table.variable))
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import keras
import tensorflow as tf
from tensorflow.python.ops.resource_variable_ops import ResourceVariable

from nwsrec.embedding.optimizers import SparseOptimizer, make_sparse_optimizer
from nwsrec.embedding.sharded import gather_rows, partitioning_tables, shards, update_rows
from nwsrec.features.optimizers import EmbeddingOptimizer, Initializer

__all__ = [
    "EmbeddingTable",
    "LookupIds",
    "block_initializer",
    "checked_ids",
    "fills_in_blocks",
    "has_gpu",
    "one_row_each",
    "pool_or_pass",
    "prepare_ids",
    "resolve_initializer",
    "segment_sum_rows",
    "sum_pool",
]


@functools.cache
def has_gpu() -> bool:
    """Whether this process sees a GPU (the CPU-only forms of the pooling are chosen
    where it does not)."""
    return bool(tf.config.list_logical_devices("GPU"))


def segment_sum_rows(rows: tf.Tensor, segments: tf.Tensor, num_segments: Any) -> tf.Tensor:
    """``unsorted_segment_sum(rows, segments, num_segments)`` of rows ``[n, dim]``, with
    every segment id in ``[0, num_segments)``.

    On a machine without a GPU, rows more than one wide are summed as the product of a
    sparse ``[num_segments, n]`` selector (a one at ``(segments[i], i)``) with ``rows``:
    the CPU kernel of ``SparseTensorDenseMatMul`` adds each row into its segment in the
    order of ``rows``, as ``UnsortedSegmentSum`` does (the results are bit-identical), at
    a sixth of its CPU time for 32k rows x 16 (``UnsortedSegmentSum`` copies each row
    through an Eigen expression of its own). One-wide rows, other dtypes and GPU
    machines (whose ``UnsortedSegmentSum`` has a deterministic mode) keep
    ``unsorted_segment_sum``.
    """
    rows = tf.convert_to_tensor(rows)
    width = rows.shape[1] if rows.shape.rank == 2 else None
    if width == 1 or rows.dtype not in (tf.float32, tf.float64) or has_gpu():
        return tf.math.unsorted_segment_sum(rows, segments, num_segments)
    count = tf.shape(rows, out_type=tf.int64)[0]
    # Stacked on axis 1, not transposed from a [2, n] stack: TensorFlow's oneDNN build
    # logs an error for an integer transpose on CPUs without AVX-512 support in it.
    indices = tf.stack([tf.cast(segments, tf.int64), tf.range(count)], axis=1)
    shape = tf.stack([tf.cast(num_segments, tf.int64), count])
    return tf.raw_ops.SparseTensorDenseMatMul(
        a_indices=indices, a_values=tf.ones([count], rows.dtype), a_shape=shape, b=rows
    )


@tf.custom_gradient
def sum_pool(rows: tf.Tensor, examples: tf.Tensor, batch: tf.Tensor) -> Any:
    """``unsorted_segment_sum(rows, examples, batch)`` for example indices ``>= 0``
    (computed by :func:`segment_sum_rows`).

    Its gradient is ``gather(upstream, examples)``: TensorFlow's own gradient of
    ``unsorted_segment_sum`` also masks the rows of negative (dropped) segment ids, 3 more
    ops per table and step (``SelectV2``: 0.34 ms of CPU per step for the 52 tables of the
    Criteo-shaped model), and the example indices of a batch are never negative.
    """
    pooled = segment_sum_rows(rows, examples, batch)

    def grad(upstream: tf.Tensor) -> tuple[tf.Tensor, None, None]:
        return tf.gather(upstream, examples), None, None

    return pooled, grad


@tf.custom_gradient
def pool_or_pass(
    rows: tf.Tensor, segments: tf.Tensor, num_segments: tf.Tensor, one_each: Any
) -> Any:
    """:func:`sum_pool` of ``rows``, or ``rows`` as they are where ``one_each`` holds.

    ``one_each`` (a scalar bool, see :func:`one_row_each`) says that row ``i`` is the only
    row of segment ``i`` and every segment has one: the sum is then ``rows`` itself and its
    gradient the upstream one, and neither the sum nor the gather of its gradient runs.
    That is a batch whose examples each have one id per table, the usual CTR batch.
    """
    pooled = tf.cond(
        one_each,
        lambda: tf.identity(rows),
        lambda: segment_sum_rows(rows, segments, num_segments),
    )

    def grad(upstream: tf.Tensor) -> tuple[tf.Tensor, None, None, None]:
        passed = tf.cond(
            one_each, lambda: tf.identity(upstream), lambda: tf.gather(upstream, segments)
        )
        return passed, None, None, None

    return pooled, grad


def one_row_each(segments: tf.Tensor, num_segments: Any) -> tf.Tensor:
    """Whether ``segments`` is ``0, 1, ..., num_segments - 1``: each segment one row, in
    order (the condition of :func:`pool_or_pass`)."""
    count = tf.size(segments, out_type=tf.int64)
    positions = tf.range(count, dtype=segments.dtype)
    return tf.logical_and(
        tf.equal(count, tf.cast(num_segments, tf.int64)),
        tf.reduce_all(tf.equal(segments, positions)),
    )


class _TruncatedNormal:
    """``TableConfig``'s default: truncated normal, mean 0, stddev ``1 / sqrt(dim)``."""

    def __init__(self, stddev: float) -> None:
        self.stddev = stddev

    def __call__(
        self, shape: tf.TensorShape | Sequence[int], dtype: tf.DType = tf.float32
    ) -> tf.Tensor:
        return tf.random.truncated_normal(shape, stddev=self.stddev, dtype=dtype)

    def __repr__(self) -> str:
        return f"TruncatedNormal(mean=0.0, stddev={self.stddev:g})"


def _positive_int(value: object, arg: str, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"`{arg}` of table '{name}' must be an integer >= 1. Received: {arg}={value!r}"
        )
    return value


class LookupIds(NamedTuple):
    """A batch's ids unpacked and checked for lookups (:meth:`EmbeddingTable.prepare`).

    Tables of the same vocabulary (a slot's bias and vector tables) share one: the ids are
    unpacked and range-checked once per batch instead of once per table.
    """

    values: tf.Tensor
    """int ``[n]``: the ids, checked to lie in ``[0, vocab_size)``."""
    examples: tf.Tensor
    """int64 ``[n]``: the example each id belongs to."""
    batch: tf.Tensor
    """Scalar: the number of examples."""
    static_batch: int | None
    """The batch size where the shape says it, else None."""
    vocab_size: int
    """The rows the ids must lie in (checked against when :attr:`checked`)."""
    checked: bool = True
    """Whether ``values`` carry the run-time range check; a table group checks unchecked
    ids of all its tables at once (:meth:`nwsrec.embedding.TableGroup.lookup_members`)."""


class EmbeddingTable(tf.Module):
    """An embedding table trained by its own sparse optimizer.

    Args:
        name: the table's name (a Python identifier, e.g. ``table_3_0``); it names the
            variables and the errors.
        vocab_size: number of rows; ids must lie in ``[0, vocab_size)``.
        dim: embedding width.
        optimizer: a ``tf.tpu.experimental.embedding`` ``SGD``, ``Adagrad``, ``Adam`` or
            ``FTRL`` object; its learning rate (a number, or a callable taking no arguments,
            called at each update) and hyper-parameters are honoured. Options that are not
            implemented (clipping, weight decay, custom slot creation, non-lazy Adam) are a
            ``ValueError``.
        initializer: fills the table, called as ``initializer(shape, dtype=...)``: a
            callable, a Keras initializer or its name. Default: truncated normal with mean
            0 and stddev ``1 / sqrt(dim)``, as ``TableConfig``.

    Attributes:
        variable: the table ``tf.Variable`` ``[vocab_size, dim]`` (trainable).
        slot_variables: the optimizer's slot variables by name (not trainable).
        parameter_copies: 1 + number of slots: SGD 1, Adagrad 2, Adam 3, FTRL 3.

    Example:
        >>> import tensorflow as tf
        >>> table = EmbeddingTable("table_3_1", 100, 8, tf.tpu.experimental.embedding.Adagrad(0.1))
        >>> sorted(table.slot_variables), table.parameter_copies
        (['accumulators'], 2)
        >>> table.lookup(tf.ragged.constant([[1, 2], []], dtype=tf.int64)).shape
        TensorShape([2, 8])
    """

    def __init__(
        self,
        name: str,
        vocab_size: int,
        dim: int,
        optimizer: EmbeddingOptimizer,
        initializer: Initializer | str | dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(
                "`name` of an embedding table must be a Python identifier such as "
                f"'table_3_0'. Received: name={name!r}"
            )
        super().__init__(name=name)
        self._vocab_size = _positive_int(vocab_size, "vocab_size", name)
        self._dim = _positive_int(dim, "dim", name)
        self._optimizer: SparseOptimizer = make_sparse_optimizer(optimizer, name)
        self._initializer = resolve_initializer(initializer, self._dim, name)
        shape = (self._vocab_size, self._dim)
        # Created eagerly even when the first use is traced inside a tf.function.
        # Under ParameterServerStrategy the table and its slots may be split across the ps
        # tasks (nwsrec.embedding.sharded.table_partitioner); Keras weights never are.
        with tf.init_scope(), partitioning_tables():
            self._variable = tf.Variable(
                initial_value=self._initial_value,
                trainable=True,
                name=f"{name}/embeddings",
                dtype=tf.float32,
                shape=shape,
            )
            slots = {}
            for slot in self._optimizer.slot_names:
                value = self._optimizer.slot_initial_value(slot)
                slot_shape = self._optimizer.slot_shape(slot, *shape)
                slots[slot] = tf.Variable(
                    initial_value=lambda value=value, slot_shape=slot_shape: tf.fill(
                        slot_shape, value
                    ),
                    trainable=False,
                    name=f"{name}/{slot}",
                    dtype=tf.float32,
                    shape=slot_shape,
                )
            self._slot_variables = slots

    # ------------------------------------------------------------------ properties
    @property
    def vocab_size(self) -> int:
        """Number of rows."""
        return self._vocab_size

    @property
    def dim(self) -> int:
        """Embedding width."""
        return self._dim

    @property
    def optimizer(self) -> EmbeddingOptimizer:
        """The ``tf.tpu.experimental.embedding`` optimizer object the table trains with."""
        return self._optimizer.config

    @property
    def initializer(self) -> Initializer:
        """The initializer that filled the table."""
        return self._initializer

    @property
    def variable(self) -> tf.Variable:
        """The table ``[vocab_size, dim]``: what ``lookup`` reads and gradients are taken of."""
        return self._variable

    @property
    def slot_variables(self) -> dict[str, tf.Variable]:
        """The optimizer's slot variables by name (e.g. ``{"accumulators": ...}``)."""
        return dict(self._slot_variables)

    @property
    def variables(self) -> tuple[tf.Variable, ...]:
        """The table, then its slot variables in the optimizer's order."""
        return (self._variable, *(self._slot_variables[s] for s in self._optimizer.slot_names))

    @property
    def trainable_variables(self) -> tuple[tf.Variable, ...]:
        """The table alone (slots are updated by the optimizer, not by gradients)."""
        return (self._variable,)

    @property
    def parameter_copies(self) -> int:
        """1 + number of optimizer slots: SGD 1, Adagrad 2, Adam 3, FTRL 3."""
        return self._optimizer.parameter_copies

    def __repr__(self) -> str:
        return (
            f"EmbeddingTable(name={self.name!r}, vocab_size={self._vocab_size}, "
            f"dim={self._dim}, optimizer={type(self.optimizer).__name__})"
        )

    # ------------------------------------------------------------------ lookup
    def lookup(self, ids: tf.SparseTensor | tf.RaggedTensor | LookupIds) -> tf.Tensor:
        """Sum-pooled embeddings of a batch.

        Args:
            ids: int32/int64 ids ``[B, None]``: a ``tf.SparseTensor`` (what
                ``tf.io.parse_example`` gives for ``VarLenFeature(tf.int64)``) or a
                ``tf.RaggedTensor``. Each must lie in ``[0, vocab_size)`` (checked when the
                op runs: ``InvalidArgumentError`` naming the table). Or a
                :class:`LookupIds` from :meth:`prepare` of a table with the same vocab size.

        Returns:
            ``[B, dim]`` float32: per example, the sum of its ids' rows (zeros if it has
            none). Its gradient with respect to :attr:`variable` is a ``tf.IndexedSlices``
            over the looked-up rows.

        Example:
            >>> import tensorflow as tf
            >>> t = EmbeddingTable("t", 5, 2, tf.tpu.experimental.embedding.SGD(0.1), "ones")
            >>> t.lookup(tf.ragged.constant([[0, 4, 4], []], dtype=tf.int64)).numpy()
            array([[3., 3.],
                   [0., 0.]], dtype=float32)
        """
        if not isinstance(ids, LookupIds):
            ids = self.prepare(ids)
        elif ids.vocab_size != self._vocab_size:
            raise ValueError(
                f"`ids` of table '{self.name}' must be prepared for {self._vocab_size} rows. "
                f"Received: LookupIds checked against vocab_size={ids.vocab_size}"
            )
        elif not ids.checked:
            ids = LookupIds(
                self._checked_ids(ids.values),
                ids.examples,
                ids.batch,
                ids.static_batch,
                ids.vocab_size,
                checked=True,
            )
        pooled = sum_pool(gather_rows(self._variable, ids.values), ids.examples, ids.batch)
        return tf.ensure_shape(pooled, [ids.static_batch, self._dim])

    def prepare(self, ids: tf.SparseTensor | tf.RaggedTensor) -> LookupIds:
        """``ids`` unpacked and range-checked, for this table and any of its vocab size.

        Args:
            ids: as :meth:`lookup`.

        Returns:
            A :class:`LookupIds` that :meth:`lookup` of every table with ``vocab_size`` rows
            takes as it is.

        Example:
            >>> import tensorflow as tf
            >>> t = EmbeddingTable("t", 5, 2, tf.tpu.experimental.embedding.SGD(0.1), "ones")
            >>> prepared = t.prepare(tf.ragged.constant([[0, 4], [1]], dtype=tf.int64))
            >>> prepared.examples.numpy(), prepared.vocab_size
            (array([0, 0, 1]), 5)
        """
        return prepare_ids(ids, self._vocab_size, self.name)

    # ------------------------------------------------------------------ update
    def apply_gradient(self, grad: tf.IndexedSlices | None, check_ids: bool = True) -> None:
        """Updates the looked-up rows (and their optimizer slots) with the table's optimizer.

        Duplicate ids are summed first (``tf.unique`` + :func:`segment_sum_rows`); rows not
        in ``grad`` are left bit-identical. Called in a replica context of a
        ``tf.distribute`` strategy, ``grad`` must already be summed across replicas: the
        update goes through ``merge_call`` + ``strategy.extended.update`` so that every
        local copy of a mirrored table gets it.

        Args:
            grad: ``tf.IndexedSlices`` with values ``[n, dim]`` and row ids ``[n]``, e.g.
                ``tape.gradient(loss, table.variable)``. ``None`` (the table was not used
                in the loss) updates nothing.
            check_ids: check that the row ids lie in ``[0, vocab_size)``. A gradient of
                :meth:`lookup` holds the ids that lookup already checked: the trainer
                passes False and saves the check's ops, one set per table and step.

        Raises:
            ValueError: if ``grad`` is a dense tensor or has the wrong width, or the table
                was created outside the current strategy's scope.

        Example:
            >>> import tensorflow as tf
            >>> t = EmbeddingTable("t", 5, 2, tf.tpu.experimental.embedding.SGD(0.5), "zeros")
            >>> g = tf.IndexedSlices(tf.ones([2, 2]), tf.constant([3, 3]), tf.constant([5, 2]))
            >>> t.apply_gradient(g)
            >>> t.variable.numpy()[3]
            array([-1., -1.], dtype=float32)
        """
        if grad is None:
            return
        if not isinstance(grad, tf.IndexedSlices):
            raise ValueError(
                f"`grad` of table '{self.name}' must be a tf.IndexedSlices (a sparse "
                "gradient from `lookup`); a dense gradient would make the update cost in "
                f"proportion to the table's rows. Received: grad of type {type(grad).__name__}"
            )
        values = tf.convert_to_tensor(grad.values, dtype=tf.float32)
        if values.shape.rank is not None and (
            values.shape.rank != 2 or values.shape[1] not in (None, self._dim)
        ):
            raise ValueError(
                f"`grad.values` of table '{self.name}' must have shape [n, {self._dim}]. "
                f"Received: grad.values with shape={values.shape}"
            )
        ids = tf.cast(grad.indices, tf.int64)
        if check_ids:
            ids = self._checked_ids(ids)
        unique_ids, positions = tf.unique(ids, out_idx=tf.int32)
        summed = segment_sum_rows(values, positions, tf.shape(unique_ids)[0])

        if not tf.distribute.has_strategy():
            update_rows(self._variable, self._slot_variables, unique_ids, summed, self._update)
            return
        strategy = tf.distribute.get_strategy()
        if not strategy.extended.variable_created_in_scope(shards(self._variable)[0]):
            raise ValueError(
                f"table '{self.name}' must be created inside the scope of the strategy "
                f"that trains it. Received: a table created outside {type(strategy).__name__}"
                ".scope()"
            )
        if tf.distribute.in_cross_replica_context():
            self._distributed_update(strategy, unique_ids, summed)
        else:
            tf.distribute.get_replica_context().merge_call(
                self._distributed_update, args=(unique_ids, summed)
            )

    def _distributed_update(
        self, strategy: tf.distribute.Strategy, ids: tf.Tensor, grads: tf.Tensor
    ) -> None:
        # A table split across ps tasks is updated shard by shard, each on its ps.
        update_rows(self._variable, self._slot_variables, ids, grads, self._update, strategy)

    def _update(
        self,
        variable: tf.Variable,
        slots: Mapping[str, tf.Variable],
        ids: tf.Tensor,
        grads: tf.Tensor,
    ) -> None:
        self._optimizer.apply(variable, slots, ids, grads)

    # ------------------------------------------------------------------ helpers
    def _checked_ids(self, ids: tf.Tensor) -> tf.Tensor:
        return checked_ids(ids, self._vocab_size, self.name)

    def releasable(self) -> bool:
        """Whether :meth:`release` can free the table's memory: plain resource variables,
        none split across ps tasks, mirrored or wrapped by a distribution strategy."""
        return not tf.distribute.has_strategy() and all(
            type(v) is ResourceVariable for v in self.variables
        )

    def release(self) -> None:
        """Frees the table's rows and optimizer slots: each variable holds an empty tensor
        (``[0, ...]``) until a restore or :meth:`reset` assigns it whole again.

        A checkpoint restore reads each variable into a new tensor before it assigns it;
        released first, a restored table takes its own size in memory, not twice that.

        Raises:
            ValueError: the table is not :meth:`releasable`.
        """
        if not self.releasable():
            raise ValueError(
                f"`release` needs plain variables; table '{self.name}' is split across ps "
                "tasks or mirrored by a distribution strategy"
            )
        with tf.init_scope():
            for variable in self.variables:
                empty = tf.zeros([0, *variable.shape[1:]], variable.dtype)
                tf.raw_ops.AssignVariableOp(
                    resource=variable.handle, value=empty, validate_shape=False
                )

    def is_released(self) -> bool:
        """Whether a variable of the table holds fewer rows than its shape says (after
        :meth:`release`, before a restore or :meth:`reset`)."""
        with tf.init_scope():
            return any(int(tf.shape(v.value())[0]) != int(v.shape[0]) for v in self.variables)

    def reset(self) -> None:
        """Assigns the table's initial rows (a fresh draw of its initializer) and its
        optimizer slots' initial values, whatever the variables hold now."""
        with tf.init_scope():
            self._assign_whole(self._variable, self._initial_value())
            self._reset_slots()

    def _reset_slots(self) -> None:
        shape = (self._vocab_size, self._dim)
        for slot, variable in self._slot_variables.items():
            value = self._optimizer.slot_initial_value(slot)
            fill = tf.fill(self._optimizer.slot_shape(slot, *shape), value)
            self._assign_whole(variable, fill)

    @staticmethod
    def _assign_whole(variable: tf.Variable, value: tf.Tensor) -> None:
        tf.raw_ops.AssignVariableOp(resource=variable.handle, value=value, validate_shape=False)

    def _initial_value(self) -> tf.Tensor:
        shape = (self._vocab_size, self._dim)
        value = tf.convert_to_tensor(self._initializer(shape, dtype=tf.float32))
        if tuple(value.shape) != shape:
            raise ValueError(
                f"`initializer` of table '{self.name}' must return a tensor of shape "
                f"{list(shape)}. Received: shape={value.shape.as_list()}"
            )
        return tf.cast(value, tf.float32)


def checked_ids(ids: tf.Tensor, vocab_size: int, name: str) -> tf.Tensor:
    """``ids`` after a run-time check that each lies in ``[0, vocab_size)`` (of table ``name``).

    The check is explicit because a GPU gather returns zeros for an out-of-range id
    instead of failing. As unsigned integers negative ids are huge, so one comparison
    covers both ends.
    """
    in_range = tf.reduce_all(
        tf.cast(tf.cast(ids, tf.int64), tf.uint64) < tf.constant(vocab_size, tf.uint64)
    )
    check = tf.debugging.Assert(
        in_range,
        [
            # No quotes: graph-mode errors escape them.
            f"`ids` of table {name} must lie in [0, {vocab_size}) "
            "(vocab_size of the table). Received: ids =",
            ids,
        ],
        summarize=8,
    )
    with tf.control_dependencies([check]):
        return tf.identity(ids)


def prepare_ids(
    ids: tf.SparseTensor | tf.RaggedTensor, vocab_size: int, name: str, check: bool = True
) -> LookupIds:
    """``ids`` unpacked and range-checked against ``vocab_size`` rows (of table ``name``).

    Args:
        ids: int32/int64 ids ``[B, None]``, a ``tf.SparseTensor`` or ``tf.RaggedTensor``.
        vocab_size: the rows the ids must lie in.
        name: the table named in the errors.
        check: add the run-time range check now; False leaves it to the lookup (a table
            group checks the ids of all its tables in one set of ops).

    Returns:
        A :class:`LookupIds`.
    """
    if isinstance(ids, tf.SparseTensor):
        if ids.shape.rank is not None and ids.shape.rank != 2:
            raise ValueError(
                f"`ids` of table '{name}' must be a SparseTensor of rank 2 [B, None]. "
                f"Received: ids with shape={ids.shape}"
            )
        values = ids.values
        rows = ids.indices[:, 0]
        batch = ids.dense_shape[0]
    elif isinstance(ids, tf.RaggedTensor):
        if ids.ragged_rank != 1 or ids.shape.rank != 2:
            raise ValueError(
                f"`ids` of table '{name}' must be a RaggedTensor [B, None] (ragged "
                f"rank 1). Received: ids with shape={ids.shape}, "
                f"ragged_rank={ids.ragged_rank}"
            )
        values = ids.values
        rows = ids.value_rowids()
        batch = ids.nrows()
    else:
        raise ValueError(
            f"`ids` of table '{name}' must be a tf.SparseTensor or tf.RaggedTensor "
            f"[B, None]. Received: ids of type {type(ids).__name__}"
        )
    if values.dtype not in (tf.int32, tf.int64):
        raise ValueError(
            f"`ids` of table '{name}' must be int32 or int64. "
            f"Received: ids.dtype={values.dtype.name}"
        )
    return LookupIds(
        values=checked_ids(values, vocab_size, name) if check else values,
        examples=tf.cast(rows, tf.int64),
        batch=batch,
        static_batch=ids.shape[0],
        vocab_size=vocab_size,
        checked=check,
    )


def resolve_initializer(
    initializer: Initializer | str | dict[str, Any] | None, dim: int, name: str
) -> Initializer:
    """The initializer of a table of width ``dim`` (named ``name`` in the errors).

    None: ``TableConfig``'s default, truncated normal with stddev ``1 / sqrt(dim)``; a
    string or dict: that Keras initializer; a callable as it is.
    """
    if initializer is None:
        return _TruncatedNormal(1.0 / math.sqrt(dim))
    if isinstance(initializer, str | dict):
        try:
            return keras.initializers.get(initializer)
        except ValueError as error:
            raise ValueError(
                f"`initializer` of table '{name}' must name a Keras initializer. "
                f"Received: initializer={initializer!r}"
            ) from error
    if not callable(initializer):
        raise ValueError(
            f"`initializer` of table '{name}' must be callable as "
            f"initializer(shape, dtype=...). Received: initializer={initializer!r}"
        )
    return initializer


#: Keras initializers whose rows are drawn independently of the shape they fill (no fan-in
#: or fan-out, no matrix structure): a table can be filled by them in blocks of rows.
_ROW_WISE_RANDOM = (
    keras.initializers.RandomUniform,
    keras.initializers.RandomNormal,
    keras.initializers.TruncatedNormal,
)
_ROW_WISE_CONSTANT = (
    keras.initializers.Zeros,
    keras.initializers.Ones,
    keras.initializers.Constant,
)


def fills_in_blocks(initializer: Initializer) -> bool:
    """Whether ``initializer`` (resolved) can fill a table in blocks of rows drawn apart
    (see :func:`block_initializer`)."""
    return (
        isinstance(initializer, _TruncatedNormal)
        or type(initializer) in _ROW_WISE_CONSTANT
        or type(initializer) in _ROW_WISE_RANDOM
    )


def block_initializer(initializer: Initializer, block: int) -> Initializer | None:
    """The initializer of block ``block`` (0, 1, ...) of a table filled in blocks of rows,
    or None when ``initializer`` must fill the whole table in one call.

    Blocks of rows drawn apart hold the same distribution as one draw only for an
    initializer whose rows do not depend on the shape: the default truncated normal (each
    call draws anew from TensorFlow's seeded stream), Keras' random uniform, normal and
    truncated normal, and the constants. A Keras random initializer with an integer seed
    repeats its values at every call, so block ``k > 0`` draws with a seed derived from
    its own and ``k`` (deterministic; block 0 is the initializer itself). Any other
    initializer (variance scaling's fan-in, orthogonal, a user's callable) gives None.
    """
    if block < 0:
        raise ValueError(f"`block` must be >= 0. Received: block={block}")
    if not fills_in_blocks(initializer):
        return None
    seed = getattr(initializer, "seed", None)
    if type(initializer) not in _ROW_WISE_RANDOM or block == 0 or not isinstance(seed, int):
        # The constants, the default (TensorFlow's stream), block 0, and a Keras
        # initializer seeded by a SeedGenerator (it draws anew at each call) serve as
        # they are.
        return initializer
    keras_initializer: keras.initializers.Initializer = initializer
    config = dict(keras_initializer.get_config())
    config["seed"] = (seed * 1_000_003 + block) % (1 << 31)
    return type(keras_initializer).from_config(config)
