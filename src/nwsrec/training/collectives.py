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
    >>> # summed = all_reduce_indexed_slices(ctx, [grad_a, grad_b])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

__all__ = ["all_reduce_indexed_slices"]


def all_reduce_indexed_slices(context: Any, grads: Sequence[tf.IndexedSlices]) -> list[Any]:
    """The replica-sum of each sparse gradient, as an ``IndexedSlices`` of every replica's rows.

    Args:
        context: the ``tf.distribute.ReplicaContext`` of the current replica.
        grads: ``IndexedSlices`` (values ``[n, dim]``, indices ``[n]``); ``n`` may differ
            between replicas.

    Returns:
        Per gradient, the concatenation of every replica's slices (the same on every
        replica): applying it sums duplicate rows, which is the sum across replicas.
    """
    out = []
    for grad in grads:
        if not isinstance(grad, tf.IndexedSlices):
            raise ValueError(
                "`grads` must be tf.IndexedSlices. Received: an element of type "
                f"{type(grad).__name__}"
            )
        values = tf.convert_to_tensor(grad.values)
        indices = tf.cast(grad.indices, tf.int64)
        length = tf.shape(indices)[0]
        lengths = context.all_gather(tf.reshape(length, [1]), axis=0)
        longest = tf.reduce_max(lengths)
        pad = longest - length
        padded_values = tf.pad(
            values, tf.concat([[[0, pad]], tf.zeros([tf.rank(values) - 1, 2], tf.int32)], 0)
        )
        padded_indices = tf.pad(indices, [[0, pad]])
        all_values = context.all_gather(padded_values, axis=0)
        all_indices = context.all_gather(padded_indices, axis=0)
        keep = tf.reshape(tf.range(longest)[tf.newaxis, :] < lengths[:, tf.newaxis], [-1])
        out.append(
            tf.IndexedSlices(
                tf.boolean_mask(all_values, keep),
                tf.boolean_mask(all_indices, keep),
                grad.dense_shape,
            )
        )
    return out
