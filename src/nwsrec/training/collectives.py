"""Summing sparse table gradients across the replicas of a multi-worker strategy.

A table gradient is a ``tf.IndexedSlices`` whose number of rows differs from replica to
replica (each reads other examples). ``ReplicaContext.all_reduce`` handles that case with
a ``tf.cond`` between a plain and a padded all-gather, which fails under
``MultiWorkerMirroredStrategy`` inside nwsrec's multi-step ``tf.function`` ("Shape mismatch
in the collective instance"). :func:`all_reduce_indexed_slices` always pads, with no
branch: every replica runs the same collectives with the same shapes::

    replica r: rows n_r          lengths  = all_gather([n_r])            [R]
               pad to max(n)     values   = all_gather(pad(values_r))   [R * max, dim]
                                 indices  = all_gather(pad(indices_r))  [R * max]
               keep row j of block r where j < n_r  ->  sum of the replicas' slices

Summing the gathered slices is left to the table's update (``tf.unique`` +
``unsorted_segment_sum``), exactly as for one replica's duplicate ids.

Example:
    >>> # inside strategy.run, with ctx = tf.distribute.get_replica_context():
    >>> summed = all_reduce_indexed_slices(ctx, [grad_a, grad_b])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

__all__ = ["all_reduce_indexed_slices"]


def all_reduce_indexed_slices(context: Any, grads: Sequence[tf.IndexedSlices]) -> list[Any]:
    """The replica-sum of each sparse gradient, as an ``IndexedSlices`` of every replica's rows.

    Three collectives whatever the number of gradients: the row counts of every gradient
    in one all-gather, then every gradient's padded values (flattened, concatenated) in
    one, and their padded row ids in one.

    Args:
        context: the ``tf.distribute.ReplicaContext`` of the current replica.
        grads: ``IndexedSlices`` (float values ``[n, dim]`` with a static ``dim``, indices
            ``[n]``); ``n`` may differ between replicas.

    Returns:
        Per gradient, the concatenation of every replica's slices (the same on every
        replica): applying it sums duplicate rows, which is the sum across replicas.
    """
    if not grads:
        return []
    values, indices, dims = [], [], []
    for i, grad in enumerate(grads):
        if not isinstance(grad, tf.IndexedSlices):
            raise ValueError(
                f"`grads[{i}]` must be a tf.IndexedSlices. Received: {type(grad).__name__}"
            )
        value = tf.cast(tf.convert_to_tensor(grad.values), tf.float32)
        if value.shape.rank != 2 or value.shape[1] is None:
            raise ValueError(
                f"`grads[{i}].values` must have a static shape [n, dim]. "
                f"Received: shape={value.shape}"
            )
        values.append(value)
        indices.append(tf.cast(grad.indices, tf.int64))
        dims.append(int(value.shape[1]))
    lengths = tf.stack([tf.shape(ids)[0] for ids in indices])  # [T]
    replicas = context.num_replicas_in_sync
    all_lengths = tf.reshape(context.all_gather(lengths, axis=0), [replicas, len(grads)])
    longest = tf.reduce_max(all_lengths, axis=0)  # [T], the same on every replica
    flat_values, padded_ids = [], []
    for t, (value, ids) in enumerate(zip(values, indices, strict=True)):
        pad = longest[t] - lengths[t]
        flat_values.append(tf.reshape(tf.pad(value, [[0, pad], [0, 0]]), [-1]))
        padded_ids.append(tf.pad(ids, [[0, pad]]))
    gathered_values = tf.reshape(
        context.all_gather(tf.concat(flat_values, 0), axis=0), [replicas, -1]
    )
    gathered_ids = tf.reshape(context.all_gather(tf.concat(padded_ids, 0), axis=0), [replicas, -1])
    out = []
    value_start, id_start = tf.constant(0), tf.constant(0)
    for t, grad in enumerate(grads):
        rows, dim = longest[t], dims[t]
        block = gathered_values[:, value_start : value_start + rows * dim]
        block = tf.reshape(block, [replicas, rows, dim])
        block_ids = gathered_ids[:, id_start : id_start + rows]
        keep = tf.range(rows)[tf.newaxis, :] < all_lengths[:, t : t + 1]  # [R, rows]
        out.append(
            tf.IndexedSlices(
                tf.boolean_mask(block, keep), tf.boolean_mask(block_ids, keep), grad.dense_shape
            )
        )
        value_start += rows * dim
        id_start += rows
    return out
