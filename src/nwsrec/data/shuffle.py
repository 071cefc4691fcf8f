"""The seeded order of the training input: blocks of records permuted window by window.

The training input (``make_input_fn(..., shuffle=True)``) reads each pass's files in a
seeded order; :class:`BlockShuffle` then mixes the record stream without ever moving a
record on its own::

    one pass's records (files in the seeded order of that pass)
      -> blocks of ``block`` consecutive records        (batch, remainder of the pass dropped)
    the passes' blocks, as one endless stream
      -> windows of ``window_blocks`` blocks            (ceil(shuffle_buffer / batch) batches)
      -> each window's blocks in the order drawn from (seed, window number)
         (a stateless permutation, one gather per window)
      -> the window cut into whole batches               (a reshape and an unbatch)

A batch thus holds ``batch_size / block`` blocks drawn from the ``shuffle_buffer``
records around it; records of one block stay together, in file order (the gradient of a
batch does not depend on the order of its records). ``block=1`` permutes single records
(the finest order, at the cost of a string copy per record in a window larger than the
CPU caches). The block is the largest divisor of the batch not above ``shuffle_block``.

Why blocks: permuting single records of a 10,000-record window cost ~20% of the read rate
(every record copied out of a buffer that no longer fits the caches, and copied again by
the re-batching); a window of blocks is gathered with the locality of the file and cut
into batches without a copy (``bench/input_pipeline.py``, the shuffle table).

Exact resume: the order depends on nothing but the seed, the pass number and the window
number, and the ``tf.data`` iterator checkpoint holds the pass, the position in it and the
window being filled: a resumed run reads the same batches.

Example:
    >>> import tensorflow as tf
    >>> shuffle = BlockShuffle(batch_size=4, buffer=8, block=2, seed=0)
    >>> blocks = shuffle.blocks(tf.data.Dataset.range(16).map(tf.strings.as_string))
    >>> batches = [b.numpy().tolist() for b in shuffle.batches(blocks)]
    >>> len(batches), sorted(int(r) for b in batches for r in b) == list(range(16))
    (4, True)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import tensorflow as tf

__all__ = ["BlockShuffle", "block_size"]


def block_size(batch_size: int, shuffle_block: int) -> int:
    """The largest divisor of ``batch_size`` that is at most ``shuffle_block`` (>= 1).

    Example:
        >>> block_size(1024, 32), block_size(1000, 32), block_size(8, 32)
        (32, 25, 8)
    """
    for size in range(min(shuffle_block, batch_size), 0, -1):
        if batch_size % size == 0:
            return size
    return 1


@dataclasses.dataclass(frozen=True)
class BlockShuffle:
    """Seeded block order of a record stream, cut into batches (see the module docstring).

    Args:
        batch_size: records per output batch (an integer >= 1).
        buffer: records mixed together (``shuffle_buffer``); 0 or 1: blocks in stream
            order (the file order alone).
        block: records that stay together; must divide ``batch_size`` (see
            :func:`block_size`).
        seed: the seed of the order.
        keep: an optional record filter applied before blocking (a ``RecordSplit.keep``:
            a boolean per serialized record of a string vector).
    """

    batch_size: int
    buffer: int
    block: int
    seed: int
    keep: Callable[[tf.Tensor], tf.Tensor] | None = None

    def __post_init__(self) -> None:
        for name in ("batch_size", "block"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be an integer >= 1. Received: {name}={value!r}")
        if self.batch_size % self.block:
            raise ValueError(
                f"`block` must divide the batch ({self.batch_size}). Received: block={self.block}"
            )
        if isinstance(self.buffer, bool) or not isinstance(self.buffer, int) or self.buffer < 0:
            raise ValueError(f"`buffer` must be an integer >= 0. Received: buffer={self.buffer!r}")

    @property
    def window_blocks(self) -> int:
        """Blocks per permuted window: ``ceil(buffer / batch_size)`` whole batches."""
        batches = max(1, math.ceil(self.buffer / self.batch_size))
        return batches * (self.batch_size // self.block)

    def blocks(self, records: tf.data.Dataset) -> tf.data.Dataset:
        """One pass's serialized records -> blocks ``[block]`` (its last partial block
        dropped; with ``keep``, only the kept records)."""
        if self.keep is not None:
            keep = self.keep
            return (
                records.batch(max(4096, self.block))
                .map(lambda r: tf.boolean_mask(r, keep(r)))
                .rebatch(self.block, drop_remainder=True)
            )
        return records.batch(self.block, drop_remainder=True)

    def batches(self, blocks: tf.data.Dataset) -> tf.data.Dataset:
        """A stream of blocks -> batches ``[batch_size]`` of serialized records, in the
        seeded order (the stream's last partial batch dropped)."""
        per_batch = self.batch_size // self.block
        if self.buffer <= 1:
            grouped = blocks.batch(per_batch, drop_remainder=True)
            return grouped.map(lambda group: tf.reshape(group, [self.batch_size]))
        base = tf.constant((self.seed ^ 0x5BD1E995) % (1 << 31), tf.int64)
        batch_size = self.batch_size

        def permute(index: tf.Tensor, window: tf.Tensor) -> tf.Tensor:
            count = tf.shape(window, out_type=tf.int64)[0]
            whole = count // per_batch * per_batch  # a last, partial window: whole batches
            order = tf.random.experimental.stateless_shuffle(
                tf.range(count), seed=tf.stack([base, index])
            )[:whole]
            return tf.reshape(tf.gather(window, order), [-1, batch_size])

        windows = blocks.batch(self.window_blocks).enumerate().map(permute)
        return windows.unbatch()
