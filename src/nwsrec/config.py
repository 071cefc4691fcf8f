"""Typed run configuration: the input pipeline's, the trainer's and the width search's knobs.

A run's parameters travel as one flat mapping (``--param key=value``, ``params.json``,
a registered model's ``default_params()``): that is the wire format. Each part of nwsrec
reads its own knobs out of it through a frozen dataclass here, whose fields carry their
meaning (``metadata["doc"]``) and whose ``__post_init__`` validates every value at once,
with the message format of the whole package ("`key` must be ... Received: key=value").

- :class:`PipelineConfig`: ``nwsrec.data.pipeline`` (files, parsing, order).
- :class:`TrainerConfig`: ``nwsrec.training.Trainer`` (optimizers, steps, checkpoints).
- :class:`SearchConfig`: ``nwsrec.search.WidthSearchModel`` and the selection.

``Config.from_params(params)`` takes the config's keys from a flat mapping (missing and
None values take the default), reads each value by its field's type (a string from the
command line such as ``"1e-3"`` becomes a float, ``"abc"`` is an error naming the key),
and validates. :func:`check_known_keys` rejects a key no part knows, naming it, a close
match and the known ones. :func:`describe` lists every knob with its default and meaning
(``nwsrec train --model NAME --list-params``).

A leaf module: it imports nothing from nwsrec but :mod:`nwsrec.checks`, and no
TensorFlow.

Example:
    >>> TrainerConfig.from_params({"dense_learning_rate": "0.01"}).dense_learning_rate
    0.01
    >>> TrainerConfig.from_params({"dense_learning_rate": "abc"})
    Traceback (most recent call last):
    ...
    ValueError: `dense_learning_rate` must be a number. Received: dense_learning_rate='abc'
    >>> TrainerConfig.defaults()["keep_checkpoints"]
    3
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import math
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, TypeVar

from nwsrec.checks import is_int

__all__ = [
    "AUTOTUNE",
    "OPTIMIZERS",
    "STRATEGIES",
    "Config",
    "ModelConfig",
    "PipelineConfig",
    "RunConfig",
    "SearchConfig",
    "TrainerConfig",
    "check_known_keys",
    "describe",
    "typed_params",
]

AUTOTUNE = -1
"""``tf.data.AUTOTUNE`` (checked equal in the tests; this module does not import TF)."""

OPTIMIZERS = ("adam", "adagrad", "sgd")
"""The Keras optimizers of the dense and architecture weights."""

TABLE_OPTIMIZERS = ("adagrad", "adagrad_rowwise", "adam", "ftrl", "sgd")
"""The sparse optimizers of the embedding tables (``nwsrec.embedding.optimizers``)."""

STRATEGIES = ("auto", "default", "mwms", "ps")
"""The values of ``--strategy`` (see ``docs/scaling.md``)."""

_C = TypeVar("_C", bound="Config")


def knob(default: Any, doc: str) -> Any:
    """A config field with its default and its meaning (shown by :func:`describe`)."""
    if isinstance(default, list | dict):
        return dataclasses.field(
            default_factory=lambda: json.loads(json.dumps(default)), metadata={"doc": doc}
        )
    return dataclasses.field(default=default, metadata={"doc": doc})


def _fail(key: str, what: str, value: Any) -> ValueError:
    return ValueError(f"`{key}` must be {what}. Received: {key}={value!r}")


def _coerce(key: str, value: Any, annotation: Any) -> Any:
    """``value`` read as the field's type; a string (from ``--param``) is parsed."""
    optional = False
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        optional = True
        rest = [a for a in args if a is not type(None)]
        annotation = rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]  # noqa: UP007
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if value is None:
        if optional:
            return None
        raise _fail(key, f"set (a {getattr(annotation, '__name__', annotation)})", value)
    if isinstance(value, str) and annotation is not str:
        text = value.strip()
        if optional and text.lower() in ("none", "null", ""):
            return None
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            if annotation is bool and text.lower() in ("true", "false"):
                value = text.lower() == "true"
            elif annotation in (int, float, bool) or origin is list:
                raise _fail(key, _type_words(annotation), value) from None
    # Values of another type pass through: __post_init__ says what the field must be.
    if annotation is float and is_int(value):
        return float(value)
    if origin is list and isinstance(value, list | tuple):
        (item,) = args or (Any,)
        return [_coerce(f"{key}[{i}]", v, item) for i, v in enumerate(value)]
    return value  # Any, dict, unions of several types: validated by __post_init__


def _is_optional(annotation: Any) -> bool:
    args = typing.get_args(annotation)
    return typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args


def _type_words(annotation: Any) -> str:
    if annotation is int:
        return "an integer"
    if annotation is float:
        return "a number"
    if annotation is bool:
        return "a bool (true or false)"
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation) or (Any,)
        return f"a list of {_type_words(item).split(' ', 1)[-1]}s"
    return f"a {getattr(annotation, '__name__', annotation)}"


@dataclasses.dataclass(frozen=True)
class Config:
    """Base of the typed configs: defaults, reading from flat params, descriptions."""

    section: ClassVar[str] = ""

    @classmethod
    def keys(cls) -> list[str]:
        """The flat-params keys this config reads."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """``{key: default}`` of every field (fresh lists and dicts)."""
        return dataclasses.asdict(cls())

    @classmethod
    def from_params(cls: type[_C], params: Mapping[str, Any]) -> _C:
        """The config of a flat params mapping.

        A missing key takes the default; so does None for a field that cannot be None.

        Raises:
            ValueError: naming the key, for a value of the wrong type or out of range.
        """
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            if field.name not in params:
                continue
            raw = params[field.name]
            if raw is None and not _is_optional(hints[field.name]):
                continue  # None: the default
            values[field.name] = _coerce(field.name, raw, hints[field.name])
        return cls(**values)

    def to_params(self) -> dict[str, Any]:
        """The config as flat params (the wire format)."""
        return dataclasses.asdict(self)

    @classmethod
    def docs(cls) -> dict[str, str]:
        """``{key: meaning}`` of every field."""
        return {f.name: str(f.metadata.get("doc", "")) for f in dataclasses.fields(cls)}


def _check_positive_int(key: str, value: Any, minimum: int = 1) -> None:
    if not is_int(value) or value < minimum:
        raise _fail(key, f"an integer >= {minimum}", value)


def _check_rate(key: str, value: Any, *, allow_zero: bool = False) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        raise _fail(key, "a finite number >= 0" if allow_zero else "a finite number > 0", value)


def _check_parallelism(key: str, value: Any) -> None:
    if value is None or value == AUTOTUNE:
        return
    if not is_int(value) or value < 1:
        raise _fail(key, f"None (serial), {AUTOTUNE} (AUTOTUNE) or an integer >= 1", value)


def _check_choice(key: str, value: Any, choices: Iterable[str]) -> None:
    choices = tuple(choices)
    if value not in choices:
        words = " or ".join(choices) if len(choices) == 2 else f"one of {', '.join(choices)}"
        raise _fail(key, words, value)


@dataclasses.dataclass(frozen=True)
class ModelConfig(Config):
    """What every model reads (``nwsrec.model.Model``): the batch, the data, the tables."""

    section: ClassVar[str] = "model"

    model_name: str | None = knob(None, "the registered model (set by the command line)")
    batch_size: int = knob(1024, "the global batch (every replica's share together)")
    vocab_file_path: str | None = knob(None, "the vocab-size TSV (slot_id, vocab_size)")
    train_file_pattern: str | None = knob(None, "glob of the training TFRecord files")
    eval_file_pattern: str | None = knob(None, "glob of the held-out TFRecord files")
    use_gradient_accumulation: bool = knob(
        False, "TPU embedding: accumulate gradients (a table slot more in the memory plan)"
    )
    check_memory: bool = knob(True, "refuse tables that do not fit this machine's memory")
    table_groups: bool = knob(True, "tables of one width and optimizer share one variable")

    def __post_init__(self) -> None:
        _check_positive_int("batch_size", self.batch_size)
        for key in ("model_name", "vocab_file_path", "train_file_pattern", "eval_file_pattern"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, str):
                raise _fail(key, "None or a string", value)
        for flag in ("use_gradient_accumulation", "check_memory", "table_groups"):
            if not isinstance(getattr(self, flag), bool):
                raise _fail(flag, "a bool", getattr(self, flag))


@dataclasses.dataclass(frozen=True)
class PipelineConfig(Config):
    """The input pipeline's knobs (``nwsrec.data.pipeline``); measured defaults."""

    section: ClassVar[str] = "input pipeline"

    cycle_length: int = knob(1, "files read at once (interleave)")
    num_parallel_calls: int | None = knob(None, "interleave threads (None serial, -1 AUTOTUNE)")
    parse_num_parallel_calls: int | None = knob(
        None, "parse-map threads (None serial, -1 AUTOTUNE)"
    )
    deterministic: bool = knob(True, "keep the order when a stage is parallel")
    compression_type: str | None = knob(
        "auto", "'auto' (gzip found by its magic bytes), '' or None (none), 'GZIP' or 'ZLIB'"
    )
    shard_skip_file_number: Any = knob(
        None, "files to skip per pipeline: a list by pipeline id or {pipeline_id: n}"
    )
    vocab_size_per_slot: int | None = knob(None, "fixed vocab size: ids are taken modulo it")
    skip_corrupt_files: bool = knob(
        False, "pre-scan the shard; log, count and leave out each corrupt file"
    )
    check_files: bool = knob(
        False, "pre-scan the shard fully (records, features) and raise, naming the file"
    )
    shuffle_buffer: int = knob(
        10000, "training input: records per window permuted in a seeded order (0: none)"
    )
    shuffle_files: bool = knob(True, "training input: read the files in a seeded order per pass")
    shuffle_block: int = knob(
        32, "training input: consecutive records kept together in the order (1: single records)"
    )
    shuffle_seed: int | None = knob(
        None, "seed of the training input's order (None: the trainer's `seed`, else 0)"
    )
    out_of_range_ids: str = knob(
        "error",
        "ids outside [0, vocab size): 'error' (names file, record, slot, id) or 'oov' "
        "(mapped to an extra OOV row per table, counted)",
    )
    missing_features: str = knob(
        "error",
        "a record without a slot's feature: 'error' (names file, record, slot) or 'empty' "
        "(read as an empty id list)",
    )
    one_id_parse: bool = knob(
        True,
        "parse a slot as one fixed id where one_id_slots.json records one id in every record "
        "(no indices to build, no missing-feature check; the same ids)",
    )

    def __post_init__(self) -> None:
        _check_positive_int("cycle_length", self.cycle_length)
        _check_positive_int("shuffle_buffer", self.shuffle_buffer, minimum=0)
        _check_positive_int("shuffle_block", self.shuffle_block)
        if not isinstance(self.shuffle_files, bool):
            raise _fail("shuffle_files", "a bool", self.shuffle_files)
        if self.shuffle_seed is not None and not is_int(self.shuffle_seed):
            raise _fail("shuffle_seed", "None or an integer", self.shuffle_seed)
        _check_parallelism("num_parallel_calls", self.num_parallel_calls)
        _check_parallelism("parse_num_parallel_calls", self.parse_num_parallel_calls)
        text = "" if self.compression_type is None else self.compression_type
        object.__setattr__(self, "compression_type", text)
        if isinstance(text, str) and text.upper() in ("GZIP", "ZLIB"):
            object.__setattr__(self, "compression_type", text.upper())
        if self.compression_type not in ("auto", "", "GZIP", "ZLIB"):
            raise _fail(
                "compression_type", "one of 'auto', '', None, 'GZIP', 'ZLIB'", self.compression_type
            )
        vocab = self.vocab_size_per_slot
        if vocab is not None and (not is_int(vocab) or vocab < 1):
            raise _fail("vocab_size_per_slot", "None or an integer >= 1", vocab)
        _check_choice("out_of_range_ids", self.out_of_range_ids, ("error", "oov"))
        _check_choice("missing_features", self.missing_features, ("error", "empty"))
        for flag in ("deterministic", "skip_corrupt_files", "check_files", "one_id_parse"):
            if not isinstance(getattr(self, flag), bool):
                raise _fail(flag, "a bool", getattr(self, flag))


@dataclasses.dataclass(frozen=True)
class TrainerConfig(Config):
    """The trainer's knobs (``nwsrec.training.Trainer``)."""

    section: ClassVar[str] = "training"

    train_steps: int = knob(1000, "the global step to train to")
    dense_optimizer: str = knob("adam", "optimizer of the dense weights: adam, adagrad or sgd")
    dense_learning_rate: float = knob(1e-3, "learning rate of the dense weights")
    holdout_every: int = knob(
        0, "0: train on every record; k >= 2: hold one record in k out of a search"
    )
    checkpoint_every_steps: int = knob(1000, "write a checkpoint every this many steps")
    keep_checkpoints: int = knob(3, "how many checkpoints to keep")
    log_every_steps: int = knob(100, "write training scalars every this many steps")
    seed: int | None = knob(None, "seeds Keras/TF/numpy before the model is built")
    epochs: float | None = knob(
        None, "train this many passes over the training records (None: train_steps)"
    )
    early_stopping_patience: int = knob(
        0,
        "stop after this many held-out evaluations without a better early_stopping_metric (0: off)",
    )
    early_stopping_metric: str = knob(
        "auc",
        "what early stopping watches on the held-out records: 'auc' (the ranking, higher is "
        "better) or 'log_loss' (lower is better; it turns up on over-confidence while the "
        "ranking may still improve)",
    )
    eval_every_steps: int | None = knob(
        None, "early stopping: held-out evaluation every this many steps (None: an epoch)"
    )
    early_stopping_batches: int | None = knob(
        None, "early stopping: held-out batches read per evaluation at most (None: all)"
    )
    early_stopping_min_delta: float = knob(
        0.0, "early stopping: a held-out metric better by more than this is an improvement"
    )

    def __post_init__(self) -> None:
        _check_positive_int("train_steps", self.train_steps, minimum=0)
        epochs = self.epochs
        if epochs is not None and (
            isinstance(epochs, bool)
            or not isinstance(epochs, int | float)
            or not math.isfinite(epochs)
            or epochs <= 0
        ):
            raise _fail("epochs", "None or a number > 0", epochs)
        _check_positive_int("early_stopping_patience", self.early_stopping_patience, minimum=0)
        for key in ("eval_every_steps", "early_stopping_batches"):
            if getattr(self, key) is not None:
                _check_positive_int(key, getattr(self, key))
        _check_rate("early_stopping_min_delta", self.early_stopping_min_delta, allow_zero=True)
        _check_choice("early_stopping_metric", self.early_stopping_metric, ("auc", "log_loss"))
        if self.early_stopping_patience and not self.holdout_every:
            raise _fail(
                "holdout_every",
                "an integer >= 2 with early_stopping_patience (the held-out records it "
                "evaluates on)",
                self.holdout_every,
            )
        _check_choice("dense_optimizer", self.dense_optimizer, OPTIMIZERS)
        _check_rate("dense_learning_rate", self.dense_learning_rate)
        if not is_int(self.holdout_every) or self.holdout_every < 0 or self.holdout_every == 1:
            raise _fail(
                "holdout_every",
                "0 (train on every record) or an integer >= 2 (one record in k held out)",
                self.holdout_every,
            )
        _check_positive_int("checkpoint_every_steps", self.checkpoint_every_steps)
        _check_positive_int("keep_checkpoints", self.keep_checkpoints)
        _check_positive_int("log_every_steps", self.log_every_steps)
        if self.seed is not None and not is_int(self.seed):
            raise _fail("seed", "None or an integer", self.seed)


@dataclasses.dataclass(frozen=True)
class SearchConfig(Config):
    """The width-search model's knobs (``nwsrec.search.WidthSearchModel``, the selection)."""

    section: ClassVar[str] = "width search"

    data_dir: str | None = knob(None, "data directory: {data_dir}/train-*, test-*, vocab.tsv")
    slots: list[int] | None = knob(None, "the slot ids to use (None: every slot of the vocab)")
    candidate_sizes: list[int] = knob([0, 4, 8, 16], "candidate embedding sizes of every slot")
    search: bool = knob(False, "search mode (set by `nwsrec search`)")
    slot_dims: Any = knob(None, "{slot_id: size} at fixed widths (set by `train --dims`)")
    warmup_steps: int = knob(0, "NWS layer: steps during which size 0 is never drawn")
    pretraining_steps: int = knob(0, "NWS layer: steps of uniform draws")
    nws_seed: int | None = knob(0, "NWS layer: seed of its draws")
    nws_mode: str = knob("sample", "NWS layer: 'sample' (one size per step) or 'mixed'")
    search_steps: int | None = knob(None, "the length of `nwsrec search` (None: train_steps)")
    arch_optimizer: str = knob(
        "adam", "optimizer of the NWS architecture weights: adam, adagrad or sgd"
    )
    arch_learning_rate: float = knob(1e-2, "learning rate of the NWS architecture weights")
    arch_warmup_steps: int = knob(
        0, "the architecture weights stay frozen while global_step < this"
    )
    width_penalty: float = knob(0.0, "loss added per expected embedding dim of the NWS layers")
    width_selection: str = knob(
        "argmax",
        "how a search picks widths: 'argmax' (the seed), 'holdout' (per slot, within "
        "selection_tolerance of its best) or 'frontier' (held-out loss vs memory frontier)",
    )
    selection_tolerance: float = knob(
        2e-4,
        "holdout: a slot keeps the smallest size within this held-out loss of its best; "
        "frontier: the default point is the smallest whose loss is, with 95% confidence, "
        "at most this much above full width's",
    )
    selection_batches: int | None = knob(
        None, "holdout / frontier: held-out batches read at most (None: every one)"
    )
    selection_loss: str = knob(
        "recalibrated",
        "holdout / frontier: the per-example held-out loss widths are judged by: "
        "'recalibrated' (log loss after one scale and offset of the logits are refit, so "
        "over-confidence does not count) or 'raw' (log loss)",
    )
    supernet_layout: str = knob(
        "nested",
        "search mode: 'nested' (size c = the first c columns of one block of the largest "
        "size) or 'separate' (one block per candidate, sum(candidate_sizes) columns)",
    )
    sandwich: bool = knob(
        False,
        "search mode: each training step also trains every slot at its largest size (one "
        "more DNN pass; the two losses averaged), so full width trains as in a "
        "fixed-width run while the drawn widths train their own",
    )
    draw_largest: float | None = knob(
        None,
        "search mode: probability of drawing a slot's largest size in each step (None: "
        "every candidate size alike); the rest are drawn uniformly",
    )
    selection_rounds: int = knob(2, "holdout: passes over the slots")
    hidden_units: list[int] = knob([64], "widths of the DNN's ReLU layers")
    vec_optimizer: str = knob(
        "adagrad",
        "sparse optimizer of the vector tables: adagrad, adagrad_rowwise (one accumulator "
        "per row), adam, ftrl or sgd",
    )
    vec_learning_rate: float = knob(0.2, "learning rate of the vector tables")
    vec_init_scale: float = knob(0.05, "uniform init range of the vector tables")
    bias_optimizer: str = knob(
        "ftrl", "sparse optimizer of the bias tables: adagrad, adam, ftrl or sgd"
    )
    bias_learning_rate: float = knob(0.05, "learning rate of the bias tables")
    id_buckets: list[float] | None = knob(
        None,
        "frequency buckets of a slot's ids: cumulative shares of its seen ids, most "
        "frequent first, e.g. [0.1] = head 10% / tail 90% (None: one table per slot)",
    )
    bucket_slots: list[int] | None = knob(
        None, "the slots id_buckets splits (None: every slot of the model)"
    )
    id_counts_file: str | None = knob(
        None,
        "id_buckets: a bucket-count cache (.npz); None: the data's id_counts.npz, else a scan",
    )

    def __post_init__(self) -> None:
        if self.id_buckets is not None:
            values = self.id_buckets
            ok = (
                bool(values)
                and all(isinstance(v, float) and 0.0 < v < 1.0 for v in values)
                and all(a < b for a, b in zip(values, values[1:], strict=False))
            )
            if not ok:
                raise _fail(
                    "id_buckets",
                    "a non-empty list of increasing fractions in (0, 1), e.g. [0.1]",
                    values,
                )
        if self.bucket_slots is not None and (
            not self.bucket_slots or any(not is_int(s) or s < 0 for s in self.bucket_slots)
        ):
            raise _fail("bucket_slots", "a non-empty list of slot ids", self.bucket_slots)
        sizes = self.candidate_sizes
        if not sizes or any(not is_int(c) or c < 0 for c in sizes) or max(sizes) == 0:
            raise _fail(
                "candidate_sizes", "non-negative integers with one > 0", self.candidate_sizes
            )
        if len(set(sizes)) != len(sizes):
            raise _fail("candidate_sizes", "distinct sizes", self.candidate_sizes)
        for key in ("warmup_steps", "pretraining_steps"):
            _check_positive_int(key, getattr(self, key), minimum=0)
        if self.search_steps is not None:
            _check_positive_int("search_steps", self.search_steps)
        _check_choice("nws_mode", self.nws_mode, ("sample", "mixed"))
        _check_choice("arch_optimizer", self.arch_optimizer, OPTIMIZERS)
        _check_rate("arch_learning_rate", self.arch_learning_rate)
        _check_positive_int("arch_warmup_steps", self.arch_warmup_steps, minimum=0)
        _check_rate("width_penalty", self.width_penalty, allow_zero=True)
        _check_choice("width_selection", self.width_selection, ("argmax", "holdout", "frontier"))
        _check_choice("supernet_layout", self.supernet_layout, ("nested", "separate"))
        if self.draw_largest is not None and not 0.0 < float(self.draw_largest) < 1.0:
            raise ValueError(
                "`draw_largest` must be None or a probability in (0, 1). "
                f"Received: draw_largest={self.draw_largest!r}"
            )
        _check_choice("selection_loss", self.selection_loss, ("recalibrated", "raw"))
        _check_rate("selection_tolerance", self.selection_tolerance, allow_zero=True)
        if self.selection_batches is not None:
            _check_positive_int("selection_batches", self.selection_batches)
        _check_positive_int("selection_rounds", self.selection_rounds)
        if any(not is_int(u) or u < 1 for u in self.hidden_units):
            raise _fail("hidden_units", "a list of integers >= 1", self.hidden_units)
        _check_choice("vec_optimizer", self.vec_optimizer, TABLE_OPTIMIZERS)
        _check_choice("bias_optimizer", self.bias_optimizer, TABLE_OPTIMIZERS)
        _check_rate("vec_learning_rate", self.vec_learning_rate)
        _check_rate("vec_init_scale", self.vec_init_scale, allow_zero=True)
        _check_rate("bias_learning_rate", self.bias_learning_rate)


CONFIGS: tuple[type[Config], ...] = (PipelineConfig, TrainerConfig, SearchConfig, ModelConfig)


_SECTIONS: dict[str, type[Config]] = {
    "model": ModelConfig,
    "pipeline": PipelineConfig,
    "trainer": TrainerConfig,
    "search": SearchConfig,
}


@dataclasses.dataclass(frozen=True, eq=False)
class RunConfig(Mapping[str, Any]):
    """A run's whole configuration, typed: one section per part of nwsrec.

    Resolved once from the flat wire format (:meth:`from_params`); past that point each
    part reads its own section (``config.trainer.train_steps``,
    ``config.search.width_selection``, ...), already validated. The keys no section
    owns (a model's own knobs) are kept in ``extra``.

    A ``RunConfig`` is also a read-only mapping: the flat params it was resolved from,
    its values typed (:meth:`to_params`), so a model class or a function written for the
    flat params takes it as they are.

    Args:
        model: :class:`ModelConfig`.
        pipeline: :class:`PipelineConfig`.
        trainer: :class:`TrainerConfig`.
        search: :class:`SearchConfig`.
        extra: the keys of no section, as given.
        given: the section keys the flat params set (:meth:`to_params` writes these back).

    Example:
        >>> config = RunConfig.from_params({"train_steps": "20", "my_knob": 1})
        >>> config.trainer.train_steps, config.extra["my_knob"], config.search.nws_mode
        (20, 1, 'sample')
        >>> config.to_params()
        {'train_steps': 20, 'my_knob': 1}
        >>> RunConfig.from_params({"train_stepz": 5}, known=["train_steps"])
        Traceback (most recent call last):
        ...
        LookupError: `train_stepz` must be a param of the run. Received: train_stepz=5 ...
    """

    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    pipeline: PipelineConfig = dataclasses.field(default_factory=PipelineConfig)
    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)
    search: SearchConfig = dataclasses.field(default_factory=SearchConfig)
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    given: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for name, cls in _SECTIONS.items():
            if not isinstance(getattr(self, name), cls):
                raise _fail(name, f"a {cls.__name__}", getattr(self, name))
        owned = set(_owners())
        clash = sorted(owned & set(self.extra))
        if clash:
            raise ValueError(
                f"`extra` must hold only keys of no section. Received: {clash[0]!r} (a key "
                f"of {_owners()[clash[0]].__name__})"
            )
        unknown = sorted(set(self.given) - owned)
        if unknown:
            raise ValueError(f"`given` must name keys of the sections. Received: {unknown[0]!r}")
        object.__setattr__(self, "extra", dict(self.extra))
        flat = self._flat()
        object.__setattr__(self, "_wire", flat)

    @classmethod
    def from_params(
        cls, params: Mapping[str, Any], *, known: Iterable[str] | None = None
    ) -> RunConfig:
        """The config of flat params: every section read by type and validated once.

        Args:
            params: the flat params (``--param`` overrides applied, ``params.json``).
            known: the keys a run may have (a model's ``default_params()``); None
                accepts any key (a model's own knobs go to ``extra``).

        Raises:
            LookupError: a key not in ``known``, naming it (and a close match).
            ValueError: naming the key, for a value of the wrong type or out of range.
        """
        if isinstance(params, RunConfig):
            return params
        if known is not None:
            known = set(known)
            unknown = sorted(set(params) - known)
            if unknown:
                key = unknown[0]
                close = difflib.get_close_matches(key, sorted(known), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise LookupError(
                    f"`{key}` must be a param of the run. Received: {key}={params[key]!r}{hint}"
                )
        owners = _owners()
        sections = {name: config.from_params(params) for name, config in _SECTIONS.items()}
        extra = {key: value for key, value in params.items() if key not in owners}
        given = frozenset(key for key in params if key in owners)
        return cls(**sections, extra=extra, given=given)  # type: ignore[arg-type]

    def replace(self, **params: Any) -> RunConfig:
        """A new config with these flat params changed (validated like :meth:`from_params`).

        Example:
            >>> RunConfig.from_params({"search": False}).replace(search=True).search.search
            True
        """
        return RunConfig.from_params({**self.to_params(), **params})

    def for_search(self) -> RunConfig:
        """The config of a width search (``nwsrec search``): search mode, no fixed widths,
        trained to ``search_steps`` when set.

        Raises:
            ValueError: a ``width_selection`` on held-out records without ``holdout_every``.
        """
        search = self.search
        if search.width_selection != "argmax" and not self.trainer.holdout_every:
            raise ValueError(
                f"`width_selection={search.width_selection}` needs `holdout_every` >= 2 (the "
                f"records to select on). Received: holdout_every={self.trainer.holdout_every!r}"
            )
        steps = {"train_steps": search.search_steps} if search.search_steps else {}
        return self.replace(search=True, slot_dims=None, **steps)

    def for_training(self, slot_dims: Any = None) -> RunConfig:
        """The config of a training run at fixed widths (``slot_dims``; None: as set)."""
        dims = {} if slot_dims is None else {"slot_dims": slot_dims}
        return self.replace(search=False, **dims)

    def to_params(self, *, every_key: bool = False) -> dict[str, Any]:
        """The flat params (the wire format): the section keys it was given, typed, and
        the extra ones; with ``every_key``, every section key (defaults included)."""
        if every_key:
            out: dict[str, Any] = {}
            for name in _SECTIONS:
                out.update(getattr(self, name).to_params())
            return {**out, **copy.deepcopy(dict(self.extra))}
        return copy.deepcopy(self._wire)  # type: ignore[attr-defined]

    def _flat(self) -> dict[str, Any]:
        typed: dict[str, Any] = {}
        for name in _SECTIONS:
            typed.update(getattr(self, name).to_params())
        out = {key: typed[key] for key in _order(self.given)}
        out.update(copy.deepcopy(dict(self.extra)))
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RunConfig):
            return NotImplemented
        return all(
            getattr(self, f.name) == getattr(other, f.name) for f in dataclasses.fields(self)
        )

    __hash__ = None  # type: ignore[assignment]

    def __getitem__(self, key: str) -> Any:
        return self._wire[key]  # type: ignore[attr-defined]

    def __iter__(self) -> typing.Iterator[str]:
        return iter(self._wire)  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return len(self._wire)  # type: ignore[attr-defined]


def _owners() -> dict[str, type[Config]]:
    """``{key: the config owning it}`` over every section."""
    return {key: config for config in CONFIGS for key in config.keys()}


def _order(keys: Iterable[str]) -> list[str]:
    """Section keys in the order of the sections' fields."""
    wanted = set(keys)
    return [key for config in CONFIGS for key in config.keys() if key in wanted]


def check_known_keys(params: Mapping[str, Any], known: Iterable[str], *, what: str) -> None:
    """Raises ``LookupError`` for a key of ``params`` not in ``known``.

    Args:
        params: the keys to check (e.g. ``--param`` overrides).
        known: the keys a model runs with.
        what: the owner of the keys, for the message (e.g. ``"model 'ctr'"``).
    """
    known = sorted(known)
    unknown = sorted(set(params) - set(known))
    if unknown:
        close = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise LookupError(
            f"`--param` keys must be params of {what}. Received: {unknown[0]!r}{hint}; "
            f"known keys: {', '.join(known)}"
        )


def typed_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with the keys of every typed config read by type and validated.

    Raises:
        ValueError: naming the key, for a value of the wrong type or out of range.

    Example:
        >>> typed_params({"train_steps": "20", "model_knob": "x"})["train_steps"]
        20
    """
    out = dict(params)
    for config in CONFIGS:
        if any(key in params for key in config.keys()):
            typed = config.from_params(params).to_params()
            out.update({key: typed[key] for key in config.keys() if key in params})
    return out


def describe(params: Mapping[str, Any]) -> list[tuple[str, str, Any, str]]:
    """Every knob of a flat params mapping: ``(section, key, value, meaning)``.

    Keys of the typed configs get their meaning from the field; the others (a model's
    own params) are listed under ``"model"`` without one.

    Example:
        >>> describe({"train_steps": 5, "my_knob": 1})[0]
        ('training', 'train_steps', 5, 'the global step to train to')
    """
    rows = []
    owners = {key: config for config in CONFIGS for key in config.keys()}
    for key in params:
        config = owners.get(key)
        if config is None:
            rows.append(("model", key, params[key], ""))
        else:
            rows.append((config.section, key, params[key], config.docs()[key]))
    order = {config.section: i for i, config in enumerate(CONFIGS)}
    rows.sort(key=lambda row: (order.get(row[0], len(order)), row[1]))
    return rows
