"""Sail-style feature slots, slices and columns.

A *slot* is one sparse input (ids of ``slot_{s}_0``). It has *slices* ``0..k-1``; slice
``i`` is its own embedding table ``table_{s}_{i}`` of width ``dim``, trained by its own
optimizer, and reads the feature ``slot_{s}_{i}``. A slot with ``has_bias=True`` has
slice 0 of dim 1 (the bias); every ``add_vector(dim)`` adds the slot's next slice::

    FeatureSlot(env, 3, has_bias=True)
      slice 0  dim 1   table_3_0  <- slot_3_0   (bias: FTRL, zeros)
      slice 1  dim 16  table_3_1  <- slot_3_1   (vector: Adagrad, uniform +-0.001)

Declare slots inside ``logits_fn``: a new ``FeatureSlot`` / ``FeatureColumnV1`` on every
run. What a call returns depends on the env's phase (see :mod:`nwsrec.features.env`).

Example:
    >>> from nwsrec.features import Env, FeatureColumnV1, FeatureSlot
    >>> env = Env({5: 1000})
    >>> slot = FeatureSlot(env, 5)
    >>> FeatureColumnV1(slot, "slot_5_0").add_vector(8).shape
    TensorShape([1, 8])
    >>> [s.table_name for s in slot.feature_slices]
    ['table_5_0']
"""

from __future__ import annotations

from typing import TypeGuard

import tensorflow as tf

from nwsrec.checks import is_int
from nwsrec.features import optimizers as _optimizers
from nwsrec.features.env import Env
from nwsrec.features.optimizers import EmbeddingOptimizer, Initializer
from nwsrec.features.specs import FeatureSlice, SlotSpec

__all__ = ["FeatureColumnV1", "FeatureSlice", "FeatureSlot"]


def _check_optimizer(optimizer: object, arg: str, slot_id: int) -> None:
    try:
        _optimizers.parameter_copies(optimizer)
    except ValueError as err:
        raise ValueError(f"`{arg}` of slot {slot_id}: {err}") from None


def _is_index(value: object) -> TypeGuard[int]:
    return is_int(value) and value >= 0


def _check_initializer(initializer: object, arg: str, slot_id: int) -> None:
    if not callable(initializer):
        raise ValueError(
            f"`{arg}` of slot {slot_id} must be callable as initializer(shape, dtype=...). "
            f"Received: {arg}={initializer!r}"
        )


class FeatureSlot:
    """A sparse input slot declared on an :class:`Env`.

    Args:
        env: the model's env.
        slot_id: non-negative slot number (the ``s`` of ``slot_{s}_0``).
        has_bias: give the slot a bias, slice 0 of dim 1.
        bias_optimizer: the bias slice's optimizer; default ``FTRL(learning_rate=0.01)``.
        bias_initializer: the bias slice's initializer; default zeros.
        default_vec_optimizer: optimizer of vector slices that do not name their own;
            default ``Adagrad(learning_rate=0.01)``.
        default_vec_initializer: initializer of vector slices that do not name their own;
            default uniform in ``[-0.001, 0.001)``.

    The defaults are one object of each kind per env, shared by the slots that use them
    (optimizer and initializer objects are configuration; each table keeps its own
    state).

    Optimizers are ``tf.tpu.experimental.embedding`` ``SGD``, ``Adagrad``, ``Adam`` or
    ``FTRL`` objects; initializers are called as ``initializer(shape, dtype=...)``.

    Raises:
        ValueError: for a bad argument, or a slot declared twice in one round, or (after
            discovery) a slot that discovery did not declare or declared with another
            ``has_bias``.

    Example:
        >>> env = Env({1: 10})
        >>> slot = FeatureSlot(env, 1, has_bias=True)
        >>> [(s.index, s.dim, type(s.optimizer).__name__) for s in slot.feature_slices]
        [(0, 1, 'FTRL')]
    """

    def __init__(
        self,
        env: Env,
        slot_id: int,
        has_bias: bool = False,
        bias_optimizer: EmbeddingOptimizer | None = None,
        bias_initializer: Initializer | None = None,
        default_vec_optimizer: EmbeddingOptimizer | None = None,
        default_vec_initializer: Initializer | None = None,
    ) -> None:
        if not isinstance(env, Env):
            raise ValueError(f"`env` must be an nwsrec.features.Env. Received: env={env!r}")
        if isinstance(slot_id, bool) or not isinstance(slot_id, int) or slot_id < 0:
            raise ValueError(
                f"`slot_id` must be a non-negative integer. Received: slot_id={slot_id!r}"
            )
        if not isinstance(has_bias, bool):
            raise ValueError(
                f"`has_bias` of slot {slot_id} must be a bool. Received: has_bias={has_bias!r}"
            )
        self._env = env
        self._slot_id = slot_id
        self._has_bias = has_bias
        # Arguments left at None share the env's default objects (one FTRL, one Adagrad,
        # one zeros and one uniform initializer per env): they are configuration only.
        defaults = env.slot_defaults
        if bias_optimizer is None:
            bias_optimizer = defaults.bias_optimizer
        else:
            _check_optimizer(bias_optimizer, "bias_optimizer", slot_id)
        if bias_initializer is None:
            bias_initializer = defaults.bias_initializer
        else:
            _check_initializer(bias_initializer, "bias_initializer", slot_id)
        if default_vec_optimizer is None:
            default_vec_optimizer = defaults.vec_optimizer
        else:
            _check_optimizer(default_vec_optimizer, "default_vec_optimizer", slot_id)
        if default_vec_initializer is None:
            default_vec_initializer = defaults.vec_initializer
        else:
            _check_initializer(default_vec_initializer, "default_vec_initializer", slot_id)
        self._bias_optimizer: EmbeddingOptimizer = bias_optimizer
        self._bias_initializer: Initializer = bias_initializer
        self._default_vec_optimizer: EmbeddingOptimizer = default_vec_optimizer
        self._default_vec_initializer: Initializer = default_vec_initializer
        self._feature_slices: list[FeatureSlice] = []
        self._round_id = env.declare_slot(self.spec)
        if has_bias:
            self._append(1, self._bias_optimizer, self._bias_initializer, is_bias=True)

    @property
    def env(self) -> Env:
        """The env this slot is declared on."""
        return self._env

    @property
    def slot_id(self) -> int:
        """The slot number."""
        return self._slot_id

    @property
    def has_bias(self) -> bool:
        """Whether slice 0 is a bias of dim 1."""
        return self._has_bias

    @property
    def round_id(self) -> int:
        """The id of the env round that declared this slot (0 for discovery).

        The slot and its columns can be used only while that round is open in this
        thread (see :meth:`Env.current_round_id`).
        """
        return self._round_id

    @property
    def bias_optimizer(self) -> EmbeddingOptimizer:
        """The bias slice's optimizer."""
        return self._bias_optimizer

    @property
    def bias_initializer(self) -> Initializer:
        """The bias slice's initializer."""
        return self._bias_initializer

    @property
    def default_vec_optimizer(self) -> EmbeddingOptimizer:
        """The optimizer of vector slices that do not name their own."""
        return self._default_vec_optimizer

    @property
    def default_vec_initializer(self) -> Initializer:
        """The initializer of vector slices that do not name their own."""
        return self._default_vec_initializer

    @property
    def feature_slices(self) -> tuple[FeatureSlice, ...]:
        """The slices declared so far in this round, by index."""
        return tuple(self._feature_slices)

    @property
    def spec(self) -> SlotSpec:
        """The slot as plain data: its arguments and the slices declared so far."""
        return SlotSpec(
            slot_id=self._slot_id,
            has_bias=self._has_bias,
            bias_optimizer=self._bias_optimizer,
            bias_initializer=self._bias_initializer,
            default_vec_optimizer=self._default_vec_optimizer,
            default_vec_initializer=self._default_vec_initializer,
            feature_slices=tuple(self._feature_slices),
        )

    def add_feature_slice(
        self,
        dim: int,
        optimizer: EmbeddingOptimizer | None = None,
        initializer: Initializer | None = None,
    ) -> FeatureSlice:
        """Add the slot's next slice.

        Args:
            dim: embedding width, an integer >= 1.
            optimizer: the slice's optimizer; default the slot's ``default_vec_optimizer``.
            initializer: the slice's initializer; default ``default_vec_initializer``.

        Returns:
            The new :class:`FeatureSlice`.

        Raises:
            ValueError: for a bad argument, a slot from an ended round, or (after
                discovery) a slice that discovery did not declare with this dim.
        """
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(
                f"`dim` of slot {self._slot_id} must be an integer >= 1. Received: dim={dim!r}"
            )
        if optimizer is None:
            optimizer = self._default_vec_optimizer
        else:
            _check_optimizer(optimizer, "optimizer", self._slot_id)
        if initializer is None:
            initializer = self._default_vec_initializer
        else:
            _check_initializer(initializer, "initializer", self._slot_id)
        return self._append(dim, optimizer, initializer, is_bias=False)

    def _append(
        self, dim: int, optimizer: EmbeddingOptimizer, initializer: Initializer, is_bias: bool
    ) -> FeatureSlice:
        index = len(self._feature_slices)
        feature_slice = FeatureSlice(self._slot_id, index, dim, optimizer, initializer, is_bias)
        self._env.declare_slice(self._round_id, feature_slice)
        self._feature_slices.append(feature_slice)
        return feature_slice

    def __repr__(self) -> str:
        dims = [s.dim for s in self._feature_slices]
        return f"FeatureSlot(slot_id={self._slot_id}, has_bias={self._has_bias}, dims={dims})"


class FeatureColumnV1:
    """A named view of a slot through which ``logits_fn`` gets embeddings.

    Args:
        feature_slot: the slot.
        fc_name: the column's name, by convention ``"slot_{s}_0"``.

    Example:
        >>> env = Env({4: 10})
        >>> fc = FeatureColumnV1(FeatureSlot(env, 4, has_bias=True), "slot_4_0")
        >>> fc.get_bias().shape, fc.add_vector(3).shape
        (TensorShape([1, 1]), TensorShape([1, 3]))
    """

    def __init__(self, feature_slot: FeatureSlot, fc_name: str) -> None:
        if not isinstance(feature_slot, FeatureSlot):
            raise ValueError(
                f"`feature_slot` must be a FeatureSlot. Received: feature_slot={feature_slot!r}"
            )
        if not isinstance(fc_name, str) or not fc_name:
            raise ValueError(f"`fc_name` must be a non-empty string. Received: fc_name={fc_name!r}")
        self._feature_slot = feature_slot
        self._fc_name = fc_name

    @property
    def feature_slot(self) -> FeatureSlot:
        """The slot of this column."""
        return self._feature_slot

    @property
    def fc_name(self) -> str:
        """The column's name."""
        return self._fc_name

    def add_vector(
        self,
        dim: int,
        *,
        optimizer: EmbeddingOptimizer | None = None,
        initializer: Initializer | None = None,
    ) -> tf.Tensor:
        """Add the slot's next slice and return its pooled embedding.

        Args:
            dim: embedding width, an integer >= 1.
            optimizer: the slice's optimizer; default the slot's vector default.
            initializer: the slice's initializer; default the slot's vector default.

        Returns:
            During discovery zeros ``[1, dim]``; in a round the sum-pooled embedding of the
            batch ``[B, dim]``.

        Example:
            >>> env = Env({4: 10})
            >>> FeatureColumnV1(FeatureSlot(env, 4), "slot_4_0").add_vector(2).numpy()
            array([[0., 0.]], dtype=float32)
        """
        feature_slice = self._feature_slot.add_feature_slice(dim, optimizer, initializer)
        return self.embedding_lookup(feature_slice)

    def embedding_lookup(self, feature_slice: FeatureSlice) -> tf.Tensor:
        """The pooled embedding of one of this slot's slices (see :meth:`add_vector`).

        Raises:
            ValueError: if ``feature_slice`` is not a slice of this column's slot in the
                current round.
        """
        slot = self._feature_slot
        slices = slot.feature_slices
        index = getattr(feature_slice, "index", None)
        if not (_is_index(index) and index < len(slices) and slices[index] is feature_slice):
            raise ValueError(
                f"`feature_slice` must be a slice of slot {slot.slot_id} declared in this "
                f"round. Received: feature_slice={feature_slice!r}"
            )
        return slot.env.slice_embedding(slot.round_id, feature_slice)

    def get_bias(self) -> tf.Tensor:
        """The pooled bias ``[B, 1]`` (slice 0) of a slot declared with ``has_bias=True``.

        Raises:
            ValueError: if the slot has no bias.
        """
        slot = self._feature_slot
        if not slot.has_bias:
            raise ValueError(
                f"slot {slot.slot_id} must be declared with has_bias=True to have a bias. "
                "Received: has_bias=False"
            )
        return self.embedding_lookup(slot.feature_slices[0])
