"""Frequency-bucketed slots of the width search: unit names, the id remap, the fold.

With ``id_buckets`` a slot's ids are split by training frequency
(:mod:`nwsrec.data.buckets`); each bucket ``b`` is its own table (its own rows, trained
with the slot's vector optimizer) and its own *selection unit* ``"<slot>:<b>"`` of the NWS
layer (bucket 0 = the most frequent ids). An unbucketed slot is the unit ``"<slot>"``.

The slot's vector is the sum of its buckets' pooled vectors. Each id lives in exactly one
bucket, so for one id the sum is that bucket's row; a bucket of width ``d_b`` fills the
first ``d_b`` columns of the slot's vector (zeros beyond), and the slot's width is its
largest bucket's, so the DNN input stays one vector per slot:

- fixed widths ``[d_0, d_1, ...]``: ``v_s = sum_b pad(e_b, max_b d_b)``;
- search: every unit's block (the NWS candidates' segments) goes through the one NWS
  layer, then the buckets' blocks of a slot are summed column by column
  (:func:`fold_units`, one op whatever the number of slots and buckets).

Example:
    >>> unit_name(3, 0), unit_name(3), parse_unit("3:1"), parse_unit("7")
    ('3:0', '3', (3, 1), (7, None))
    >>> units_to_slot_dims({"1:0": 16, "1:1": 4, "2": 8})
    {1: [16, 4], 2: 8}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

__all__ = [
    "BucketRemap",
    "fold_index",
    "fold_units",
    "parse_unit",
    "unit_name",
    "units_to_slot_dims",
]


def unit_name(slot: int, bucket: int | None = None) -> str:
    """The selection unit of a slot (``"<slot>"``) or of one of its buckets (``"<slot>:<b>"``)."""
    return str(slot) if bucket is None else f"{slot}:{bucket}"


def parse_unit(name: str) -> tuple[int, int | None]:
    """``(slot, bucket)`` of a unit name; bucket None for an unbucketed slot.

    Raises:
        ValueError: a name that is not ``"<slot>"`` or ``"<slot>:<bucket>"``.
    """
    text = str(name)
    slot, sep, bucket = text.partition(":")
    if slot.isascii() and slot.isdigit() and (not sep or (bucket.isascii() and bucket.isdigit())):
        return int(slot), (int(bucket) if sep else None)
    raise ValueError(
        f'a selection unit must be "<slot>" or "<slot>:<bucket>". Received: unit={name!r}'
    )


def units_to_slot_dims(sizes: Mapping[str, int]) -> dict[int, int | list[int]]:
    """``{unit: size}`` -> ``{slot: size}`` (unbucketed) or ``{slot: [size per bucket]}``.

    Raises:
        ValueError: a bad unit name, or a bucketed slot whose buckets are not 0..k-1.
    """
    plain: dict[int, int] = {}
    bucketed: dict[int, dict[int, int]] = {}
    for name, size in sizes.items():
        slot, bucket = parse_unit(name)
        if bucket is None:
            plain[slot] = int(size)
        else:
            bucketed.setdefault(slot, {})[bucket] = int(size)
    out: dict[int, int | list[int]] = dict(plain)
    for slot, by_bucket in bucketed.items():
        if slot in plain or sorted(by_bucket) != list(range(len(by_bucket))):
            raise ValueError(
                f"the units of slot {slot} must be {slot}:0 .. {slot}:k-1 and not {slot}. "
                f"Received: {sorted(n for n in sizes if parse_unit(n)[0] == slot)}"
            )
        out[slot] = [by_bucket[b] for b in range(len(by_bucket))]
    return dict(sorted(out.items()))


class BucketRemap:
    """The id -> row remap of one bucket of a slot, vectorised over a batch.

    Args:
        slot_id: the slot (for messages).
        bucket: the bucket this remap keeps.
        bucket_of: ``[vocab]`` the bucket of every id.
        row_of: ``[vocab]`` the row of every id in its bucket.

    Calling it on a batch of ids ``[B, None]`` (``tf.SparseTensor`` or
    ``tf.RaggedTensor``) returns a ``tf.RaggedTensor`` ``[B, None]`` holding, per
    example, the rows of its ids that lie in ``bucket`` (others dropped), in order.
    Ids outside ``[0, vocab)`` are an ``InvalidArgumentError`` naming the slot.
    """

    def __init__(
        self, slot_id: int, bucket: int, bucket_of: np.ndarray, row_of: np.ndarray
    ) -> None:
        self.slot_id = int(slot_id)
        self.bucket = int(bucket)
        self.vocab_size = int(len(bucket_of))
        # One int64 per id: row * 2^8 + bucket (at most 256 buckets), made eagerly once so
        # that a tf.function captures it instead of embedding a large constant.
        if int(np.max(bucket_of, initial=0)) >= 256:
            raise ValueError(
                f"slot {slot_id} must have at most 256 buckets. Received: "
                f"{int(np.max(bucket_of)) + 1}"
            )
        packed = (np.asarray(row_of, np.int64) << 8) | np.asarray(bucket_of, np.int64)
        with tf.init_scope():
            self._packed = tf.constant(packed, dtype=tf.int64)

    def __call__(self, ids: Any) -> tf.RaggedTensor:
        if isinstance(ids, tf.SparseTensor):
            values, rowids, nrows = ids.values, ids.indices[:, 0], ids.dense_shape[0]
        elif isinstance(ids, tf.RaggedTensor):
            values, rowids, nrows = ids.values, ids.value_rowids(), ids.nrows()
        else:
            raise ValueError(
                f"the ids of slot {self.slot_id} must be a tf.SparseTensor or tf.RaggedTensor "
                f"[B, None]. Received: {type(ids).__name__}"
            )
        values = tf.cast(values, tf.int64)
        in_range = tf.reduce_all((values >= 0) & (values < self.vocab_size))
        check = tf.debugging.Assert(
            in_range,
            [f"the ids of slot {self.slot_id} must lie in [0, {self.vocab_size})"],
            name=f"bucket_ids_{self.slot_id}_{self.bucket}",
        )
        with tf.control_dependencies([check]):
            packed = tf.gather(self._packed, values)
        keep = tf.equal(tf.bitwise.bitwise_and(packed, 255), self.bucket)
        rows = tf.bitwise.right_shift(tf.boolean_mask(packed, keep), 8)
        return tf.RaggedTensor.from_value_rowids(
            rows, tf.cast(tf.boolean_mask(rowids, keep), tf.int64), nrows=tf.cast(nrows, tf.int64)
        )


def fold_index(unit_widths: Sequence[int], unit_slots: Sequence[int]) -> tuple[np.ndarray, int]:
    """Column map of :func:`fold_units`: every unit column -> its slot's output column.

    Units of one slot (consecutive, each of the same width) share the slot's columns.

    Returns:
        ``(index [sum(unit_widths)] int32, output width)``.
    """
    index: list[np.ndarray] = []
    offsets: dict[int, int] = {}
    width = 0
    previous = None
    for unit_width, slot in zip(unit_widths, unit_slots, strict=True):
        if slot != previous:
            if slot in offsets:
                raise ValueError(f"the units of slot {slot} must be consecutive")
            offsets[slot] = width
            width += unit_width
            slot_width = unit_width
        elif unit_width != slot_width:
            raise ValueError(
                f"the buckets of slot {slot} must have the same block width in search mode. "
                f"Received: {slot_width} and {unit_width}"
            )
        index.append(offsets[slot] + np.arange(unit_width, dtype=np.int32))
        previous = slot
    return (np.concatenate(index) if index else np.zeros(0, np.int32)), width


def fold_units(x: tf.Tensor, index: np.ndarray, width: int) -> tf.Tensor:
    """Sums the columns of ``x`` [B, W] that ``index`` maps to one output column: [B, width]."""
    summed = tf.math.unsorted_segment_sum(tf.transpose(x), tf.constant(index), width)
    return tf.transpose(summed)
