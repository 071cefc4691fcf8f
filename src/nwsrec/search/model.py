"""``WidthSearchModel``: a DNN over slot embeddings plus per-slot bias, searched or fixed.

The built-in tasks (``synthetic``, ``movielens``) are subclasses; what they add is their
data location. One model, two modes:

- search (``params["search"] = True``): every slot has a bias (slice 0, dim 1) and one
  vector slice; the vectors go through one ``MixedEmbedOpComb``, then the DNN::

      logits = DNN(NWS([e_1 | e_2 | ... ])) + sum_s bias_s

  ``supernet_layout`` sets the vector slice: ``"nested"`` (default) has one block of the
  largest candidate size, choice ``j`` being its first ``c_j`` columns (the layer's
  ``layout="nested"``: it zeroes the columns past the choice in place, so the DNN sees
  ``max(c)`` columns per slot whatever the choice); ``"separate"`` has one block of
  ``sum(candidate_sizes)`` columns, choice ``j`` owning the ``j``-th segment (1.75x the
  table of full width for ``[0, 4, 8, 16]``).

- fixed (``search = False``): slot ``s`` has a vector slice of width
  ``slot_dims[s]`` (default: the largest candidate, "full width"); a slot of width 0 is
  dropped entirely (no bias, no vector, no table).

Params (besides those of :class:`nwsrec.model.Model` and the trainer):

- ``data_dir``: where the data lives; ``train_file_pattern``, ``eval_file_pattern`` and
  ``vocab_file_path`` default to ``{data_dir}/train-*``, ``{data_dir}/test-*`` and
  ``{data_dir}/vocab.tsv`` (see :meth:`WidthSearchModel.resolve_params`).
- ``slots``: the slot ids to use (None: every slot of the vocab file).
- ``candidate_sizes``: the candidate embedding sizes of every slot, e.g. ``[0, 4, 8, 16]``.
- ``search``: search mode (True) or fixed widths (False).
- ``slot_dims``: ``{slot_id: size}`` for fixed mode; every slot of the model, each size
  one of ``candidate_sizes`` (checked by :func:`check_slot_dims`).
- ``warmup_steps``, ``pretraining_steps``, ``nws_seed``: the NWS layer's schedule/seed.
- ``nws_mode``: the NWS layer's ``mode``, ``"sample"`` (one drawn size per slot and
  step, straight-through gradient) or ``"mixed"`` (probability-weighted mixture).
- ``search_steps``: the length of ``nwsrec search`` (None: ``train_steps``). A search
  trains every candidate of every slot a share of the steps, so it may need more steps
  than a training run at fixed widths.
- ``width_selection``: how ``nwsrec search`` picks each slot's width: ``"argmax"`` of
  the architecture weights (the seed), ``"holdout"`` (per slot, the smallest width
  within ``selection_tolerance`` of its best on the records held out by
  ``holdout_every``) or ``"frontier"``: the held-out loss vs embedding parameters
  frontier (``nwsrec.search.select.search_frontier``; ``selection_batches`` held-out
  batches at most, None: all).
- ``supernet_layout``: ``"nested"`` or ``"separate"``, see above.
- ``hidden_units``: widths of the DNN's ReLU layers.
- ``vec_optimizer``, ``vec_learning_rate``, ``vec_init_scale``: sparse optimizer
  (``adagrad``, ``adam``, ``ftrl`` or ``sgd``; :func:`table_optimizer`), learning rate
  and uniform init range of the vector tables; ``bias_optimizer``,
  ``bias_learning_rate``: those of the bias tables.
- ``id_buckets``, ``bucket_slots``, ``id_counts_file``: frequency buckets
  (:mod:`nwsrec.search.buckets`). With ``id_buckets=[f_1, ...]`` the ids of every slot of
  ``bucket_slots`` (None: every slot) are split by their count in the training files
  (:mod:`nwsrec.data.buckets`: bucket 0 holds the ``f_1`` share of the seen ids that are
  most frequent, ...); each bucket has its own vector table and its own NWS unit
  ``"<slot>:<bucket>"``, and ``slot_dims`` may give such a slot one size per bucket,
  ``{slot: [d_0, d_1, ...]}`` (an integer: every bucket that size). The slot keeps one
  bias table over all its ids, and its vector is the sum of its buckets' (bucket ``b``
  fills the first ``d_b`` columns). The id counts are read from the data's
  ``id_counts.npz`` (``nwsrec convert`` and the generators write it), else scanned from
  the training files (and cached in ``id_counts_file`` when it is set).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from nwsrec.config import SearchConfig, TrainerConfig
from nwsrec.data.buckets import frequency_buckets, load_or_count_buckets
from nwsrec.data.counts import ID_COUNTS_FILE, read_id_counts
from nwsrec.features import FeatureColumnV1, FeatureSlot, read_vocab_file
from nwsrec.layers import MixedEmbedOpComb
from nwsrec.model import Model
from nwsrec.search import buckets as _buckets

logger = logging.getLogger(__name__)

__all__ = [
    "SEARCH_MODEL_DEFAULTS",
    "TASK_DEFAULTS",
    "WHOLE_RUN",
    "WidthSearchModel",
    "check_slot_dims",
    "embedding_parameters",
]

SEARCH_MODEL_DEFAULTS: dict[str, Any] = SearchConfig.defaults()
"""The search model's knobs and their defaults (:class:`nwsrec.config.SearchConfig`)."""

WHOLE_RUN = 1_000_000_000
"""A step count no run reaches: a schedule (``warmup_steps``, ...) that spans the run."""

TASK_DEFAULTS: dict[str, Any] = {
    # Trained as long as the held-out ranking improves: up to `epochs` passes, one
    # held-out evaluation per pass on one training record in ten, stopped after
    # `early_stopping_patience` passes without a better held-out AUC, the best pass's
    # weights kept. AUC, not log loss: the log loss turns up on over-confidence while the
    # ranking goes on improving (on a real CTR set it stopped a model at a fifth of the
    # steps its AUC paid for). The search's supernet stops alike, judged at full width.
    "epochs": 50.0,
    "early_stopping_patience": 3,
    "early_stopping_metric": "auc",
    "holdout_every": 10,
    # The supernet: as long as a training run (it is stopped the same way), drawing one
    # width per slot and step for the whole run (`draw_largest` below), size 0 included:
    # a slot at size 0 is dropped whole (bias too, `MixedEmbedOpComb(return_kept=True)`),
    # so the network learns to do without each slot and the held-out cost of a drop is
    # what a model without the slot loses, not the shock of an input it never saw at 0.
    "search_steps": None,
    # No sandwich training (`sandwich`, each step also at full width): it makes the
    # supernet converge in a fixed run's steps (MovieLens: 3,640 instead of 7,000), but
    # the network then leans on every slot at full width, so drops look costly and
    # narrow widths pessimistic: on the synthetic set it kept 5 noise slots at 16.
    "sandwich": False,
    # Each step draws a slot's largest size with probability 1/2, the others uniformly:
    # the nested layout's widest columns are then trained in half the steps instead of
    # one in six, so the supernet converges at full width in about 1.5x a training's
    # steps (uniform draws: 2.1-2.5x), and its estimates rank retrained choices better
    # (MovieLens seed 0, 19 retrained choices: Kendall tau 0.80 against 0.66; synthetic
    # 0.81 against 0.86). Size 0 is still drawn in one step in ten per slot.
    "draw_largest": 0.5,
    "nws_mode": "sample",
    "warmup_steps": 0,
    "pretraining_steps": WHOLE_RUN,
    "arch_warmup_steps": WHOLE_RUN,
    "width_penalty": 0.0,
    # Widths 1 and 2 are candidates: one width for every slot at 1 or 2 is often as good
    # as any searched mixture at small budgets, and the search must be able to say so.
    "candidate_sizes": [0, 1, 2, 4, 8, 16],
    "hidden_units": [64],
    "width_selection": "frontier",
    "selection_loss": "recalibrated",
    "selection_tolerance": 3e-4,
    "seed": 0,
}
"""What the built-in tasks (``synthetic``, ``movielens``, ``criteo_synth``, ``ctr``) share:
how long they train, how the search trains its supernet and picks a point."""


def check_slot_dims(
    slot_dims: Mapping[Any, Any],
    slots: Iterable[int],
    candidates: Iterable[int],
    source: str,
    buckets: Mapping[int, int] | None = None,
) -> dict[int, Any]:
    """Checks fixed widths against a model: every slot once, each size a candidate.

    Args:
        slot_dims: ``{slot_id: size}`` (keys may be strings of digits, as in JSON); a
            slot split into frequency buckets may have a list, one size per bucket.
        slots: the model's slot ids.
        candidates: the model's candidate sizes.
        source: where the widths come from (a file name), for the messages.
        buckets: ``{slot_id: number of buckets}`` of the model's bucketed slots; a
            bucketed slot's size comes back as a list (an integer given: every bucket
            that size) and an unbucketed slot must have an integer. None: lists of
            candidates are accepted for any slot, their length unchecked.

    Returns:
        ``{slot_id: size}`` (or ``{slot_id: [size, ...]}``) with int keys.

    Raises:
        ValueError: a slot of the model missing, a slot the model does not have, a
            size that is not a candidate, or a list of sizes for a slot without buckets
            or of another length than its buckets; the message names the slot.

    Example:
        >>> check_slot_dims({"3": 8}, [3], [0, 4, 8], "dims.json")
        {3: 8}
    """
    slots = sorted(int(s) for s in slots)
    candidates = sorted(int(c) for c in candidates)
    dims: dict[int, Any] = {}  # the sizes as given, checked below
    for key, size in slot_dims.items():
        try:
            slot = int(key)
        except (TypeError, ValueError):
            raise ValueError(
                f"{source}: slot ids must be integers. Received: slot={key!r}"
            ) from None
        dims[slot] = size
    unknown = sorted(set(dims) - set(slots))
    if unknown:
        raise ValueError(
            f"{source}: every slot must be one of the model's slots {slots}. "
            f"Received: unknown slot {unknown[0]}"
        )
    missing = sorted(set(slots) - set(dims))
    if missing:
        raise ValueError(
            f"{source}: every slot of the model must have a size. Received: slot {missing[0]} "
            "missing"
        )

    def is_candidate(size: Any) -> bool:
        return not isinstance(size, bool) and isinstance(size, int) and size in candidates

    for slot, size in dims.items():
        num_buckets = None if buckets is None else buckets.get(slot)
        if isinstance(size, list | tuple) and (buckets is None or num_buckets is not None):
            if not size or not all(is_candidate(s) for s in size):
                raise ValueError(
                    f"{source}: the bucket sizes of slot {slot} must each be one of the "
                    f"candidate sizes {candidates}. Received: size={size!r}"
                )
            if num_buckets is not None and len(size) != num_buckets:
                raise ValueError(
                    f"{source}: slot {slot} must have one size per frequency bucket "
                    f"({num_buckets}). Received: size={list(size)!r}"
                )
            dims[slot] = list(size)
            continue
        if isinstance(size, list | tuple):
            raise ValueError(
                f"{source}: slot {slot} has one table (it is not in `bucket_slots`), so its "
                f"size must be one integer. Received: size={size!r}"
            )
        if not is_candidate(size):
            raise ValueError(
                f"{source}: the size of slot {slot} must be one of the candidate sizes "
                f"{candidates}. Received: size={size!r}"
            )
        if num_buckets is not None:
            dims[slot] = [size] * num_buckets
    return dict(sorted(dims.items()))


def embedding_parameters(model: Model) -> int:
    """The number of embedding-table parameters of a model (rows x dim over all tables).

    Args:
        model: a built model.

    Example:
        >>> embedding_parameters(model)  # doctest: +SKIP
        14000
    """
    total = 0
    for feature_slice in model.env.feature_slices():
        total += model.table_rows(feature_slice.slot_id, feature_slice.index) * feature_slice.dim
    return total


def table_optimizer(name: str, learning_rate: float) -> Any:
    """The ``tf.tpu.experimental.embedding`` optimizer ``name`` (a table's updates).

    ``adam`` is lazy Adam (the batch's rows only, no bias correction); ``adagrad_rowwise``
    is FBGEMM's row-wise Adagrad (:class:`nwsrec.features.AdagradRowwise`, one
    accumulator per row); the others have TensorFlow's defaults (Adagrad's and FTRL's
    accumulators start at 0.1).

    Example:
        >>> type(table_optimizer("adam", 1e-3)).__name__
        'Adam'
    """
    from nwsrec.features.optimizers import AdagradRowwise

    tpu = tf.tpu.experimental.embedding
    classes = {
        "adagrad": tpu.Adagrad,
        "adagrad_rowwise": AdagradRowwise,
        "adam": tpu.Adam,
        "ftrl": tpu.FTRL,
        "sgd": tpu.SGD,
    }
    return classes[name](learning_rate=learning_rate)


class WidthSearchModel(Model):
    """A DNN over (masked) slot embeddings plus per-slot bias; see the module docstring.

    Args:
        params: the model's params (:meth:`default_params` with overrides).

    Example:
        >>> params = WidthSearchModel.resolve_params(
        ...     {**WidthSearchModel.default_params(), "data_dir": "data", "search": True})
        >>> model = WidthSearchModel(params)  # doctest: +SKIP
    """

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        """Model defaults, trainer defaults, and :data:`SEARCH_MODEL_DEFAULTS`."""
        return {
            **super().default_params(),
            **TrainerConfig.defaults(),
            **SEARCH_MODEL_DEFAULTS,
        }

    @classmethod
    def resolve_params(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        """Fills the data paths that are None from ``data_dir``.

        Args:
            params: the params.

        Returns:
            A copy with ``train_file_pattern``, ``eval_file_pattern`` and
            ``vocab_file_path`` set.
        """
        out = dict(params)
        data_dir = out.get("data_dir")
        if data_dir:
            defaults = {
                "train_file_pattern": "train-*",
                "eval_file_pattern": "test-*",
                "vocab_file_path": "vocab.tsv",
            }
            for key, name in defaults.items():
                if not out.get(key):
                    out[key] = os.path.join(os.fspath(data_dir), name)
        return out

    def __init__(self, params: Mapping[str, Any]) -> None:
        params = dict(params)
        self.config = SearchConfig.from_params(params)
        candidates = list(self.config.candidate_sizes)
        self._candidates = candidates
        self._search = self.config.search
        vocab_path = params.get("vocab_file_path")
        if not vocab_path or not os.path.exists(vocab_path):
            raise FileNotFoundError(
                f"`vocab_file_path` must name an existing vocab file. Received: "
                f"vocab_file_path={vocab_path!r} (generate or fetch the data first, see "
                "`nwsrec datasets --help`)"
            )
        vocab = read_vocab_file(vocab_path, params.get("vocab_size_per_slot"))
        slots = self.config.slots
        self._slot_ids = sorted(int(s) for s in (slots if slots is not None else vocab))
        self._id_buckets = self._init_buckets(params, vocab)
        num_buckets = {s: self._id_buckets.num_buckets for s in self._id_buckets_slots()}
        dims = self.config.slot_dims
        self._dims: dict[int, int | list[int]]
        if self._search or dims is None:
            self._dims = {
                s: [max(candidates)] * num_buckets[s] if s in num_buckets else max(candidates)
                for s in self._slot_ids
            }
        else:
            self._dims = check_slot_dims(
                dims, self._slot_ids, candidates, "`slot_dims`", buckets=num_buckets
            )
        self._init_bucket_slices()
        super().__init__(params)

    # ------------------------------------------------------------ frequency buckets

    def _init_buckets(self, params: Mapping[str, Any], vocab: Mapping[int, int]) -> Any:
        """The :class:`~nwsrec.data.buckets.BucketMap` of ``bucket_slots`` (None: off)."""
        self._bucket_slices: dict[tuple[int, int], int] = {}
        self._remaps: dict[tuple[int, int], _buckets.BucketRemap] = {}
        fractions = self.config.id_buckets
        if fractions is None:
            return None
        chosen = self.config.bucket_slots
        slots = self._slot_ids if chosen is None else sorted(int(s) for s in chosen)
        unknown = sorted(set(slots) - set(self._slot_ids))
        if unknown:
            raise ValueError(
                f"`bucket_slots` must be slots of the model {self._slot_ids}. "
                f"Received: bucket_slots={chosen!r} (slot {unknown[0]})"
            )
        pattern = params.get("train_file_pattern")
        path = self.config.id_counts_file
        data_dir = self.config.data_dir
        vocab_of = {s: int(vocab[s]) for s in slots}
        if path is None and data_dir and os.path.exists(os.path.join(data_dir, ID_COUNTS_FILE)):
            counts = read_id_counts(data_dir)  # recorded by `nwsrec convert` / the generators
            missing = [s for s in slots if s not in counts or len(counts[s]) != vocab_of[s]]
            if not missing:
                return frequency_buckets({s: counts[s] for s in slots}, fractions)
            logger.warning(
                "%s: no counts of slot %d at its vocab size %d; counting the ids again",
                os.path.join(data_dir, ID_COUNTS_FILE),
                missing[0],
                vocab_of[missing[0]],
            )
        return load_or_count_buckets(path, pattern or "", vocab_of, fractions)

    def _id_buckets_slots(self) -> list[int]:
        return [] if self._id_buckets is None else self._id_buckets.slots

    def _init_bucket_slices(self) -> None:
        """Slice index -> bucket of every bucketed slot (slice 0 is the bias)."""
        buckets = self._id_buckets
        if buckets is None:
            return
        for slot in buckets.slots:
            sizes = self._bucket_sizes(slot)
            index = 1
            for bucket, size in enumerate(sizes):
                if self._search or size > 0:
                    self._bucket_slices[(slot, index)] = bucket
                    self._remaps[(slot, index)] = _buckets.BucketRemap(
                        slot, bucket, buckets.bucket_of(slot), buckets.row_of(slot)
                    )
                    index += 1

    @property
    def id_buckets(self) -> Any:
        """The :class:`~nwsrec.data.buckets.BucketMap` of the bucketed slots, or None."""
        return self._id_buckets

    def table_rows(self, slot_id: int, index: int) -> int:
        """A bucket's table has the bucket's rows; every other table the slot's vocab."""
        bucket = self._bucket_slices.get((slot_id, index))
        if bucket is None:
            return super().table_rows(slot_id, index)
        return int(self._id_buckets.rows(slot_id)[bucket])

    def table_bucket(self, slot_id: int, index: int) -> int | None:
        """The bucket a table holds (None: the bias and unbucketed slots)."""
        return self._bucket_slices.get((slot_id, index))

    def slice_ids(self, feature_slice: Any, ids: Any) -> Any:
        """A bucket's slice reads the rows of the batch's ids in that bucket."""
        remap = self._remaps.get((feature_slice.slot_id, feature_slice.index))
        return ids if remap is None else remap(ids)

    def unit_rows(self) -> dict[str, int]:
        """``{unit: table rows}`` of every selection unit (``"<slot>"`` or ``"<slot>:<b>"``).

        An unbucketed slot's unit has the slot's vocab size; a bucket's, the bucket's
        rows (see :mod:`nwsrec.search.buckets`). Every slot of the model is listed.
        """
        out: dict[str, int] = {}
        vocab = self.vocab_size_dict
        for slot in self._slot_ids:
            if self._id_buckets is not None and slot in self._id_buckets.slots_:
                for bucket, rows in enumerate(self._id_buckets.rows(slot)):
                    out[_buckets.unit_name(slot, bucket)] = int(rows)
            else:
                out[_buckets.unit_name(slot)] = int(vocab[slot])
        return out

    def unit_slot(self, unit: str) -> int:
        """The slot of a selection unit.

        Raises:
            LookupError: a unit the model does not have.
        """
        rows = self.unit_rows()
        if str(unit) not in rows:
            raise LookupError(
                f"`unit` must be one of the model's units {sorted(rows)[:20]}. "
                f"Received: unit={unit!r}"
            )
        return _buckets.parse_unit(str(unit))[0]

    def slot_bias_rows(self) -> dict[int, int]:
        """``{slot: bias rows}``: every slot's bias table has one row per id of its vocab."""
        return {slot: int(self.vocab_size_dict[slot]) for slot in self._slot_ids}

    @property
    def slot_ids(self) -> list[int]:
        """Every slot of the model (also those dropped at width 0)."""
        return list(self._slot_ids)

    @property
    def candidate_sizes(self) -> list[int]:
        """The candidate sizes of every slot."""
        return list(self._candidates)

    @property
    def slot_dims(self) -> dict[int, Any]:
        """The fixed width of every slot (the largest candidate in search mode).

        A bucketed slot has a list, one width per bucket.
        """
        return {s: list(d) if isinstance(d, list) else d for s, d in self._dims.items()}

    def bytes_pricer(self) -> Any:
        """``sizes -> bytes``: the tables' padded bytes at ``{unit: size}``, as the memory
        plan counts them (dims padded to multiples of 8, optimizer slots included); a
        slot with every unit at 0 has no tables. Uses one plan of this model for the
        optimizers' copy counts."""
        from nwsrec.features.memory_plan import TableMemoryRow
        from nwsrec.search.cost import unit_slot_name

        plan = self.table_memory_plan()
        bias_bytes: dict[str, int] = {}
        vector_copies: dict[str, tuple[int, int]] = {}
        for row in plan.tables:
            if row.name.endswith("_0"):
                bias_bytes[str(row.slot_id)] = row.padded_bytes
            else:
                vector_copies[str(row.slot_id)] = (row.copies, row.row_state)
        unit_rows = self.unit_rows()

        def price(sizes: Mapping[str, int]) -> int:
            total, kept = 0, set()
            for unit, size in sizes.items():
                if size <= 0:
                    continue
                slot = unit_slot_name(unit)
                kept.add(slot)
                copies, row_state = vector_copies[slot]
                row = TableMemoryRow(
                    f"table_{slot}_1",
                    int(slot),
                    unit_rows[unit],
                    int(size),
                    copies,
                    row_state=row_state,
                )
                total += row.padded_bytes
            return total + sum(bias_bytes.get(slot, 0) for slot in kept)

        return price

    def search_block_width(self) -> int:
        """A slot's vector width in search mode: the largest candidate (``nested``) or
        the sum of the candidates (``separate``)."""
        if self.config.supernet_layout == "nested":
            return max(self._candidates)
        return sum(self._candidates)

    def _slot(self, slot_id: int) -> FeatureSlot:
        p = self.config
        scale = p.vec_init_scale
        return FeatureSlot(
            self.env,
            slot_id,
            has_bias=True,
            bias_optimizer=table_optimizer(p.bias_optimizer, p.bias_learning_rate),
            bias_initializer=keras.initializers.Zeros(),
            default_vec_optimizer=table_optimizer(p.vec_optimizer, p.vec_learning_rate),
            default_vec_initializer=keras.initializers.RandomUniform(-scale, scale),
        )

    def dnn_inputs(self, x: tf.Tensor) -> tf.Tensor:
        """The DNN's input from the (masked) embeddings ``x`` [B, width]; a subclass adds
        features (the ``ctr`` model's dense floats)."""
        return x

    def logits_fn(self) -> tf.Tensor:
        """Declares the slots, applies the NWS layer in search mode, returns logits [B]."""
        p = self.config
        vectors: list[tf.Tensor] = []
        biases: list[tf.Tensor] = []
        names: list[str] = []
        unit_slots: list[int] = []
        for slot_id in self._slot_ids:
            size = self._dims[slot_id]
            if isinstance(size, list):
                self._bucketed_vectors(slot_id, vectors, biases, names, unit_slots)
                continue
            width = self.search_block_width() if self._search else size
            if width == 0:
                continue
            column = FeatureColumnV1(self._slot(slot_id), f"slot_{slot_id}_0")
            biases.append(column.get_bias())
            vectors.append(column.add_vector(width))
            names.append(str(slot_id))
            unit_slots.append(slot_id)
        if not vectors:
            raise ValueError(
                "`slot_dims` must keep at least one slot (size > 0). Received: every size 0"
            )
        x = self.concat_pooled(vectors)
        if self._search:
            nws = self.keras_layer(
                "nws",
                lambda: MixedEmbedOpComb(
                    names,
                    [list(self._candidates)] * len(names),
                    warmup_steps=p.warmup_steps,
                    pretraining_steps=p.pretraining_steps,
                    seed=p.nws_seed,
                    mode=p.nws_mode,
                    layout=p.supernet_layout,
                    draw_largest=p.draw_largest,
                    name="nws",
                ),
            )
            full, full_biases = self._at_full_width(x, len(names)), tf.concat(biases, axis=1)
            x, kept = nws(x, training=self.training, return_kept=True)
            # A slot at size 0 goes whole, bias included, as in a retrain at width 0 (a
            # bucketed slot keeps its bias while any of its buckets is kept). In search
            # mode every slot adds one bias, in slot order: one [B, S] product.
            position = {slot: i for i, slot in enumerate(self._slot_ids)}
            if len(set(unit_slots)) < len(unit_slots):
                of_slot = [position[slot] for slot in unit_slots]
                kept = tf.math.unsorted_segment_max(kept, of_slot, len(self._slot_ids))
            biases = [full_biases * kept[None, :]]
            if len(set(unit_slots)) < len(unit_slots):  # sum each slot's buckets
                block = self.search_block_width()
                index, width = _buckets.fold_index([block] * len(names), unit_slots)
                x = _buckets.fold_units(x, index, width)
                full = _buckets.fold_units(full, index, width)

        def dnn() -> keras.Sequential:
            layers = [keras.layers.Dense(u, activation="relu") for u in p.hidden_units]
            return keras.Sequential([*layers, keras.layers.Dense(1)], name="dnn")

        network = self.keras_layer("dnn", dnn)
        logits = network(self.dnn_inputs(x))[:, 0] + tf.reduce_sum(tf.add_n(biases), axis=1)
        if self._search and p.sandwich and self.training:
            # The step's loss becomes the mean of the drawn widths' and full width's:
            # the task loss (of the returned logits) plus half their difference.
            full_logits = network(self.dnn_inputs(full))[:, 0]
            full_logits += tf.reduce_sum(full_biases, axis=1)
            self.add_loss(0.5 * (self._mean_loss(full_logits) - self._mean_loss(logits)))
        return logits

    def _at_full_width(self, x: tf.Tensor, units: int) -> tf.Tensor:
        """The NWS layer's input as every unit at its largest size: the nested blocks as
        they are, or only the largest candidate's segment of each separate block."""
        if self.config.supernet_layout == "nested":
            return x
        sizes = self._candidates
        largest = sizes.index(max(sizes))
        block = np.concatenate([np.full(c, float(j == largest)) for j, c in enumerate(sizes)])
        return x * np.tile(block, units).astype(np.float32)[None, :]

    def _mean_loss(self, logits: tf.Tensor) -> tf.Tensor:
        """The batch's mean log loss at ``logits``."""
        features = self.features or {}
        labels = tf.cast(tf.reshape(features["label"], [-1]), logits.dtype)
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels, logits))

    def _bucket_sizes(self, slot_id: int) -> list[int]:
        """The sizes of a bucketed slot, one per frequency bucket."""
        sizes = self._dims[slot_id]
        if not isinstance(sizes, list):  # every bucketed slot gets a list in __init__
            raise ValueError(
                f"slot {slot_id} is split into frequency buckets, so it must have a list of "
                f"sizes. Received: size={sizes!r}"
            )
        return sizes

    def _bucketed_vectors(
        self,
        slot_id: int,
        vectors: list[tf.Tensor],
        biases: list[tf.Tensor],
        names: list[str],
        unit_slots: list[int],
    ) -> None:
        """Declares a bucketed slot: its bias, one vector slice per bucket.

        Search: each bucket's block is a unit of the NWS layer (summed after it). Fixed:
        the slot's vector is ``sum_b pad(e_b, max_b d_b)``; a slot with every bucket at 0
        is dropped with its bias.
        """
        sizes = self._bucket_sizes(slot_id)
        if not self._search and max(sizes) == 0:
            return
        column = FeatureColumnV1(self._slot(slot_id), f"slot_{slot_id}_0")
        biases.append(column.get_bias())
        if self._search:
            block = self.search_block_width()
            for bucket in range(len(sizes)):
                vectors.append(column.add_vector(block))
                names.append(_buckets.unit_name(slot_id, bucket))
                unit_slots.append(slot_id)
            return
        width = max(sizes)
        parts = [
            tf.pad(column.add_vector(size), [[0, 0], [0, width - size]])
            for size in sizes
            if size > 0
        ]
        vectors.append(parts[0] if len(parts) == 1 else tf.add_n(parts))
        names.append(str(slot_id))
        unit_slots.append(slot_id)
