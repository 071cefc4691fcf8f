"""Embedding tables split across parameter servers: partitioning, lookups, sparse updates.

Under ``tf.distribute.ParameterServerStrategy`` with a ``variable_partitioner``, a table
variable created in the strategy's scope becomes a ``tf.distribute`` ``ShardedVariable``:
consecutive row ranges ("div" partitioning) on different ps tasks::

    table [10, d]  in 3 shards   rows 0-3 -> ps 0   rows 4-6 -> ps 1   rows 7-9 -> ps 2
    offsets                      [0, 4, 7, 10]

Only embedding tables are split (:func:`table_partitioner` partitions a variable only
while :func:`partitioning_tables` is active, which ``EmbeddingTable`` enters when it
creates its table and slot variables): Keras weights stay whole.

A step touches only the rows of its batch, on the ps that hold them:

- lookup (:func:`gather_rows`): each id goes to its shard (``dynamic_partition``), each
  shard gathers its rows with local ids, ``dynamic_stitch`` puts them back in order.
- gradient: ``tf.GradientTape`` cannot differentiate with respect to a ``ShardedVariable``
  itself; differentiate with respect to :func:`gradient_sources` (the shards) and merge
  the per-shard ``IndexedSlices`` into one with global row ids
  (:func:`merge_shard_gradients`).
- update (:func:`split_by_shard`): the unique row ids of a gradient are split per shard,
  and each shard's rows and the same rows of its optimizer slots (split the same way) are
  updated by the table's own optimizer, on that shard's ps.

For a plain ``tf.Variable`` every function is the one-shard case (plain ``tf.gather``).

Example:
    >>> import tensorflow as tf
    >>> v = tf.Variable(tf.reshape(tf.range(10.0), [10, 1]))
    >>> shard_offsets(v)
    [0, 10]
    >>> gather_rows(v, tf.constant([3, 7], tf.int64)).numpy()[:, 0]
    array([3., 7.], dtype=float32)
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, TypeAlias

import tensorflow as tf

if TYPE_CHECKING:
    from tensorflow.python.distribute.sharded_variable import ShardedVariable

__all__ = [
    "TableVariable",
    "gather_rows",
    "gradient_sources",
    "is_sharded",
    "merge_shard_gradients",
    "partitioning_tables",
    "shard_offsets",
    "shards",
    "split_by_shard",
    "table_partitioner",
    "update_rows",
]

TableVariable: TypeAlias = "tf.Variable | ShardedVariable"
"""A table or slot variable: a ``tf.Variable``, or a ``ShardedVariable`` split across ps."""

_state = threading.local()


@contextlib.contextmanager
def partitioning_tables() -> Iterator[None]:
    """Variables created inside may be split by :func:`table_partitioner`.

    ``EmbeddingTable`` creates its table and slot variables inside this context; every
    other variable (Keras weights, optimizer state, counters) is left whole.
    """
    depth = getattr(_state, "depth", 0)
    _state.depth = depth + 1
    try:
        yield
    finally:
        _state.depth = depth


def table_partitioner(num_shards: int) -> Callable[..., list[int]]:
    """A ``variable_partitioner`` that splits embedding tables in ``num_shards`` row ranges.

    Args:
        num_shards: shards per table (usually the number of ps tasks), >= 1. A table with
            fewer rows gets one shard per row.

    Returns:
        ``partitioner(shape, dtype) -> [shards, 1, ...]``: ``num_shards`` on axis 0 for a
        variable created inside :func:`partitioning_tables`, else 1 (not split).

    Example:
        >>> partitioner = table_partitioner(2)
        >>> partitioner(shape=tf.TensorShape([10, 4]), dtype=tf.float32)
        [1, 1]
        >>> with partitioning_tables():
        ...     partitioner(shape=tf.TensorShape([10, 4]), dtype=tf.float32)
        [2, 1]
    """
    if isinstance(num_shards, bool) or not isinstance(num_shards, int) or num_shards < 1:
        raise ValueError(
            f"`num_shards` must be an integer >= 1. Received: num_shards={num_shards!r}"
        )

    def partitioner(
        shape: tf.TensorShape | Sequence[int | None], dtype: tf.DType | None = None
    ) -> list[int]:
        del dtype
        tensor_shape = tf.TensorShape(shape)
        rank = tensor_shape.rank or 1
        if getattr(_state, "depth", 0) == 0 or tensor_shape.rank == 0 or tensor_shape[0] is None:
            return [1] * rank
        return [max(1, min(num_shards, int(tensor_shape[0])))] + [1] * (rank - 1)

    return partitioner


def is_sharded(variable: object) -> bool:
    """True for a ``ShardedVariable`` (a table split across ps tasks)."""
    from tensorflow.python.distribute import sharded_variable

    return isinstance(variable, sharded_variable.ShardedVariableMixin)


def shards(variable: TableVariable) -> list[tf.Variable]:
    """The shard variables of ``variable`` (``[variable]`` when it is not sharded)."""
    return list(variable.variables) if is_sharded(variable) else [variable]


def gradient_sources(variable: TableVariable) -> list[tf.Variable]:
    """What to differentiate with respect to: the shards (a tape cannot take a sharded one)."""
    return shards(variable)


def shard_offsets(variable: TableVariable) -> list[int]:
    """The first row of each shard, then the number of rows: ``[0, n0, n0 + n1, ..., rows]``."""
    offsets = [0]
    for shard in shards(variable):
        offsets.append(offsets[-1] + int(shard.shape[0]))
    return offsets


def _shard_index(ids: tf.Tensor, offsets: Sequence[int]) -> tf.Tensor:
    """Which shard holds each row id (int32 ``[n]``)."""
    bounds = tf.constant(list(offsets[1:-1]), dtype=ids.dtype)
    return tf.searchsorted(bounds, ids, side="right", out_type=tf.int32)


def gather_rows(variable: TableVariable, ids: tf.Tensor) -> tf.Tensor:
    """Rows ``ids`` of a table, read from the shards that hold them.

    Args:
        variable: a ``tf.Variable`` or ``ShardedVariable`` ``[rows, dim]``.
        ids: int ``[n]``, each in ``[0, rows)``.

    Returns:
        ``[n, dim]``. Its gradient with respect to each shard is an ``IndexedSlices`` over
        that shard's local row ids.
    """
    parts = shards(variable)
    if len(parts) == 1:
        return tf.gather(parts[0], ids)
    offsets = shard_offsets(variable)
    index = _shard_index(ids, offsets)
    split_ids = tf.dynamic_partition(ids, index, len(parts))
    positions = tf.dynamic_partition(tf.range(tf.size(ids)), index, len(parts))
    rows = [
        tf.gather(shard, local - tf.constant(offsets[i], local.dtype))
        for i, (shard, local) in enumerate(zip(parts, split_ids, strict=True))
    ]
    return tf.dynamic_stitch(positions, rows)


def merge_shard_gradients(
    grads: Sequence[tf.IndexedSlices | None], offsets: Sequence[int]
) -> tf.IndexedSlices | None:
    """One ``IndexedSlices`` with global row ids from the gradients of the shards.

    Args:
        grads: per shard, an ``IndexedSlices`` over local row ids, or None (no row of that
            shard in the batch).
        offsets: :func:`shard_offsets` of the table.

    Returns:
        The merged ``IndexedSlices`` (dense shape ``[rows, dim]``), or None if every
        gradient is None. A single gradient is returned unchanged.
    """
    if len(grads) != len(offsets) - 1:
        raise ValueError(
            f"`grads` must hold one gradient per shard ({len(offsets) - 1}). "
            f"Received: {len(grads)} gradients"
        )
    if len(grads) == 1:
        return grads[0]
    present = [(i, g) for i, g in enumerate(grads) if g is not None]
    if not present:
        return None
    values, indices = [], []
    for i, grad in present:
        if not isinstance(grad, tf.IndexedSlices):
            raise ValueError(
                f"`grads[{i}]` must be a tf.IndexedSlices (a sparse gradient of a table "
                f"shard). Received: {type(grad).__name__}"
            )
        values.append(grad.values)
        indices.append(tf.cast(grad.indices, tf.int64) + offsets[i])
    dim = tf.shape(values[0], out_type=tf.int64)[1:]
    dense_shape = tf.concat([tf.constant([offsets[-1]], tf.int64), dim], axis=0)
    return tf.IndexedSlices(tf.concat(values, 0), tf.concat(indices, 0), dense_shape)


def split_by_shard(
    ids: tf.Tensor, values: tf.Tensor, offsets: Sequence[int]
) -> list[tuple[tf.Tensor, tf.Tensor]]:
    """Splits rows with global ids into per-shard ``(local ids, values)``.

    Args:
        ids: int64 ``[n]`` global row ids.
        values: ``[n, dim]``, row ``k`` belongs to ``ids[k]``.
        offsets: :func:`shard_offsets` of the table.

    Returns:
        Per shard, its rows' local ids (``id - offset``) and their values, in the order
        of ``ids``.

    Example:
        >>> out = split_by_shard(tf.constant([8, 1, 5], tf.int64), tf.eye(3), [0, 4, 10])
        >>> [ids.numpy().tolist() for ids, _ in out]
        [[1], [4, 1]]
    """
    if len(offsets) == 2:
        return [(ids, values)]
    count = len(offsets) - 1
    index = _shard_index(ids, offsets)
    split_ids = tf.dynamic_partition(ids, index, count)
    split_values = tf.dynamic_partition(values, index, count)
    return [
        (local - tf.constant(offsets[i], local.dtype), part)
        for i, (local, part) in enumerate(zip(split_ids, split_values, strict=True))
    ]


def update_rows(
    variable: TableVariable,
    slots: Mapping[str, TableVariable],
    ids: tf.Tensor,
    grads: tf.Tensor,
    apply_fn: Callable[[tf.Variable, dict[str, tf.Variable], tf.Tensor, tf.Tensor], None],
    strategy: tf.distribute.Strategy | None = None,
) -> None:
    """Applies a sparse update to the rows ``ids`` of a table and of its optimizer slots.

    For a sharded table, ``ids`` / ``grads`` are split per shard (:func:`split_by_shard`)
    and each shard is updated with its local ids, together with the same shard of every
    slot, on the device that holds it.

    Args:
        variable: the table, a ``tf.Variable`` or ``ShardedVariable``.
        slots: its optimizer slots by name, sharded like ``variable``.
        ids: int64 ``[n]`` unique global row ids.
        grads: ``[n, dim]`` the gradient of each row.
        apply_fn: ``apply_fn(table_shard, {slot: slot_shard}, local_ids, grads)``.
        strategy: when given, each shard is updated through
            ``strategy.extended.update`` (every local copy of a mirrored table; the
            shard's ps under ParameterServerStrategy); call it in a cross-replica context.

    Raises:
        ValueError: a slot that is not split like the table.
    """
    offsets = shard_offsets(variable)
    slot_shards = {}
    for name, slot in slots.items():
        if shard_offsets(slot) != offsets:
            raise ValueError(
                f"slot `{name}` must be split like its table (row offsets {offsets}). "
                f"Received: offsets {shard_offsets(slot)}"
            )
        slot_shards[name] = shards(slot)
    table_shards = shards(variable)
    for i, (local_ids, rows) in enumerate(split_by_shard(ids, grads, offsets)):
        shard_slots = {name: parts[i] for name, parts in slot_shards.items()}
        if strategy is None:
            apply_fn(table_shards[i], shard_slots, local_ids, rows)
        else:
            strategy.extended.update(
                table_shards[i], apply_fn, args=(shard_slots, local_ids, rows), group=False
            )
