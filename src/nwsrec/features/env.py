"""``Env``: the registry of a model's feature slots, discovery, and per-step rounds.

A model's ``logits_fn`` declares its slots on an ``Env`` every time it runs. The env has
two phases:

1. **Discovery** (before :meth:`Env.finalize`): the first run of ``logits_fn``. Each
   :class:`~nwsrec.features.FeatureSlot` and each slice is recorded;
   ``add_vector(dim)`` returns zeros ``[1, dim]``. ``finalize()`` then fixes
   ``slot_to_dims = {slot_id: [dim, ...]}`` and ``slot_to_config = {slot_id: SlotSpec}``.
2. **Rounds** (after finalize): every later run of ``logits_fn`` is one round, opened with
   :meth:`Env.begin_round` (given the pooled embeddings of the batch, keyed
   ``slot_{s}_{i}``) and closed with :meth:`Env.end_round`. A round must declare the same
   slots with the same dims as discovery; ``add_vector`` / ``get_bias`` return the batch's
   pooled embeddings.

Round state is per thread, so replicas of a ``tf.distribute`` strategy that trace
``logits_fn`` in parallel threads do not see each other's rounds.

The env records plain data (:class:`~nwsrec.features.SlotSpec`,
:class:`~nwsrec.features.FeatureSlice`) and never holds a
:class:`~nwsrec.features.FeatureSlot`; this module does not import the slots. What a slot
and its columns call on their env (the slot protocol):

- :attr:`Env.slot_defaults`: the optimizers / initializers a slot uses for arguments it is
  not given (one :class:`~nwsrec.features.SlotDefaults` per env).
- :meth:`Env.declare_slot`: records a new slot's spec in the current round and returns the
  round's id, which the slot keeps as :attr:`FeatureSlot.round_id`.
- :meth:`Env.declare_slice`: checks a new slice against the round (and discovery) and
  records it.
- :meth:`Env.slice_embedding`: the pooled embedding of a slice in the current round.

Example:
    >>> import tensorflow as tf
    >>> from nwsrec.features import Env, FeatureColumnV1, FeatureSlot
    >>> env = Env({3: 100})
    >>> fc = FeatureColumnV1(FeatureSlot(env, 3, has_bias=True), "slot_3_0")
    >>> fc.add_vector(4).shape  # discovery: zeros [1, 4]
    TensorShape([1, 4])
    >>> env.finalize()
    >>> env.slot_to_dims
    {3: [1, 4]}
    >>> env.begin_round({"slot_3_0": tf.ones([2, 1]), "slot_3_1": tf.ones([2, 4])})
    >>> fc = FeatureColumnV1(FeatureSlot(env, 3, has_bias=True), "slot_3_0")
    >>> fc.get_bias().shape, fc.add_vector(4).shape
    (TensorShape([2, 1]), TensorShape([2, 4]))
    >>> env.end_round()
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import tensorflow as tf

from nwsrec.checks import is_int
from nwsrec.features.optimizers import SlotDefaults, default_slot_defaults
from nwsrec.features.specs import FeatureSlice, SlotSpec

__all__ = ["Env", "discovery_batch"]

logger = logging.getLogger(__name__)


class _Round:
    """What one round (or the discovery) has declared so far."""

    __slots__ = ("id", "open", "slots", "embeddings")

    def __init__(self, round_id: int, embeddings: Mapping[str, tf.Tensor] | None) -> None:
        self.id = round_id
        self.open = True
        self.slots: dict[int, SlotSpec] = {}
        self.embeddings = embeddings


class Env:
    """Holds the vocab sizes and the feature slots a model declares.

    Args:
        vocab_size_dict: ``{slot_id: vocab_size}``, e.g. from
            :func:`nwsrec.features.read_vocab_file`.

    Raises:
        ValueError: if ``vocab_size_dict`` is not a mapping of non-negative integers.

    Example:
        >>> env = Env({1: 10})
        >>> env.is_finalized()
        False
    """

    def __init__(self, vocab_size_dict: Mapping[int, int]) -> None:
        if not isinstance(vocab_size_dict, Mapping):
            raise ValueError(
                "`vocab_size_dict` must be a mapping {slot_id: vocab_size}. "
                f"Received: vocab_size_dict={vocab_size_dict!r}"
            )
        for slot_id, size in vocab_size_dict.items():
            if not is_int(slot_id) or slot_id < 0 or not is_int(size) or size < 0:
                raise ValueError(
                    "`vocab_size_dict` must map non-negative integer slot ids to "
                    f"non-negative integer sizes. Received: {slot_id!r}: {size!r}"
                )
        self._vocab_size_dict = dict(vocab_size_dict)
        self._finalized = False
        self._discovery = _Round(0, None)
        self._slot_to_dims: dict[int, tuple[int, ...]] = {}
        self._slot_to_config: dict[int, SlotSpec] = {}
        self._slices: tuple[FeatureSlice, ...] = ()
        self._zeros: dict[int, tf.Tensor] = {}
        self._round_ids = itertools.count(1)
        self._local = threading.local()
        self._defaults: SlotDefaults | None = None

    # ----------------------------------------------------------------- public API

    @property
    def vocab_size_dict(self) -> Mapping[int, int]:
        """``{slot_id: vocab_size}`` (read-only)."""
        return MappingProxyType(self._vocab_size_dict)

    def is_finalized(self) -> bool:
        """Whether discovery is over (``finalize()`` was called)."""
        return self._finalized

    def finalize(self) -> None:
        """End discovery: fix ``slot_to_dims`` and ``slot_to_config``.

        Raises:
            ValueError: if the env is already finalized, no slot was declared, or a slot
                has no slice.
        """
        if self._finalized:
            raise ValueError("`env` must not be finalized twice. Received: a second finalize()")
        slots = self._discovery.slots
        if not slots:
            raise ValueError(
                "`logits_fn` must declare at least one FeatureSlot before finalize(). "
                "Received: no slot"
            )
        for slot_id, spec in slots.items():
            if not spec.feature_slices:
                raise ValueError(
                    f"slot {slot_id} must have at least one slice: call add_vector(dim) on "
                    "one of its FeatureColumnV1 or declare it with has_bias=True. "
                    f"Received: slot_id={slot_id} with no slice"
                )
        self._slot_to_config = dict(slots)
        self._slot_to_dims = {slot_id: spec.dims for slot_id, spec in slots.items()}
        self._slices = tuple(s for spec in slots.values() for s in spec.feature_slices)
        self._discovery.open = False
        self._zeros.clear()
        self._finalized = True
        logger.info(
            "Env finalized: %d slots, %d slices", len(self._slot_to_dims), len(self._slices)
        )
        logger.debug("slot_to_dims: %s", self._slot_to_dims)

    @property
    def slot_to_dims(self) -> dict[int, list[int]]:
        """``{slot_id: [dim of slice 0, dim of slice 1, ...]}`` (a copy), after finalize."""
        self._require_finalized("slot_to_dims")
        return {slot_id: list(dims) for slot_id, dims in self._slot_to_dims.items()}

    @property
    def slot_to_config(self) -> dict[int, SlotSpec]:
        """``{slot_id: SlotSpec}`` as declared during discovery (a copy), after finalize."""
        self._require_finalized("slot_to_config")
        return dict(self._slot_to_config)

    def feature_slices(self) -> tuple[FeatureSlice, ...]:
        """Every slice declared during discovery, by slot then slice index, after finalize."""
        self._require_finalized("feature_slices()")
        return self._slices

    def begin_round(self, embeddings: Mapping[str, tf.Tensor]) -> None:
        """Open a round in this thread with the batch's pooled embeddings.

        Args:
            embeddings: ``{"slot_{s}_{i}": pooled [B, dim] tensor}``; a round that was
                left open (an exception inside ``logits_fn``) is discarded.

        Raises:
            ValueError: before finalize, or if ``embeddings`` is not a mapping.
        """
        self._require_finalized("begin_round()")
        if not isinstance(embeddings, Mapping):
            raise ValueError(
                "`embeddings` must be a mapping {feature_name: tensor}. "
                f"Received: embeddings={type(embeddings).__name__}"
            )
        self._local.round = _Round(next(self._round_ids), embeddings)

    def end_round(self) -> None:
        """Close this thread's round, checking it declared what discovery declared.

        Raises:
            ValueError: if no round is open, or a slot of discovery was not declared, or
                declared with fewer slices (naming the slot).
        """
        state = getattr(self._local, "round", None)
        if state is None or not state.open:
            raise ValueError("`env` must have an open round to end. Received: no open round")
        state.open = False
        state.embeddings = None
        self._local.round = None
        for slot_id, dims in self._slot_to_dims.items():
            spec = state.slots.get(slot_id)
            declared = () if spec is None else spec.dims
            if declared != dims:
                raise ValueError(
                    f"slot {slot_id} must declare the dims of discovery in every round, "
                    f"{list(dims)}. Received: dims={list(declared)}"
                )

    def in_round(self) -> bool:
        """Whether this thread has an open round (discovery counts as one)."""
        state = self._current()
        return state is not None and state.open

    # ------------------------------------------------------ the slot protocol

    @property
    def slot_defaults(self) -> SlotDefaults:
        """The defaults of this env's slots, created once and shared by every slot.

        ``FTRL(learning_rate=0.01)`` and zeros for biases, ``Adagrad(learning_rate=0.01)``
        and uniform ``[-0.001, 0.001)`` for vectors: configuration objects only (each
        table keeps its own state), so one of each per env.

        Example:
            >>> env = Env({1: 10})
            >>> env.slot_defaults is env.slot_defaults
            True
            >>> type(env.slot_defaults.vec_optimizer).__name__
            'Adagrad'
        """
        if self._defaults is None:
            self._defaults = default_slot_defaults()
        return self._defaults

    def current_round_id(self) -> int | None:
        """The id of this thread's open round (0 during discovery), or None if none is open.

        Example:
            >>> env = Env({1: 10})
            >>> env.current_round_id()
            0
        """
        state = self._current()
        return state.id if state is not None and state.open else None

    def declare_slot(self, spec: SlotSpec) -> int:
        """Record a new slot's ``spec`` in this thread's open round; return the round's id.

        Called by :class:`~nwsrec.features.FeatureSlot` when it is created (its spec has
        no slice yet); the slot keeps the id as
        :attr:`~nwsrec.features.FeatureSlot.round_id`.

        Raises:
            ValueError: outside a round, for a slot declared twice in the round, or (after
                discovery) a slot that discovery did not declare or declared with another
                ``has_bias``.
        """
        slot_id = spec.slot_id
        state = self._current()
        if state is None or not state.open:
            raise ValueError(
                f"FeatureSlot {slot_id} must be declared inside a round: after finalize(), "
                "declare slots in logits_fn run by Model.forward (env.begin_round()). "
                f"Received: slot_id={slot_id} outside a round"
            )
        if slot_id in state.slots:
            raise ValueError(
                f"slot {slot_id} must be declared once per round. "
                f"Received: slot_id={slot_id} declared twice"
            )
        if self._finalized:
            known = self._slot_to_config.get(slot_id)
            if known is None:
                raise ValueError(
                    f"slot {slot_id} must have been declared during discovery; a round must "
                    "declare the same slots as discovery. "
                    f"Received: slot_id={slot_id}, discovered slots={sorted(self._slot_to_dims)}"
                )
            if known.has_bias != spec.has_bias:
                raise ValueError(
                    f"slot {slot_id} must keep has_bias={known.has_bias} as in discovery. "
                    f"Received: has_bias={spec.has_bias}"
                )
        state.slots[slot_id] = spec
        return state.id

    def declare_slice(self, round_id: int, feature_slice: FeatureSlice) -> None:
        """Check ``feature_slice`` against the round ``round_id`` (and discovery) and record
        it in its slot's spec.

        Called by :meth:`~nwsrec.features.FeatureSlot.add_feature_slice` before the slot
        keeps the slice.

        Raises:
            ValueError: if round ``round_id`` is not this thread's open round, the slice is
                not its slot's next, or (after discovery) discovery did not declare that
                slice with that dim.
        """
        slot_id, index, dim = feature_slice.slot_id, feature_slice.index, feature_slice.dim
        self._check_current(round_id, slot_id)
        state = self._current()
        assert state is not None  # checked above
        spec = state.slots[slot_id]
        if self._finalized:
            dims = self._slot_to_dims[slot_id]
            if index >= len(dims) or dims[index] != dim:
                expected = "no such slice" if index >= len(dims) else f"dim {dims[index]}"
                raise ValueError(
                    f"slot {slot_id} slice {index} must match discovery ({expected}; "
                    f"discovery dims {list(dims)}). Received: dim={dim}"
                )
        if index != len(spec.feature_slices):
            raise ValueError(
                f"slot {slot_id} must add its slices in order. "
                f"Received: slice {index} after {len(spec.feature_slices)} slices"
            )
        state.slots[slot_id] = spec.with_slice(feature_slice)

    def slice_embedding(self, round_id: int, feature_slice: FeatureSlice) -> tf.Tensor:
        """The pooled embedding of ``feature_slice`` in this thread's round ``round_id``.

        Called by :meth:`~nwsrec.features.FeatureColumnV1.embedding_lookup`.

        Returns:
            During discovery zeros ``[1, dim]`` (one tensor per dim, shared); in a round the
            tensor ``begin_round`` was given for ``feature_slice.feature_name``.

        Raises:
            ValueError: if round ``round_id`` is not this thread's open round.
            LookupError: if the round's embeddings lack the slice's feature.
        """
        self._check_current(round_id, feature_slice.slot_id)
        if not self._finalized:
            zeros = self._zeros.get(feature_slice.dim)
            if zeros is None:
                zeros = tf.zeros([1, feature_slice.dim], dtype=tf.float32)
                self._zeros[feature_slice.dim] = zeros
            return zeros
        state = self._local.round
        name = feature_slice.feature_name
        if name not in state.embeddings:
            raise LookupError(
                f"the round's embeddings must hold {name!r} (slot {feature_slice.slot_id} "
                f"slice {feature_slice.index}). Received: keys={sorted(state.embeddings)[:10]}"
            )
        return state.embeddings[name]

    # ------------------------------------------------------------------ helpers

    def _current(self) -> _Round | None:
        if not self._finalized:
            return self._discovery
        return getattr(self._local, "round", None)

    def _require_finalized(self, what: str) -> None:
        if not self._finalized:
            raise ValueError(
                f"`env` must be finalized before {what} is used. Received: env in discovery"
            )

    def _check_current(self, round_id: int, slot_id: int) -> None:
        state = self._current()
        if state is None or not state.open or state.id != round_id:
            raise ValueError(
                f"FeatureSlot {slot_id} must be used in the round that declared it: "
                "create FeatureSlot and FeatureColumnV1 inside logits_fn on every run. "
                f"Received: slot_id={slot_id} from an ended round"
            )


def discovery_batch(feature_map: Mapping[str, Any]) -> dict[str, Any]:
    """The batch a model's discovery runs on: one example parsed with ``feature_map``,
    every fixed-length feature zeros (or empty strings), every id list empty.

    Raises:
        ValueError: if ``feature_map`` is not a mapping.

    Example:
        >>> batch = discovery_batch({"label": tf.io.FixedLenFeature([], tf.float32),
        ...                          "slot_1_0": tf.io.VarLenFeature(tf.int64)})
        >>> batch["label"].numpy().tolist(), batch["slot_1_0"].values.shape.as_list()
        ([0.0], [0])
    """
    if not isinstance(feature_map, Mapping):
        raise ValueError(
            f"`feature_map()` must return a mapping. Received: {type(feature_map).__name__}"
        )
    example = tf.train.Example()
    for name, spec in feature_map.items():
        if not isinstance(spec, tf.io.FixedLenFeature) or spec.default_value is not None:
            continue
        size = math.prod(tf.TensorShape(spec.shape).as_list())
        feature = example.features.feature[name]
        dtype = tf.as_dtype(spec.dtype)
        if dtype == tf.string:
            feature.bytes_list.value.extend([b""] * size)
        elif dtype.is_integer:
            feature.int64_list.value.extend([0] * size)
        else:
            feature.float_list.value.extend([0.0] * size)
    return tf.io.parse_example(tf.constant([example.SerializeToString()]), dict(feature_map))
