"""CSV/TSV -> sharded TFRecord files of ``tf.train.Example`` plus the vocab-size TSV.

Each input row becomes one example:

- every *slot column* becomes ``slot_{id}_0``: its value's id, from a vocabulary built on
  the fly (ids 0, 1, 2, ... in order of first appearance, shared by all inputs of one
  call) or, with ``hash_size``, ``crc32(value) % hash_size``. A *multi-valued* column is
  split on its separator first (one id per non-empty part). An empty cell gives no id.
- the *label column* becomes ``label`` (one float).
- the *dense columns* become ``dense``, one float per column, in the order given.

Cells are stripped of surrounding whitespace. Written into ``out_dir``::

    {stem}-00000-of-0000N.tfrecord[.gz] ...   one set of shards per input file, or with
                       ``test_fraction``: train-* and test-* (a seeded split of all rows)
    vocab.tsv          slot<TAB>count header, then slot_id<TAB>vocab size per slot (the
                       values + 1 out-of-vocabulary row, or hash_size): what
                       ``read_vocab_file`` reads
    vocabularies.json  {"slot_id": [value of id 0, value of id 1, ...]} (built vocabs only;
                       the out-of-vocabulary id of a slot is the length of its list)
    id_counts.npz      training records holding each id, per slot (nwsrec.data.counts)
    one_id_slots.json  per file, the slots with one id in every record: the input
                       pipeline parses those as one fixed id (nwsrec.data.one_id)

Convert the training and evaluation files in one call so they share the vocabulary, or
later files with ``vocab_from`` (the directory of the first conversion): their values
map to the same ids, and a value it does not hold to the slot's out-of-vocabulary id.
Writing into a directory that already holds data is an error unless ``overwrite``
(which first removes its TFRecord files and vocabulary files).

Example:
    >>> import pathlib, tempfile
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (tmp / "train.csv").write_text("user,genres,clicked\\nann,a|b,1\\nbob,b,0\\n")
    >>> result = convert_csv(tmp / "train.csv", tmp / "out", slots={"user": 1, "genres": 2},
    ...                      multi={"genres": "|"}, label="clicked")
    >>> result.num_rows, result.vocab_sizes  # 2 values + the out-of-vocabulary row
    (2, {1: 3, 2: 3})
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import os
import random
import re
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TextIO

from nwsrec.checks import is_int
from nwsrec.data.counts import ID_COUNTS_FILE, IdCounter, write_id_counts
from nwsrec.data.one_id import ONE_ID_FILE
from nwsrec.data.writer import (
    ShardedExampleWriter,
    join_features,
    serialize_feature,
)
from nwsrec.files import write_text_atomic

__all__ = ["ConvertProgress", "ConvertResult", "convert_csv"]

logger = logging.getLogger(__name__)

Column = str | int

VOCAB_FILE = "vocab.tsv"
VOCABULARIES_FILE = "vocabularies.json"
_CACHE_LIMIT = 100_000  # encoded cells kept per column


@dataclasses.dataclass(frozen=True)
class ConvertProgress:
    """Where a conversion stands, given to the ``progress`` callback.

    Attributes:
        path: the input being read.
        rows: rows converted so far, over all inputs.
        seconds: time since the conversion started.
        done: ``True`` for the last report.
    """

    path: str
    rows: int
    seconds: float
    done: bool = False

    @property
    def rows_per_second(self) -> float:
        """Mean throughput so far."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclasses.dataclass(frozen=True)
class ConvertResult:
    """What :func:`convert_csv` wrote.

    Attributes:
        files: every TFRecord file, input by input, in shard order.
        files_per_input: input path -> its TFRecord files.
        rows_per_input: input path -> rows converted.
        vocab_path: the vocab-size TSV.
        vocab_sizes: ``{slot_id: vocab size}`` as written to it.
        vocabularies_path: the JSON of the built vocabularies (``None`` when hashing).
        seconds: wall time of the conversion.
        oov_per_slot: ``{slot_id: cells mapped to the out-of-vocabulary id}`` (only
            with ``vocab_from``: a vocabulary built here holds every value it sees).
        id_counts_path: ``id_counts.npz`` (training records per id, see
            :mod:`nwsrec.data.counts`).
        rows_per_split: ``{"train": rows, "test": rows}`` with ``test_fraction``, else
            ``{}``.
    """

    files: list[str]
    files_per_input: dict[str, list[str]]
    rows_per_input: dict[str, int]
    vocab_path: str
    vocab_sizes: dict[int, int]
    vocabularies_path: str | None
    seconds: float
    oov_per_slot: dict[int, int] = dataclasses.field(default_factory=dict)
    id_counts_path: str | None = None
    rows_per_split: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def num_rows(self) -> int:
        """Rows converted, over all inputs (= examples written)."""
        return sum(self.rows_per_input.values())


def _default_delimiter(path: str) -> str:
    lowered = path.lower()
    for suffix in (".gz", ".bz2", ".xz"):
        lowered = lowered.removesuffix(suffix)
    return "\t" if lowered.endswith((".tsv", ".tab")) else ","


def _stem(path: str) -> str:
    name = os.path.basename(path)
    for suffix in (".gz", ".bz2", ".xz", ".csv", ".tsv", ".tab", ".txt"):
        name = name.removesuffix(suffix)
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "part"


def _open_text(path: str) -> TextIO:
    if path.endswith(".gz"):
        import gzip

        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")  # -sig: a leading BOM is not a column


class _CheckedReader:
    """A ``csv.reader`` whose errors name the file and the line the bad row starts on.

    ``line_num`` is the first line of the row last read (``csv.reader``'s is its last),
    so a quote that is never closed is reported where it was opened, not hundreds of
    lines later; an undecodable byte, a field over ``csv.field_size_limit()`` and
    ``csv.Error`` become ``ValueError`` naming the file and line.
    """

    def __init__(self, path: str, reader: Any) -> None:
        self.path = path
        self._reader = reader
        self.line_num = 0

    def __iter__(self) -> _CheckedReader:
        return self

    def __next__(self) -> list[str]:
        start = self._reader.line_num + 1
        try:
            fields = next(self._reader)
        except UnicodeDecodeError as err:
            line, byte = _first_non_utf8(self.path)
            raise ValueError(
                f"{self.path}:{line or '?'}: a CSV file must be UTF-8 text. Received: byte "
                f"{byte or err.object[err.start : err.start + 1]!r} that is not UTF-8"
            ) from None
        except csv.Error as err:
            raise ValueError(self._describe(start, str(err))) from None
        self.line_num = start
        if self._reader.line_num - start > _MULTILINE_LIMIT:
            raise ValueError(
                self._describe(start, f"a row spans {self._reader.line_num - start + 1} lines")
            )
        return fields

    def _describe(self, start: int, what: str) -> str:
        end = self._reader.line_num
        if end > start:
            return (
                f"{self.path}:{start}: a quoted field must be closed. Received: a quote opened "
                f"on line {start} is still open on line {end} ({what})"
            )
        if "field limit" in what:
            return (
                f"{self.path}:{start}: a field must hold at most {csv.field_size_limit()} "
                f"characters. Received: a longer field ({what})"
            )
        return f"{self.path}:{start}: the row must be valid CSV. Received: {what}"


def _first_non_utf8(path: str) -> tuple[int | None, bytes | None]:
    """The line and byte of the first text that is not UTF-8 (read again, on error only)."""
    opener: Any = open
    if path.endswith(".gz"):
        import gzip

        opener = gzip.open
    with opener(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as err:
                return number, raw[err.start : err.start + 1]
    return None, None


# A quoted field may hold newlines; a row longer than this many lines is an unclosed quote.
_MULTILINE_LIMIT = 100


class _OneIdSlots:
    """The slots with exactly one id in every row added (``one_id_slots.json``)."""

    def __init__(self, slot_ids: Iterable[int]) -> None:
        self.slot_ids = set(slot_ids)
        self.other: set[int] = set()

    def add(self, row_ids: Mapping[int, Sequence[int]]) -> None:
        if len(self.other) < len(self.slot_ids):
            self.other.update(s for s, ids in row_ids.items() if len(ids) != 1)

    def features(self) -> list[str]:
        return [f"slot_{s}_0" for s in sorted(self.slot_ids - self.other)]


class _Vocabulary:
    """Value -> id of one slot: built on the fly, frozen (``--vocab-from``), or hashed.

    A built vocabulary has one more row than values: id ``len(values)`` is the slot's
    out-of-vocabulary id, which a frozen vocabulary gives every value it does not hold.
    """

    def __init__(self, hash_size: int | None, frozen: Sequence[str] | None = None) -> None:
        self.hash_size = hash_size
        self.ids: dict[str, int] = {}
        self.frozen = frozen is not None
        self.oov = 0  # cells mapped to the out-of-vocabulary id
        for value in frozen or ():
            self.ids.setdefault(value, len(self.ids))

    def id_of(self, value: str) -> int:
        if self.hash_size is not None:
            return zlib.crc32(value.encode("utf-8")) % self.hash_size
        found = self.ids.get(value)
        if found is None:
            if self.frozen:
                self.oov += 1
                return len(self.ids)
            found = self.ids[value] = len(self.ids)
        return found

    @property
    def size(self) -> int:
        """Rows of the slot's tables: the values plus the out-of-vocabulary row."""
        return self.hash_size if self.hash_size is not None else len(self.ids) + 1

    def values(self) -> list[str]:
        return list(self.ids)


@dataclasses.dataclass(frozen=True)
class _Plan:
    """Column positions of one input, resolved against its header."""

    slots: list[tuple[int, int, str | None]]  # (column index, slot id, separator)
    label: int
    dense: list[int]
    num_columns: int | None  # expected fields per row (header width), None without header


def _resolve(
    path: str,
    header: list[str] | None,
    slots: Mapping[Column, int],
    label: Column,
    multi: Mapping[Column, str],
    dense: Sequence[Column],
) -> _Plan:
    def index_of(column: Column, what: str) -> int:
        if header is None:
            if not is_int(column) or column < 0:
                raise ValueError(
                    f"{path}: without a header, `{what}` columns must be 0-based indices. "
                    f"Received: {what}={column!r}"
                )
            return column
        if is_int(column):
            if not 0 <= column < len(header):
                raise ValueError(
                    f"{path}: `{what}` column index must be below the {len(header)} header "
                    f"columns. Received: {what}={column!r}"
                )
            return column
        if column not in header:
            raise LookupError(
                f"{path}:1: `{what}` column must be in the header {header}. "
                f"Received: {what}={column!r}"
            )
        return header.index(column)

    slot_columns = []
    for column, slot_id in slots.items():
        separator = multi.get(column)
        slot_columns.append((index_of(column, "slot"), slot_id, separator))
    return _Plan(
        slots=slot_columns,
        label=index_of(label, "label"),
        dense=[index_of(column, "dense") for column in dense],
        num_columns=None if header is None else len(header),
    )


def _float_cell(path: str, line: int, what: str, text: str, default: float | None) -> float:
    if not text:
        if default is None:
            raise ValueError(
                f"{path}:{line}: `{what}` must be a number (set a dense default for empty "
                f"cells). Received: {what}=''"
            )
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(
            f"{path}:{line}: `{what}` must be a number. Received: {what}={text!r}"
        ) from None
    if not math.isfinite(value):
        raise ValueError(f"{path}:{line}: `{what}` must be finite. Received: {what}={text!r}")
    return value


def _records(
    path: str,
    reader: Iterator[list[str]],
    line_of: Callable[[], int],
    plan: _Plan,
    vocabularies: Mapping[int, _Vocabulary],
    dense_names: Sequence[str],
    dense_default: float | None,
) -> Iterator[tuple[bytes, dict[int, list[int]]]]:
    """Serialized examples of the rows and each row's ids per slot. Each distinct cell of
    a slot (or label) column is encoded once and its bytes reused (up to ``_CACHE_LIMIT``
    cells per column; a frozen vocabulary counts its out-of-vocabulary cells each time)."""
    needed = 1 + max([plan.label, *plan.dense, *(c for c, _, _ in plan.slots)])
    # (column, separator, vocabulary, feature name, {cell: (bytes, ids)}, slot id)
    slots: list[
        tuple[int, str | None, _Vocabulary, str, dict[str, tuple[bytes, list[int]]], int]
    ] = [
        (column, separator, vocabularies[slot_id], f"slot_{slot_id}_0", {}, slot_id)
        for column, slot_id, separator in plan.slots
    ]
    labels: dict[str, bytes] = {}
    for fields in reader:
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # a blank line
        if len(fields) != plan.num_columns and (
            plan.num_columns is not None or len(fields) < needed
        ):
            line, expected = line_of(), plan.num_columns
            what = f"the header's {expected}" if expected is not None else f"at least {needed}"
            raise ValueError(
                f"{path}:{line}: each row must have {what} fields. Received: {len(fields)} fields"
            )
        entries = []
        row_ids: dict[int, list[int]] = {}
        for column, separator, vocabulary, name, cache, slot_id in slots:
            cell = fields[column].strip()
            cached = cache.get(cell)
            if cached is None:
                if separator is None:
                    ids = [vocabulary.id_of(cell)] if cell else []
                else:
                    parts = (part.strip() for part in cell.split(separator))
                    ids = [vocabulary.id_of(part) for part in parts if part]
                cached = (serialize_feature(name, ids), ids)
                oov = vocabulary.frozen and len(vocabulary.ids) in ids
                if len(cache) < _CACHE_LIMIT and not oov:
                    cache[cell] = cached
            entries.append(cached[0])
            row_ids[slot_id] = cached[1]
        cell = fields[plan.label].strip()
        entry = labels.get(cell)
        if entry is None:
            value = _float_cell(path, line_of(), "label", cell, None)
            entry = serialize_feature("label", value)
            if len(labels) < _CACHE_LIMIT:
                labels[cell] = entry
        entries.append(entry)
        if plan.dense:
            values = [
                _float_cell(path, line_of(), name, fields[column].strip(), dense_default)
                for column, name in zip(plan.dense, dense_names, strict=True)
            ]
            entries.append(serialize_feature("dense", values))
        yield join_features(entries), row_ids


def _check_arguments(
    slots: Mapping[Column, int],
    multi: Mapping[Column, str],
    dense: Sequence[Column],
    hash_size: int | None,
    label: Column,
) -> None:
    if not isinstance(slots, Mapping) or not slots:
        raise ValueError(
            f"`slots` must map at least one column to a slot id. Received: slots={slots!r}"
        )
    seen: dict[int, Column] = {}
    for column, slot_id in slots.items():
        if not is_int(slot_id) or slot_id < 0:
            raise ValueError(
                f"`slots` must map columns to slot ids >= 0. Received: {column!r}={slot_id!r}"
            )
        if slot_id in seen:
            raise ValueError(
                f"each slot id must come from one column; slot {slot_id} is given to "
                f"{seen[slot_id]!r} and {column!r}. Received: slots={dict(slots)!r}"
            )
        seen[slot_id] = column
    for column, separator in multi.items():
        if column not in slots:
            raise ValueError(
                f"`multi` columns must also be slot columns. Received: multi column {column!r}"
            )
        if not isinstance(separator, str) or not separator:
            raise ValueError(
                f"`multi` separators must be non-empty strings. Received: {column!r}={separator!r}"
            )
    if hash_size is not None and (not is_int(hash_size) or hash_size < 1):
        raise ValueError(f"`hash_size` must be None or an integer >= 1. Received: {hash_size!r}")
    overlap = ({label} | set(dense)) & set(slots)
    if overlap or label in dense:
        raise ValueError(
            f"a column must be one of slot, label or dense. Received: label={label!r}, "
            f"dense={list(dense)!r}, slots={list(slots)!r}"
        )


_DATA_FILE = re.compile(r"^.+-\d{5}-of-\d{5}\.tfrecord(\.gz)?$")
_OWN_FILES = (VOCAB_FILE, VOCABULARIES_FILE, ID_COUNTS_FILE, ONE_ID_FILE)


def _prepare_out_dir(out_dir: str, overwrite: bool) -> None:
    """Refuse to mix with an earlier conversion's files; with ``overwrite`` remove them."""
    if not os.path.isdir(out_dir):
        return
    existing = sorted(n for n in os.listdir(out_dir) if _DATA_FILE.match(n) or n in _OWN_FILES)
    if not existing:
        return
    if not overwrite:
        raise FileExistsError(
            f"`out_dir` must not hold data already (its shards would mix with the new ones; "
            f"pass --overwrite to replace them, or use another --out). Received: "
            f"out_dir={out_dir!r} with {', '.join(existing[:3])}"
            f"{' ...' if len(existing) > 3 else ''}"
        )
    for name in existing:
        os.remove(os.path.join(out_dir, name))
    logger.info("%s: removed %d files of an earlier conversion", out_dir, len(existing))


def _frozen_vocabularies(
    vocab_from: str, slots: Mapping[Column, int], hash_size: int | None
) -> dict[int, list[str]] | None:
    """The vocabularies of an earlier conversion, per slot (None when hashing)."""
    vocab_path = os.path.join(vocab_from, VOCAB_FILE)
    if not os.path.isfile(vocab_path):
        raise FileNotFoundError(
            f"`vocab_from` must be the directory of an earlier conversion (with "
            f"{VOCAB_FILE}). Received: vocab_from={vocab_from!r}"
        )
    if hash_size is not None:
        return None
    path = os.path.join(vocab_from, VOCABULARIES_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"`vocab_from` must hold {VOCABULARIES_FILE} (a conversion that hashed its "
            f"values has none: pass the same --hash-size instead). Received: "
            f"vocab_from={vocab_from!r}"
        )
    with open(path, encoding="utf-8") as handle:
        try:
            payload = json.load(handle)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: must be JSON ({err}). Received: a broken file") from None
    out = {}
    for column, slot_id in slots.items():
        values = payload.get(str(slot_id)) if isinstance(payload, dict) else None
        if not isinstance(values, list):
            raise LookupError(
                f"{path}: must hold the vocabulary of slot {slot_id} (column {column!r}). "
                f"Received: slots {sorted(payload) if isinstance(payload, dict) else payload!r}"
            )
        out[slot_id] = [str(v) for v in values]
    return out


def convert_csv(
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    slots: Mapping[Column, int],
    label: Column,
    multi: Mapping[Column, str] | None = None,
    dense: Sequence[Column] = (),
    dense_default: float | None = None,
    hash_size: int | None = None,
    num_shards: int = 1,
    gzip: bool = False,
    delimiter: str | None = None,
    has_header: bool = True,
    progress: Callable[[ConvertProgress], None] | None = None,
    progress_every: int = 100_000,
    test_fraction: float | None = None,
    seed: int = 0,
    vocab_from: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> ConvertResult:
    """Convert CSV/TSV files into sharded TFRecord files, vocab.tsv and id_counts.npz.

    Args:
        inputs: one path or several (``.gz`` is read compressed); each gives the shards
            ``{stem}-*-of-*.tfrecord`` (``train.csv`` -> ``train-00000-of-00004.tfrecord``).
        out_dir: the output directory (created if missing).
        slots: categorical column -> slot id (column names, or 0-based indices).
        label: the label column.
        multi: multi-valued slot column -> separator (e.g. ``{"genres": "|"}``).
        dense: dense float columns, written as the float list feature ``dense``.
        dense_default: value of an empty dense cell; ``None`` makes it an error.
        hash_size: hash values into this many ids instead of building vocabularies.
        num_shards: files per input (per split with ``test_fraction``); row ``k`` goes
            to shard ``k % num_shards``.
        gzip: gzip the TFRecord files.
        delimiter: field separator; default tab for ``.tsv``/``.tab``, else comma.
        has_header: the first line names the columns (else columns are indices).
        progress: called every ``progress_every`` rows and once at the end.
        progress_every: rows between progress reports.
        test_fraction: hold this fraction of the rows (0 < F < 1) out as ``test-*``, the
            rest ``train-*``: each row by a draw of ``random.Random(seed)``, in input order.
        seed: the split's seed.
        vocab_from: the directory of an earlier conversion whose ``vocabularies.json``
            (and ``vocab.tsv``) to reuse unchanged; unknown values map to the slot's
            out-of-vocabulary id, counted in ``oov_per_slot``.
        overwrite: replace the TFRecord and vocabulary files already in ``out_dir``.

    Returns:
        A :class:`ConvertResult`.

    Raises:
        ValueError: for bad arguments, or naming the file and line of a bad row (wrong
            field count, label or dense cell that is not a finite number).
        LookupError: naming the file, for a column missing from its header, or a slot
            missing from ``vocab_from``.
        FileNotFoundError: for a missing input or ``vocab_from`` file.
        FileExistsError: ``out_dir`` holds data and ``overwrite`` is False.
    """
    paths = (
        [os.fspath(inputs)]
        if isinstance(inputs, (str, os.PathLike))
        else [os.fspath(p) for p in inputs]
    )
    if not paths:
        raise ValueError("`inputs` must name at least one CSV/TSV file. Received: inputs=[]")
    multi = dict(multi or {})
    dense = list(dense)
    _check_arguments(slots, multi, dense, hash_size, label)
    if not is_int(progress_every) or progress_every < 1:
        raise ValueError(f"`progress_every` must be an integer >= 1. Received: {progress_every!r}")
    if test_fraction is not None and (
        isinstance(test_fraction, bool)
        or not isinstance(test_fraction, (int, float))
        or not 0.0 < test_fraction < 1.0
    ):
        raise ValueError(
            f"`test_fraction` must be a number in (0, 1). Received: test_fraction={test_fraction!r}"
        )
    if not is_int(seed):
        raise ValueError(f"`seed` must be an integer. Received: seed={seed!r}")
    prefixes = [_stem(p) for p in paths]
    if test_fraction is None and len(set(prefixes)) != len(prefixes):
        raise ValueError(
            f"`inputs` must have distinct file names (they name the shards). Received: {paths}"
        )
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"`inputs` must be existing files. Received: {path!r}")
    out_dir = os.fspath(out_dir)
    frozen = None
    if vocab_from is not None:
        frozen = _frozen_vocabularies(os.fspath(vocab_from), slots, hash_size)
        if os.path.abspath(os.fspath(vocab_from)) == os.path.abspath(out_dir):
            raise ValueError(
                f"`vocab_from` must be another directory than `out_dir` (its vocabulary "
                f"would be replaced). Received: vocab_from={os.fspath(vocab_from)!r}"
            )
    _prepare_out_dir(out_dir, overwrite)

    vocabularies = {
        slot_id: _Vocabulary(hash_size, None if frozen is None else frozen[slot_id])
        for slot_id in slots.values()
    }
    counter = IdCounter(vocabularies)
    dense_names = [str(column) for column in dense]
    import tensorflow  # noqa: F401  (the writer needs it: load it before the clock starts)

    start = time.perf_counter()
    total = 0
    files_per_input: dict[str, list[str]] = {}
    rows_per_input: dict[str, int] = {}
    rows_per_split: dict[str, int] = {}
    split = None
    writers: dict[str, ShardedExampleWriter] = {}
    if test_fraction is not None:
        split = random.Random(int(seed))
        writers = {
            name: ShardedExampleWriter(out_dir, prefix=name, num_shards=num_shards, gzip=gzip)
            for name in ("train", "test")
        }
        for writer in writers.values():
            writer.__enter__()
    split_one_id = {name: _OneIdSlots(slots.values()) for name in writers}
    try:
        for path, prefix in zip(paths, prefixes, strict=True):
            separator = delimiter if delimiter is not None else _default_delimiter(path)
            with _open_text(path) as handle:
                reader = _CheckedReader(path, csv.reader(handle, delimiter=separator))
                header = None
                if has_header:
                    header = [name.strip() for name in next(reader, [])]
                    if not header:
                        raise ValueError(
                            f"{path}:1: the header must name the columns. Received: ''"
                        )
                plan = _resolve(path, header, slots, label, multi, dense)

                def line_of(r: _CheckedReader = reader) -> int:
                    return r.line_num

                records = _records(
                    path,
                    reader,
                    line_of,
                    plan,
                    vocabularies,
                    dense_names,
                    dense_default,
                )
                rows = 0
                if split is None or test_fraction is None:  # both None or neither
                    with ShardedExampleWriter(
                        out_dir, prefix=prefix, num_shards=num_shards, gzip=gzip
                    ) as writer:
                        one_id = _OneIdSlots(slots.values())
                        for record, row_ids in records:
                            writer.write_serialized(record)
                            counter.add(row_ids)
                            one_id.add(row_ids)
                            total += 1
                            rows += 1
                            if progress is not None and total % progress_every == 0:
                                progress(ConvertProgress(path, total, time.perf_counter() - start))
                        writer.declare_one_id(one_id.features())
                    files_per_input[path] = list(writer.paths)
                else:
                    for record, row_ids in records:
                        if split.random() < test_fraction:
                            writers["test"].write_serialized(record)
                            split_one_id["test"].add(row_ids)
                        else:
                            writers["train"].write_serialized(record)
                            split_one_id["train"].add(row_ids)
                            counter.add(row_ids)
                        total += 1
                        rows += 1
                        if progress is not None and total % progress_every == 0:
                            progress(ConvertProgress(path, total, time.perf_counter() - start))
            rows_per_input[path] = rows
            logger.info("%s: %d rows", path, rows)
    finally:
        for name, writer in writers.items():
            writer.declare_one_id(split_one_id[name].features())
            writer.__exit__(None, None, None)
    if split is not None:
        for name, writer in writers.items():
            files_per_input[name] = list(writer.paths)
            rows_per_split[name] = writer.num_rows

    vocab_sizes = {slot_id: vocabularies[slot_id].size for slot_id in sorted(vocabularies)}
    for slot_id, size in vocab_sizes.items():
        if size == 0:
            logger.warning("slot %d has no value in any row: vocab size 0", slot_id)
    vocab_path = os.path.join(out_dir, VOCAB_FILE)
    write_text_atomic(
        vocab_path,
        "slot\tcount\n" + "".join(f"{s}\t{n}\n" for s, n in vocab_sizes.items()),
    )
    vocabularies_path = None
    if hash_size is None:
        vocabularies_path = os.path.join(out_dir, VOCABULARIES_FILE)
        payload = {str(s): vocabularies[s].values() for s in sorted(vocabularies)}
        write_text_atomic(vocabularies_path, json.dumps(payload, ensure_ascii=False))
    counts_path = write_id_counts(
        out_dir, counter.arrays(vocab_sizes), num_records=counter.num_records
    )
    seconds = time.perf_counter() - start
    if progress is not None:
        progress(ConvertProgress(paths[-1], total, seconds, done=True))
    return ConvertResult(
        files=[f for files in files_per_input.values() for f in files],
        files_per_input=files_per_input,
        rows_per_input=rows_per_input,
        vocab_path=vocab_path,
        vocab_sizes=vocab_sizes,
        vocabularies_path=vocabularies_path,
        seconds=seconds,
        oov_per_slot=(
            {s: vocabularies[s].oov for s in sorted(vocabularies)} if frozen is not None else {}
        ),
        id_counts_path=counts_path,
        rows_per_split=rows_per_split,
    )
