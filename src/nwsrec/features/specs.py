"""A model's slots and slices as plain data (a leaf: no env, no slot objects).

:class:`~nwsrec.features.FeatureSlot` objects live for one run of ``logits_fn``; what they
declare is recorded here, as data, by the :class:`~nwsrec.features.Env`::

    SlotSpec(slot_id=3, has_bias=True, ...)
      feature_slices  FeatureSlice(3, 0, dim=1,  FTRL,    zeros,   is_bias=True)
                      FeatureSlice(3, 1, dim=16, Adagrad, uniform)

The env, the table collection (:mod:`nwsrec.embedding.slot_tables`) and the memory plan
read these; none of them holds a live slot.

Example:
    >>> from nwsrec.features import optimizers
    >>> bias = FeatureSlice(3, 0, 1, optimizers.default_bias_optimizer(), None, is_bias=True)
    >>> spec = SlotSpec(3, has_bias=True, feature_slices=(bias,))
    >>> spec.dims, bias.feature_name, bias.table_name
    ((1,), 'slot_3_0', 'table_3_0')
"""

from __future__ import annotations

import dataclasses

from nwsrec.features.optimizers import EmbeddingOptimizer, Initializer

__all__ = ["FeatureSlice", "SlotSpec"]


@dataclasses.dataclass(frozen=True, eq=False)
class FeatureSlice:
    """One slice of a slot: one embedding table and its training configuration.

    Args:
        slot_id: the slot.
        index: the slice's position in the slot (0 is the bias when the slot has one).
        dim: embedding width.
        optimizer: a ``tf.tpu.experimental.embedding`` optimizer object.
        initializer: called as ``initializer(shape, dtype=...)`` to fill the table.
        is_bias: whether this is the slot's bias slice.

    Example:
        >>> from nwsrec.features import optimizers
        >>> s = FeatureSlice(2, 1, 16, optimizers.default_vec_optimizer(), None)
        >>> s.feature_name, s.table_name
        ('slot_2_1', 'table_2_1')
    """

    slot_id: int
    index: int
    dim: int
    optimizer: EmbeddingOptimizer
    initializer: Initializer | None
    is_bias: bool = False

    @property
    def feature_name(self) -> str:
        """The input feature this slice reads, ``slot_{s}_{i}``."""
        return f"slot_{self.slot_id}_{self.index}"

    @property
    def table_name(self) -> str:
        """The slice's table, ``table_{s}_{i}``."""
        return f"table_{self.slot_id}_{self.index}"


@dataclasses.dataclass(frozen=True)
class SlotSpec:
    """What a :class:`~nwsrec.features.FeatureSlot` declared: its arguments and slices.

    Args:
        slot_id: the slot number.
        has_bias: whether slice 0 is a bias of dim 1.
        bias_optimizer, bias_initializer: the bias slice's configuration.
        default_vec_optimizer, default_vec_initializer: those of vector slices that do
            not name their own.
        feature_slices: the slices, by index.
    """

    slot_id: int
    has_bias: bool = False
    bias_optimizer: EmbeddingOptimizer | None = None
    bias_initializer: Initializer | None = None
    default_vec_optimizer: EmbeddingOptimizer | None = None
    default_vec_initializer: Initializer | None = None
    feature_slices: tuple[FeatureSlice, ...] = ()

    @property
    def dims(self) -> tuple[int, ...]:
        """The width of each slice, by index."""
        return tuple(s.dim for s in self.feature_slices)

    def with_slice(self, feature_slice: FeatureSlice) -> SlotSpec:
        """This spec with ``feature_slice`` appended."""
        return dataclasses.replace(self, feature_slices=(*self.feature_slices, feature_slice))
