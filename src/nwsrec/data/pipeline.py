"""The TFRecord input pipeline of a model: sharded, resumable, post-processed.

``make_input_fn(pattern, feature_map=..., slot_to_dims=..., params=...)`` returns an
:class:`InputFn`, a callable ``input_fn(arg) -> tf.data.Dataset`` where ``arg`` is a
``tf.distribute.InputContext`` (what ``strategy.distribute_datasets_from_function``
passes), the Monolith/TPUEstimator params mapping (``batch_size``, the knobs below and
``context`` with ``current_input_fn_deployment()``), or ``None`` (one pipeline). For input
pipeline ``p`` of ``n`` it builds::

    sorted files matching the pattern
      -> files[p::n]                            (its shard of *files*)
      -> skip shard_skip_file_number[p] files   (resuming; first pass only)
      [shuffle: the shard's files in a seeded order, new each pass]
      -> interleave cycle_length files          (TFRecordDataset, compression per file;
                                                 cycle_length 1: one TFRecordDataset)
      [shuffle: each pass cut into blocks of shuffle_block records; the passes' blocks
       as one stream, permuted window by window (shuffle_buffer records) in a seeded
       stateless order, cut into batches: nwsrec.data.shuffle]
      -> batch(per-replica batch, drop_remainder=True)
         [with a ``RecordSplit``: batch, keep one part of each batch's records (by a
          hash of the record), re-batch]
      -> map(parse_example(feature_map) + post_process_example)   (one map, on the batch)
      -> repeat (each pass drops its own remainder; shuffled: one endless stream, each
         pass dropping only its last partial block)
      -> prefetch

``split=RecordSplit(every=k, held_out=...)`` splits the records of the files in two: a
record is *held out* when the fingerprint of its serialized bytes falls in bucket 0 of
``k`` (about one record in ``k``). The split depends on nothing but the record, so it is
the same on every pass, pipeline, shard and resumed run: the training part never sees a
held-out record. The width search uses it to pick each slot's width on records it was
not trained on (``Trainer`` param ``holdout_every``, ``nwsrec.search.select``).

Post-processing works on the parsed batch (``SparseTensor`` ids), not per example: with a
fixed ``vocab_size_per_slot``, ids of ``slot_{s}_0`` are taken modulo it, and
``slot_{s}_0`` is copied to ``slot_{s}_{i}`` for every further slice ``i`` of the slot.

Knobs (from the model's params; a params mapping passed as ``arg`` overrides them):

============================  ==========  ===============================================
key                           default     meaning
============================  ==========  ===============================================
``batch_size``                (required)  global batch (``InputContext``) or the batch
                                          of this invocation (params mapping)
``cycle_length``              1           files read at once (interleave)
``num_parallel_calls``        None        interleave threads (None serial, -1 AUTOTUNE)
``parse_num_parallel_calls``  None        parse-map threads (None serial, -1 AUTOTUNE)
``deterministic``             True        keep the order when a stage is parallel
``compression_type``          "auto"      "auto" (gzip found by its magic bytes), "",
                                          "GZIP" or "ZLIB"
``shard_skip_file_number``    None        files to skip per pipeline: a list indexed by
                                          pipeline id or a ``{pipeline_id: n}`` mapping
``vocab_size_per_slot``       None        fixed vocab size: ids are taken modulo it
``skip_corrupt_files``        False       pre-scan the shard; log, count and leave out
                                          each file with a corrupt record or non-Example
``check_files``               False       pre-scan the shard fully (records, features)
                                          and raise, naming the file, before reading
``shuffle_buffer``            10000       shuffled input: records per permuted window
                                          (0 or 1: no record shuffle)
``shuffle_files``             True        shuffled input: files in a seeded order
``shuffle_block``             32          shuffled input: consecutive records kept
                                          together (1: single records)
``shuffle_seed``              None        seed of the order (None: ``seed``, else 0)
``missing_features``          "error"     a record without a slot's feature: "error"
                                          (names file, record, feature) or "empty"
                                          (read as an empty id list)
``one_id_parse``              True        parse a slot that ``one_id_slots.json`` records
                                          as one id in every record of every file as one
                                          fixed id (the same SparseTensor, less work;
                                          :mod:`nwsrec.data.one_id`)
============================  ==========  ===============================================

Order. The training input (``shuffle=True``: what ``Model.create_input_fn`` asks for with
``repeat=True``) reads in a
seeded order: each pass reads the files in an order drawn from (seed, pass number), and
the record stream of all passes is permuted window by window (``shuffle_buffer``
records, in blocks of ``shuffle_block`` consecutive records, order drawn from (seed,
window number); :mod:`nwsrec.data.shuffle`). Same seed, same batches; the
``tf.data`` iterator checkpoint (pass number, position, the window being filled)
resumes exactly. Evaluation and held-out reads
(``repeat=False``) keep the files' order. ``RecordSplit`` hashes each record, so the
split is the same whatever the order.

The defaults are measured (``bench/input_pipeline.py``, 200k examples of 26 slots, 8
files, 2 CPUs): parsing is the bottleneck; a parallel interleave halved throughput, a
parallel parse map and a longer serial cycle did not raise it, and parsing per example
instead of per batch was 50x slower. So the pipeline is serial by default, parses and
post-processes each batch in one map, and with ``cycle_length=1`` reads the shard with
one ``TFRecordDataset`` (~0.5 us less per record than ``interleave``).

Errors. Errors found when ``input_fn`` is called name the pattern and the file: no file
matches, fewer files than pipelines, a skip count past the end of a shard, a file found
bad by a pre-scan. Errors raised *inside* the running ``tf.data`` iterator (a corrupt
record, a record that is not a ``tf.train.Example``, a missing or mistyped feature, a
record without a slot's feature) come from TensorFlow without a file name;
:meth:`InputFn.diagnose` turns such an error into a :class:`DataFileError` naming the
file, record and feature (it re-reads the files this input function read, only on the
error path). The dataset an ``InputFn`` returns does so itself when iterated eagerly
(``for batch in input_fn(context)``: the same dataset, its iterator catches the error);
a loop in a ``tf.function`` or through a strategy is wrapped in
:meth:`InputFn.naming_errors`::

    input_fn = model.create_input_fn(pattern)
    with input_fn.naming_errors():
        for batch in strategy.distribute_datasets_from_function(input_fn): ...

A record without the feature of a slot is an error by default (``missing_features``):
a batch where some record has no id in some slot reads the records' feature names
(``nwsrec.data.scan.present_features``) to tell a missing feature from an empty list.

Example:
    >>> import tempfile
    >>> import tensorflow as tf
    >>> from nwsrec.data import write_examples
    >>> out = tempfile.mkdtemp()
    >>> _ = write_examples([{"slot_1_0": [i, i + 1], "label": 1.0} for i in range(8)], out,
    ...                    num_shards=2)
    >>> input_fn = make_input_fn(
    ...     f"{out}/*.tfrecord",
    ...     feature_map={"slot_1_0": tf.io.VarLenFeature(tf.int64),
    ...                  "label": tf.io.FixedLenFeature([], tf.float32)},
    ...     slot_to_dims={1: [1, 4]}, params={"batch_size": 4, "vocab_size_per_slot": 5},
    ...     repeat=False)
    >>> batch = next(iter(input_fn(tf.distribute.InputContext())))
    >>> sorted(batch)
    ['label', 'slot_1_0', 'slot_1_1']
    >>> tf.sparse.to_dense(batch["slot_1_1"])[0].numpy().tolist()
    [0, 1]
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import tensorflow as tf
from tensorflow.python.data.ops import dataset_ops, iterator_ops

from nwsrec.checks import is_int
from nwsrec.config import PipelineConfig, RunConfig
from nwsrec.data.files import detect_all, list_files, shard_files
from nwsrec.data.one_id import ONE_ID_FILE, one_id_features, one_id_indices, one_id_sparse
from nwsrec.data.scan import (
    DataFileError,
    FileProblem,
    file_key,
    present_features,
    scan_file,
    scan_files,
)
from nwsrec.data.shuffle import BlockShuffle, block_size

__all__ = [
    "DEFAULT_PARAMS",
    "InputFn",
    "RecordSplit",
    "make_input_fn",
    "post_process_example",
]

logger = logging.getLogger(__name__)
AUTOTUNE = tf.data.AUTOTUNE

DEFAULT_PARAMS: Mapping[str, Any] = PipelineConfig.defaults()
"""Knob defaults, measured by ``bench/input_pipeline.py`` (see the module docstring)."""


@dataclasses.dataclass(frozen=True)
class RecordSplit:
    """One part of a two-way split of the records, by a hash of each serialized record.

    Args:
        every: about one record in ``every`` is held out (an integer >= 2).
        held_out: the part to read: the held-out records (True) or the rest (False).

    Example:
        >>> RecordSplit(every=10, held_out=True)
        RecordSplit(every=10, held_out=True)
    """

    every: int
    held_out: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 2:
            raise ValueError(
                f"`every` must be an integer >= 2 (one record in `every` is held out). "
                f"Received: every={self.every!r}"
            )
        if not isinstance(self.held_out, bool):
            raise ValueError(f"`held_out` must be a bool. Received: held_out={self.held_out!r}")

    def keep(self, records: tf.Tensor) -> tf.Tensor:
        """Whether each serialized record (a string tensor) belongs to this part."""
        held = tf.equal(tf.strings.to_hash_bucket_fast(records, self.every), 0)
        return held if self.held_out else tf.logical_not(held)


# --------------------------------------------------------------------------- post-processing


def _modulo(values: tf.Tensor, size: int) -> tf.Tensor:
    """``floormod(values, size)``; for a power of two, ``values & (size - 1)`` (equal also for
    negative ids in two's complement, at a fraction of the cost of a 64-bit division)."""
    if size & (size - 1) == 0:
        return tf.bitwise.bitwise_and(values, tf.constant(size - 1, values.dtype))
    return tf.math.floormod(values, tf.constant(size, values.dtype))


def post_process_example(
    features: Mapping[str, Any],
    slot_to_dims: Mapping[int, Sequence[int]],
    vocab_size_per_slot: int | None = None,
) -> dict[str, Any]:
    """The seed's ``_post_process_example``, on a parsed batch (or one parsed example).

    For each slot ``s`` of ``slot_to_dims``: with a fixed ``vocab_size_per_slot`` the ids
    of ``slot_{s}_0`` are taken modulo it (``floormod``: never negative; a power of two
    uses a bitwise and, the same result without a 64-bit division per id), and
    ``slot_{s}_0`` is copied to ``slot_{s}_{i}`` for every further slice ``i`` (the same
    tensor: no copy of the data). Other features pass through unchanged.

    Args:
        features: parsed features; ``slot_{s}_0`` are ``tf.SparseTensor`` of int64 ids.
        slot_to_dims: ``{slot_id: [dim of slice 0, dim of slice 1, ...]}``.
        vocab_size_per_slot: ``None`` or the fixed vocab size.

    Returns:
        A new dict with the processed and copied features.

    Raises:
        LookupError: if ``slot_{s}_0`` of a slot is missing from ``features``.

    Example:
        >>> ids = tf.sparse.from_dense(tf.constant([[7, 12]], tf.int64))
        >>> out = post_process_example({"slot_2_0": ids}, {2: [1, 8]}, vocab_size_per_slot=5)
        >>> tf.sparse.to_dense(out["slot_2_1"]).numpy().tolist()
        [[2, 2]]
    """
    out = dict(features)
    for slot_id, dims in slot_to_dims.items():
        name = f"slot_{slot_id}_0"
        if name not in out:
            raise LookupError(
                f"`features` must contain {name!r} for slot {slot_id}. "
                f"Received: features with keys {sorted(out)}"
            )
        ids = out[name]
        if vocab_size_per_slot is not None:
            ids = tf.SparseTensor(
                ids.indices, _modulo(ids.values, vocab_size_per_slot), ids.dense_shape
            )
            out[name] = ids
        for slice_index in range(1, len(dims)):
            out[f"slot_{slot_id}_{slice_index}"] = ids
    return out


def _require_features(
    serialized: tf.Tensor, features: dict[str, Any], names: Sequence[str]
) -> dict[str, Any]:
    """``features``, failing the batch when a record lacks one of the ``names`` features.

    A missing ``VarLenFeature`` parses as an empty id list. Only a batch with an empty id
    list in some slot reads the records' feature names (:func:`present_features`); the
    others pay one ``bincount`` over the (slot, record) pairs of their ids. The error (an
    ``InvalidArgumentError``) is named by file and record by :meth:`InputFn.diagnose`.
    """
    rows = tf.shape(serialized, out_type=tf.int64)[0]
    # (slot, record) of every id, ascending (parse_example sorts each slot's ids by record).
    pairs = tf.concat([features[n].indices[:, 0] + i * rows for i, n in enumerate(names)], 0)
    distinct = tf.math.count_nonzero(pairs[1:] != pairs[:-1]) + tf.minimum(
        tf.size(pairs, tf.int64), 1
    )
    complete = tf.cond(
        distinct < rows * len(names),
        lambda: tf.reduce_all(present_features(serialized, names)),
        lambda: tf.constant(True),
    )
    check = tf.debugging.Assert(
        complete, ["a record lacks a slot's feature (missing_features='error')"]
    )
    out = dict(features)
    with tf.control_dependencies([check]):  # one output depends on it: the check runs
        ids = out[names[0]]
        out[names[0]] = tf.SparseTensor(ids.indices, tf.identity(ids.values), ids.dense_shape)
    return out


def _one_id_hint(problem: FileProblem, one_id: frozenset[str]) -> FileProblem:
    """``problem``, saying why a slot parsed as one id must hold one (when it is the one)."""
    for name in sorted(one_id):
        if f"Key: {name}," in problem.detail or f"Feature: {name} " in problem.detail:
            return dataclasses.replace(
                problem,
                detail=f"{problem.detail} ({ONE_ID_FILE} beside the file records one id of "
                f"{name} in every record: the file changed since it was written? Set "
                "one_id_parse=False to parse it as a list)",
            )
    return problem


# --------------------------------------------------------------------------- knobs


@dataclasses.dataclass(frozen=True)
class _Knobs:
    batch_size: int
    pipeline_id: int
    num_pipelines: int
    cycle_length: int
    num_parallel_calls: int | None
    parse_num_parallel_calls: int | None
    deterministic: bool
    compression_type: str
    skip: int
    vocab_size_per_slot: int | None
    skip_corrupt_files: bool
    check_files: bool
    shuffle_buffer: int
    shuffle_files: bool
    shuffle_block: int
    shuffle_seed: int
    missing_features: str
    one_id_parse: bool
    # Slot features parsed as one fixed id (set per dataset from the files' record).
    one_id: frozenset[str] = frozenset()


def _skip_count(value: Any, pipeline_id: int, num_pipelines: int) -> int:
    if value is None:
        return 0
    if isinstance(value, Mapping):
        skip = value.get(pipeline_id, 0)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != num_pipelines:
            raise ValueError(
                f"`shard_skip_file_number` must have one entry per input pipeline "
                f"({num_pipelines}). Received: shard_skip_file_number={list(value)!r}"
            )
        skip = value[pipeline_id]
    else:
        raise ValueError(
            "`shard_skip_file_number` must be None, a list indexed by pipeline id or a "
            f"{{pipeline_id: count}} mapping. Received: shard_skip_file_number={value!r}"
        )
    if not is_int(skip) or skip < 0:
        raise ValueError(
            f"`shard_skip_file_number[{pipeline_id}]` must be an integer >= 0. "
            f"Received: shard_skip_file_number[{pipeline_id}]={skip!r}"
        )
    return skip


def _deployment(arg: Any) -> tuple[int, int, int | None, Mapping[str, Any]]:
    """(pipeline_id, num_pipelines, replicas or None, knob overrides) of an input_fn arg."""
    if arg is None:
        return 0, 1, 1, {}
    if isinstance(arg, tf.distribute.InputContext):
        return arg.input_pipeline_id, arg.num_input_pipelines, arg.num_replicas_in_sync, {}
    if isinstance(arg, Mapping):
        context = arg.get("context")
        if context is None:
            return 0, 1, None, arg
        deployment = context.current_input_fn_deployment()
        if not isinstance(deployment, Sequence) or len(deployment) < 3:
            raise ValueError(
                "`params['context'].current_input_fn_deployment()` must return (host, "
                f"invocation_index, num_invocations, ...). Received: {deployment!r}"
            )
        pipeline_id, num_pipelines = deployment[1], deployment[2]
        if not (is_int(pipeline_id) and is_int(num_pipelines)) or not (
            0 <= pipeline_id < num_pipelines
        ):
            raise ValueError(
                "`current_input_fn_deployment()` must give 0 <= invocation_index < "
                f"num_invocations. Received: {deployment!r}"
            )
        return pipeline_id, num_pipelines, None, arg
    raise ValueError(
        "`input_fn` takes a tf.distribute.InputContext, a params mapping or None. "
        f"Received: {type(arg).__name__}"
    )


@dataclasses.dataclass(frozen=True)
class _Settings:
    """An input function's params, read by type and validated once (at construction):
    the pipeline's knobs, the batch (None: not set) and the trainer's ``seed``."""

    pipeline: PipelineConfig
    batch_size: Any
    seed: Any

    @classmethod
    def of(cls, params: Mapping[str, Any]) -> _Settings:
        if isinstance(params, RunConfig):
            given = params.given
            return cls(
                params.pipeline,
                params.model.batch_size if "batch_size" in given else None,
                params.trainer.seed,
            )
        return cls(PipelineConfig.from_params(params), params.get("batch_size"), params.get("seed"))


def _resolve_knobs(settings: _Settings, arg: Any, *, partial: bool = False) -> _Knobs:
    """The knobs of one call: ``settings``, with a params mapping given as ``arg``
    (the Monolith/TPUEstimator way) overriding them."""
    pipeline_id, num_pipelines, replicas, overrides = _deployment(arg)
    if overrides:
        settings = _Settings(
            PipelineConfig.from_params({**settings.pipeline.to_params(), **overrides}),
            overrides.get("batch_size", settings.batch_size),
            overrides.get("seed", settings.seed),
        )
    config = settings.pipeline
    batch = settings.batch_size
    if batch is None and partial:
        batch = 1
    if not is_int(batch) or batch < 1:
        raise ValueError(f"`batch_size` must be an integer >= 1. Received: batch_size={batch!r}")
    if replicas is not None:  # a global batch, split over the replicas
        if batch % replicas:
            raise ValueError(
                f"`batch_size` (the global batch) must be divisible by the {replicas} "
                f"replicas in sync. Received: batch_size={batch}"
            )
        batch //= replicas
    return _Knobs(
        batch_size=batch,
        pipeline_id=pipeline_id,
        num_pipelines=num_pipelines,
        cycle_length=config.cycle_length,
        num_parallel_calls=config.num_parallel_calls,
        parse_num_parallel_calls=config.parse_num_parallel_calls,
        deterministic=config.deterministic,
        compression_type=config.compression_type or "",
        skip=0
        if partial
        else _skip_count(config.shard_skip_file_number, pipeline_id, num_pipelines),
        vocab_size_per_slot=config.vocab_size_per_slot,
        skip_corrupt_files=config.skip_corrupt_files,
        check_files=config.check_files,
        shuffle_buffer=config.shuffle_buffer,
        shuffle_files=config.shuffle_files,
        shuffle_block=config.shuffle_block,
        shuffle_seed=_shuffle_seed(config.shuffle_seed, settings.seed),
        missing_features=config.missing_features,
        one_id_parse=config.one_id_parse,
    )


def _shuffle_seed(shuffle_seed: int | None, seed: Any) -> int:
    """The seed of the training order: ``shuffle_seed``, else the trainer's ``seed``, else 0."""
    if shuffle_seed is not None:
        return int(shuffle_seed)
    return int(seed) if is_int(seed) else 0


def _check_feature_map(
    feature_map: Mapping[str, Any], slot_to_dims: Mapping[int, Sequence[int]]
) -> dict[str, Any]:
    if not isinstance(feature_map, Mapping) or not feature_map:
        raise ValueError(
            f"`feature_map` must be a non-empty mapping of feature name to tf.io feature. "
            f"Received: feature_map={feature_map!r}"
        )
    for slot_id, dims in slot_to_dims.items():
        if not is_int(slot_id) or isinstance(dims, str) or not isinstance(dims, Sequence):
            raise ValueError(
                f"`slot_to_dims` must map int slot ids to lists of dims. "
                f"Received: slot_to_dims[{slot_id!r}]={dims!r}"
            )
        name = f"slot_{slot_id}_0"
        spec = feature_map.get(name)
        if not isinstance(spec, tf.io.VarLenFeature) or spec.dtype != tf.int64:
            raise ValueError(
                f"`feature_map[{name!r}]` must be tf.io.VarLenFeature(tf.int64) for slot "
                f"{slot_id}. Received: {name}={spec!r}"
            )
        for slice_index in range(1, len(dims)):
            copy = f"slot_{slot_id}_{slice_index}"
            if copy in feature_map:
                raise ValueError(
                    f"`feature_map` must not contain {copy!r}: the pipeline copies it from "
                    f"{name!r} (slot {slot_id} has {len(dims)} slices). Received: {copy}"
                )
    return dict(feature_map)


# --------------------------------------------------------------------------- input_fn


class InputFn:
    """The input function of a model; see the module docstring. Made by :func:`make_input_fn`.

    Attributes:
        file_pattern: the glob(s) it reads.
        corrupt_files: the files left out by ``skip_corrupt_files``, as
            :class:`FileProblem` (one per file, across every call).
        files_read: every file a built dataset reads, in the order first seen.
        split: the part of the records it reads (:class:`RecordSplit`), None for all.
        drop_remainder: each pass drops its last, partial batch (True, the default);
            False keeps it (an evaluation of every record; unshuffled input only).
    """

    def __init__(
        self,
        file_pattern: str | Sequence[str],
        *,
        feature_map: Mapping[str, Any],
        slot_to_dims: Mapping[int, Sequence[int]],
        params: Mapping[str, Any],
        repeat: bool = True,
        split: RecordSplit | None = None,
        shuffle: bool = False,
    ) -> None:
        if isinstance(file_pattern, (str, os.PathLike)):
            file_pattern = os.fspath(file_pattern)
        if not file_pattern:
            raise ValueError(
                f"`file_pattern` must be a non-empty glob. Received: file_pattern={file_pattern!r}"
            )
        if not isinstance(params, Mapping):
            raise ValueError(f"`params` must be a mapping. Received: params={params!r}")
        self.file_pattern = file_pattern
        if not isinstance(slot_to_dims, Mapping):
            raise ValueError(
                f"`slot_to_dims` must be a mapping {{slot_id: [dims]}}. "
                f"Received: slot_to_dims={slot_to_dims!r}"
            )
        self.feature_map = _check_feature_map(feature_map, slot_to_dims)
        self.slot_to_dims = {k: list(v) for k, v in slot_to_dims.items()}
        self.params = dict(params)
        self.repeat = bool(repeat)
        self.shuffle = bool(shuffle)
        if split is not None and not isinstance(split, RecordSplit):
            raise ValueError(f"`split` must be a RecordSplit or None. Received: split={split!r}")
        self.split = split
        self.drop_remainder = True
        self.corrupt_files: list[FileProblem] = []
        self.files_read: list[str] = []
        self._scans: dict[tuple[Any, ...], FileProblem | None] = {}
        self._lock = threading.Lock()
        self._one_id_used: set[str] = set()  # slot features some dataset parsed as one id
        self._told_no_record = False
        self._settings = _Settings.of(params)  # read once: bad knobs fail now
        knobs = _resolve_knobs(self._settings, None, partial=True)
        # The slot features every record must hold (missing_features="error").
        self._required: tuple[str, ...] = ()
        if knobs.missing_features == "error":
            self._required = tuple(f"slot_{s}_0" for s in sorted(self.slot_to_dims))

    def keeping_remainder(self) -> InputFn:
        """Keeps each pass's last partial batch (an evaluation of every record); returns self.

        Example:
            >>> fn = make_input_fn("d/*.tfrecord", feature_map={"slot_1_0":
            ...     tf.io.VarLenFeature(tf.int64)}, slot_to_dims={1: [4]},
            ...     params={"batch_size": 8}, repeat=False)
            >>> fn.keeping_remainder().drop_remainder
            False
        """
        self.drop_remainder = False
        return self

    @property
    def pipeline_config(self) -> PipelineConfig:
        """The pipeline's knobs, read from ``params`` once (a call's params mapping may
        override them for that call)."""
        return self._settings.pipeline

    @property
    def num_corrupt_files(self) -> int:
        """How many files ``skip_corrupt_files`` left out so far."""
        return len(self.corrupt_files)

    # ------------------------------------------------------------------ pre-scans

    def _scan(self, path: str, compression: str, with_features: bool) -> FileProblem | None:
        """Scan one file once per (size, mtime): repeated calls cost nothing.

        With features, the slots a built dataset parsed as one id are checked as one id
        (a record with none or two is named, as the read that failed on it)."""
        with self._lock:
            one_id = frozenset(self._one_id_used) if with_features else frozenset()
        key = (*file_key(path), compression, with_features, one_id)
        with self._lock:
            if key in self._scans:
                return self._scans[key]
        problem = scan_file(
            path, self._parse_spec(one_id) if with_features else None, compression, self._required
        )
        if problem is not None and problem.kind == "feature":
            problem = _one_id_hint(problem, one_id)
        with self._lock:
            self._scans[key] = problem
        return problem

    def _prescan(self, shard: list[str], compressions: list[str], knobs: _Knobs) -> set[str]:
        """Raise for bad files (check_files) or return those to leave out (skip_corrupt)."""
        bad: set[str] = set()
        found = scan_files(
            list(zip(shard, compressions, strict=True)),
            lambda path, c: self._scan(path, c, with_features=knobs.check_files),
        )
        for path, problem in zip(shard, found, strict=True):
            if problem is None:
                continue
            if not (knobs.skip_corrupt_files and problem.is_corrupt):
                raise DataFileError(problem, self._pattern_text())
            bad.add(path)
            with self._lock:
                if all(known.path != path for known in self.corrupt_files):
                    self.corrupt_files.append(problem)
                    logger.warning(
                        "skipping corrupt file (%d so far): %s",
                        len(self.corrupt_files),
                        problem.describe(),
                    )
        return bad

    def _pattern_text(self) -> str:
        return self.file_pattern if isinstance(self.file_pattern, str) else repr(self.file_pattern)

    # ------------------------------------------------------------------ building

    def _parse_spec(self, one_id: frozenset[str]) -> dict[str, Any]:
        """The feature map with the ``one_id`` slot features as one fixed int64 id."""
        spec = dict(self.feature_map)
        for name in one_id:
            spec[name] = tf.io.FixedLenFeature([1], tf.int64)
        return spec

    def _parse_fn(self, knobs: _Knobs) -> Callable[[tf.Tensor], dict[str, Any]]:
        slot_to_dims = self.slot_to_dims
        vocab = knobs.vocab_size_per_slot
        one_id = sorted(knobs.one_id)
        spec = self._parse_spec(knobs.one_id)
        # A fixed-length parse fails on a record without the feature: no check needed.
        required = tuple(name for name in self._required if name not in knobs.one_id)

        def parse(serialized: tf.Tensor) -> dict[str, Any]:
            features = tf.io.parse_example(serialized, spec)
            if one_id:
                rows = tf.shape(serialized, out_type=tf.int64)[0]
                indices = one_id_indices(rows)
                for name in one_id:
                    features[name] = one_id_sparse(features[name], indices)
            if required:
                features = _require_features(serialized, features, required)
            return post_process_example(features, slot_to_dims, vocab)

        return parse

    def _one_id(self, files: Sequence[str], knobs: _Knobs) -> frozenset[str]:
        """The model's slot features recorded as one id per record in every file."""
        if not knobs.one_id_parse or not files:
            return frozenset()
        slots = {f"slot_{s}_0" for s in self.slot_to_dims}
        found = one_id_features(files) & slots
        if found:
            with self._lock:
                self._one_id_used |= found
            logger.info(
                "input pipeline %d: %d of %d slots parse as one id per record (%s)",
                knobs.pipeline_id,
                len(found),
                len(slots),
                ONE_ID_FILE,
            )
        elif not self._told_no_record and not any(
            tf.io.gfile.exists(os.path.join(d, ONE_ID_FILE))
            for d in {os.path.dirname(f) for f in files}
        ):
            self._told_no_record = True
            logger.info(
                "no %s beside the input files: every slot parses as a list of ids (`nwsrec "
                "datasets index %s` records the slots with one id per record, a faster parse)",
                ONE_ID_FILE,
                self._pattern_text(),
            )
        return found

    def _one_pass(
        self,
        files: list[str],
        compressions: list[str],
        knobs: _Knobs,
        epoch: Any = None,
    ) -> tf.data.Dataset:
        """Read ``files`` once: interleave, batch, parse and post-process."""
        return self._parse(self._batches(files, compressions, knobs, epoch), knobs)

    def _shuffled_passes(
        self,
        head: tuple[list[str], list[str]] | None,
        files: list[str],
        compressions: list[str],
        knobs: _Knobs,
    ) -> tf.data.Dataset:
        """Endless passes over ``files`` in a seeded order, batched and parsed.

        Pass ``e`` reads the files in the order drawn from (``shuffle_seed``, ``e``)
        (stateless, inside a ``flat_map`` over the pass numbers), cut into blocks of
        ``shuffle_block`` records (the pass's last partial block dropped); the blocks of
        all passes, one stream, are permuted window by window (``BlockShuffle``, so a
        pass boundary is blurred by at most a window). The iterator checkpoint holds the
        pass number, the position in it and the window being filled: a resumed run
        reads the same batches. ``head``: the files left of a resumed first
        pass (``shard_skip_file_number``), read first as pass 0.
        """
        shuffle = self._block_shuffle(knobs)
        first = 0
        blocks = None
        if head is not None:
            blocks = shuffle.blocks(self._records(*head, knobs, tf.constant(0, tf.int64)))
            first = 1

        def one_pass(epoch: tf.Tensor) -> tf.data.Dataset:
            return shuffle.blocks(self._records(files, compressions, knobs, epoch))

        rest = tf.data.Dataset.range(first, 1 << 62).flat_map(one_pass)
        blocks = rest if blocks is None else blocks.concatenate(rest)
        return self._parse(shuffle.batches(blocks), knobs)

    def _block_shuffle(self, knobs: _Knobs) -> BlockShuffle:
        """The seeded block order of the training input (``nwsrec.data.shuffle``)."""
        return BlockShuffle(
            batch_size=knobs.batch_size,
            buffer=knobs.shuffle_buffer,
            block=block_size(knobs.batch_size, knobs.shuffle_block),
            seed=knobs.shuffle_seed,
            keep=None if self.split is None else self.split.keep,
        )

    def _has_a_batch(self, files: list[str], compressions: list[str], knobs: _Knobs) -> bool:
        """Whether one pass over ``files`` gives a full batch (True when not eager)."""
        if not files:
            return False
        if not tf.executing_eagerly():
            return True
        return bool(list(self._batches(files, compressions, knobs).take(1)))

    def _batches(
        self,
        files: list[str],
        compressions: list[str],
        knobs: _Knobs,
        epoch: Any = None,
    ) -> tf.data.Dataset:
        """Batches of serialized records of one pass over ``files`` (see :meth:`_records`)."""
        return self._batch(self._records(files, compressions, knobs, epoch), knobs)

    def _records(
        self,
        files: list[str],
        compressions: list[str],
        knobs: _Knobs,
        epoch: Any = None,
    ) -> tf.data.Dataset:
        """The serialized records of one pass over ``files``.

        ``epoch``: None reads the files in order; a pass number (int64 scalar) reads
        them in the seeded order of that pass (with ``shuffle_files``).
        """
        paths = tf.constant(files, tf.string, shape=[len(files)])
        codecs = tf.constant(compressions, tf.string, shape=[len(files)])
        if epoch is not None:
            epoch = tf.cast(epoch, tf.int64)
            base = tf.constant(knobs.shuffle_seed % (1 << 31), tf.int64)
            if knobs.shuffle_files and len(files) > 1:
                order = tf.random.experimental.stateless_shuffle(
                    tf.range(len(files)), seed=tf.stack([base, epoch])
                )
                paths, codecs = tf.gather(paths, order), tf.gather(codecs, order)
        if (
            knobs.cycle_length == 1
            and knobs.num_parallel_calls is None
            and len(set(compressions)) <= 1
        ):
            # One file after the other: TFRecordDataset's own file loop does the same as
            # interleave(cycle_length=1) for ~0.5 us less per record (bench/input_pipeline.py).
            compression = compressions[0] if compressions else ""
            records = tf.data.TFRecordDataset(paths, compression_type=compression)
        else:
            pairs = tf.data.Dataset.from_tensor_slices((paths, codecs))

            def read(path: tf.Tensor, compression: tf.Tensor) -> tf.data.Dataset:
                return tf.data.TFRecordDataset(path, compression_type=compression)

            parallel: dict[str, Any] = {}
            if knobs.num_parallel_calls is not None:
                parallel = {
                    "num_parallel_calls": knobs.num_parallel_calls,
                    "deterministic": knobs.deterministic,
                }
            records = pairs.interleave(
                read, cycle_length=knobs.cycle_length, block_length=1, **parallel
            )
        return records

    def _batch(self, records: tf.data.Dataset, knobs: _Knobs) -> tf.data.Dataset:
        """Batches of ``batch_size`` records (of the ``split`` part), remainder dropped."""
        if self.split is None:
            batches = records.batch(knobs.batch_size, drop_remainder=self.drop_remainder)
        else:
            # Split whole batches and re-batch: a per-record filter costs ~15x the read
            # (a function call per record; bench/input_pipeline.py).
            split = self.split
            batches = (
                records.batch(knobs.batch_size)
                .map(lambda r: tf.boolean_mask(r, split.keep(r)))
                .rebatch(knobs.batch_size, drop_remainder=self.drop_remainder)
            )
        return batches

    def _parse(self, batches: tf.data.Dataset, knobs: _Knobs) -> tf.data.Dataset:
        """Parse and post-process each batch (one map)."""
        parallel: dict[str, Any] = {}
        if knobs.parse_num_parallel_calls is not None:
            parallel = {
                "num_parallel_calls": knobs.parse_num_parallel_calls,
                "deterministic": knobs.deterministic,
            }
        return batches.map(self._parse_fn(knobs), **parallel)

    def __call__(self, arg: Any = None) -> tf.data.Dataset:
        """Build the dataset of one input pipeline.

        Args:
            arg: a ``tf.distribute.InputContext``, a Monolith params mapping, or ``None``.

        Returns:
            A ``tf.data.Dataset`` of feature dicts (``slot_{s}_{i}`` SparseTensors, the
            other features of the feature map, ``label``).

        Raises:
            ValueError: for a bad knob, no matching file, fewer files than pipelines, a
                skip count past the end of the shard, or (:class:`DataFileError`) a file
                a pre-scan found bad.
        """
        knobs = _resolve_knobs(self._settings, arg)
        files = list_files(self.file_pattern)
        try:
            shard = shard_files(files, knobs.pipeline_id, knobs.num_pipelines)
        except ValueError as err:
            raise ValueError(f"{err} (file_pattern={self._pattern_text()})") from None
        if knobs.skip > len(shard):
            raise ValueError(
                f"`shard_skip_file_number[{knobs.pipeline_id}]` must be at most the "
                f"{len(shard)} files of input pipeline {knobs.pipeline_id}'s shard "
                f"({', '.join(shard)}). Received: shard_skip_file_number"
                f"[{knobs.pipeline_id}]={knobs.skip} (file_pattern={self._pattern_text()})"
            )
        if knobs.compression_type == "auto":
            compressions = detect_all(shard)
        else:
            compressions = [knobs.compression_type] * len(shard)
        knobs = dataclasses.replace(knobs, one_id=self._one_id(shard, knobs))
        bad: set[str] = set()
        if knobs.check_files or knobs.skip_corrupt_files:
            bad = self._prescan(shard, compressions, knobs)
        kept = [(p, c) for p, c in zip(shard, compressions, strict=True) if p not in bad]
        first = [
            (p, c)
            for p, c in zip(shard[knobs.skip :], compressions[knobs.skip :], strict=True)
            if p not in bad
        ]
        with self._lock:
            for path, _ in kept if self.repeat else first:
                if path not in self.files_read:
                    self.files_read.append(path)
        if knobs.skip:
            logger.info(
                "input pipeline %d of %d: skipping %d of its %d files: %s",
                knobs.pipeline_id,
                knobs.num_pipelines,
                knobs.skip,
                len(shard),
                ", ".join(shard[: knobs.skip]),
            )
        if not kept:
            logger.error(
                "input pipeline %d of %d has no readable file",
                knobs.pipeline_id,
                knobs.num_pipelines,
            )
        first_files, first_codecs = [p for p, _ in first], [c for _, c in first]
        kept_files, kept_codecs = [p for p, _ in kept], [c for _, c in kept]
        if self.shuffle and self.repeat and not self._has_a_batch(kept_files, kept_codecs, knobs):
            # No full batch per pass: end like repeat() of an empty pass (an endless
            # flat_map over empty passes would never yield).
            dataset = self._one_pass(first_files, first_codecs, knobs, epoch=0)
        elif self.shuffle and self.repeat:
            head = (first_files, first_codecs) if knobs.skip else None
            dataset = self._shuffled_passes(head, kept_files, kept_codecs, knobs)
        elif self.shuffle:
            records = self._records(first_files, first_codecs, knobs, tf.constant(0, tf.int64))
            shuffle = self._block_shuffle(knobs)
            dataset = self._parse(shuffle.batches(shuffle.blocks(records)), knobs)
        else:
            dataset = self._one_pass(first_files, first_codecs, knobs)
            if self.repeat:
                again = self._one_pass(kept_files, kept_codecs, knobs)
                dataset = again.repeat() if not knobs.skip else dataset.concatenate(again.repeat())
        return _NamingErrors(dataset.prefetch(AUTOTUNE), self.diagnose)

    def count_records(self, arg: Any = None) -> int:
        """Records one pass of this input pipeline reads (its shard, its ``split`` part).

        Reads the files without parsing them (a ``split`` hashes each record): what an
        epoch of the training input is, before batching.

        Args:
            arg: as for :meth:`__call__` (None: one pipeline, every file).
        """
        knobs = _resolve_knobs(self._settings, arg, partial=True)
        files = shard_files(list_files(self.file_pattern), knobs.pipeline_id, knobs.num_pipelines)
        codecs = detect_all(files) if knobs.compression_type == "auto" else None
        if codecs is None:
            codecs = [knobs.compression_type] * len(files)
        with self._lock:  # a corrupt record found while counting is named like one read
            self.files_read.extend(f for f in files if f not in self.files_read)
        records = self._records(files, codecs, knobs).batch(65536)
        split = self.split
        if split is None:
            sizes = records.map(lambda r: tf.size(r, out_type=tf.int64))
        else:
            sizes = records.map(lambda r: tf.reduce_sum(tf.cast(split.keep(r), tf.int64)))
        return int(sizes.reduce(tf.constant(0, tf.int64), lambda total, n: total + n))

    # ------------------------------------------------------------------ errors

    @contextlib.contextmanager
    def naming_errors(self) -> Iterator[None]:
        """Re-raise data errors of the block as :class:`DataFileError` naming the file.

        Wrap the loop that iterates this input function's datasets (a training loop);
        errors that :meth:`diagnose` cannot pin on a file pass through unchanged.

        Example:
            >>> with input_fn.naming_errors():  # doctest: +SKIP
            ...     trainer.train()
        """
        try:
            yield
        except (tf.errors.OpError, UnicodeDecodeError) as err:
            named = self.diagnose(err)
            if named is err:
                raise
            raise named from err

    def diagnose(self, error: BaseException) -> BaseException:
        """Name the file behind an error raised while iterating a dataset of this input_fn.

        Re-reads the files the built datasets read (in parallel, parsing with the feature
        map) and reports the first bad one in reading order; costs nothing unless called.

        Args:
            error: what the iteration raised (``tf.errors.OpError`` and the like).

        Returns:
            A :class:`DataFileError` naming the file, record and what is wrong, or
            ``error`` itself when no file is found bad (the error was not in the data).
        """
        if not isinstance(error, (tf.errors.OpError, UnicodeDecodeError)):
            return error
        with self._lock:
            paths = list(self.files_read)
        logger.info("looking for the file behind %s in %d files", type(error).__name__, len(paths))
        compression = _resolve_knobs(self._settings, None, partial=True).compression_type
        compressions = detect_all(paths) if compression == "auto" else [compression] * len(paths)
        jobs = list(zip(paths, compressions, strict=True))
        found = scan_files(jobs, lambda path, c: self._scan(path, c, with_features=True))
        for problem in found:
            if problem is not None:
                return DataFileError(problem, self._pattern_text())
        return error


class _NamingIterator(iterator_ops.OwnedIterator):
    """An eager iterator that re-raises a data error as the :class:`DataFileError` naming
    its file (``diagnose``: only on the error path; the happy path is TF's own)."""

    def __init__(self, dataset: tf.data.Dataset, diagnose: Callable[[BaseException], Any]):
        self._diagnose = diagnose
        super().__init__(dataset)

    def _next_internal(self) -> Any:
        try:
            return super()._next_internal()
        except tf.errors.OutOfRangeError:
            raise
        except (tf.errors.OpError, UnicodeDecodeError) as err:
            named = self._diagnose(err)
            if named is err:
                raise
            raise named from err


class _NamingErrors(dataset_ops.UnaryUnchangedStructureDataset):
    """The dataset of an :class:`InputFn`: the same dataset (the same variant tensor, no
    op added), whose eager iterators name the file of a corrupt or incomplete record.

    Iterated in a ``tf.function`` (or through a ``tf.distribute`` strategy) it is the
    plain dataset: wrap such a loop in :meth:`InputFn.naming_errors`.
    """

    def __init__(
        self, input_dataset: tf.data.Dataset, diagnose: Callable[[BaseException], Any]
    ) -> None:
        self._diagnose = diagnose
        super().__init__(input_dataset, input_dataset._variant_tensor)

    def __iter__(self) -> Any:
        if tf.executing_eagerly():
            return _NamingIterator(self, self._diagnose)
        return super().__iter__()


def make_input_fn(
    file_pattern: str | Sequence[str],
    *,
    feature_map: Mapping[str, Any],
    slot_to_dims: Mapping[int, Sequence[int]],
    params: Mapping[str, Any],
    repeat: bool = True,
    split: RecordSplit | None = None,
    shuffle: bool = False,
) -> InputFn:
    """The input function of a model (the seed's ``Model.create_input_fn``).

    Args:
        file_pattern: glob (or list of globs) of the TFRecord files.
        feature_map: what to parse, e.g. ``Model.feature_map()``; must hold
            ``slot_{s}_0`` as ``tf.io.VarLenFeature(tf.int64)`` for every slot.
        slot_to_dims: ``{slot_id: [dims of its slices]}`` (``env.slot_to_dims``).
        params: the model's params: ``batch_size`` and the knobs of the module docstring.
        repeat: repeat forever (each pass drops its own remainder).
        split: read only one part of the records (:class:`RecordSplit`); None reads all.
        shuffle: seeded training order (files per pass, a record shuffle buffer; knobs
            ``shuffle_files``, ``shuffle_buffer``, ``shuffle_seed``). ``Model.create_input_fn``
            sets it for the training input (``repeat=True``); evaluation reads in order.

    Returns:
        An :class:`InputFn`: call it with a ``tf.distribute.InputContext``, a params
        mapping or ``None``.

    Raises:
        ValueError: for a bad feature map, slot_to_dims or knob.

    Example:
        >>> input_fn = make_input_fn(
        ...     "data/train-*.tfrecord",
        ...     feature_map={"slot_3_0": tf.io.VarLenFeature(tf.int64),
        ...                  "label": tf.io.FixedLenFeature([], tf.float32)},
        ...     slot_to_dims={3: [1, 16]}, params={"batch_size": 1024})
        >>> input_fn.file_pattern
        'data/train-*.tfrecord'
    """
    return InputFn(
        file_pattern,
        feature_map=feature_map,
        slot_to_dims=slot_to_dims,
        params=params,
        repeat=repeat,
        split=split,
        shuffle=shuffle,
    )
