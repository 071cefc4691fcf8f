"""Finding bad data files: which file, which record, and what is wrong.

- :class:`FileProblem`, :class:`DataFileError`: what is wrong with one file, and the
  error that names it.
- :func:`check_files`: read every record of some files and report the bad ones.
- :func:`tf_message`: TensorFlow's error message without its op noise.

Errors raised inside a running ``tf.data`` iterator come from TensorFlow without a
file name; :meth:`nwsrec.data.pipeline.InputFn.diagnose` uses this module to find it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import tensorflow as tf

from nwsrec.data.files import detect_compression, list_files, normalize_compression

__all__ = [
    "DataFileError",
    "FileProblem",
    "check_files",
    "check_vocab_slots",
    "file_key",
    "find_id_out_of_range",
    "missing_features",
    "present_features",
    "record_slots",
    "scan_file",
    "scan_files",
    "tf_message",
]

_SCAN_BATCH = 4096
_T = TypeVar("_T")
# A feature no file has: parsing with it checks a record's wire format and nothing else.
_WIRE_CHECK_SPEC = {"__nwsrec_wire_check__": tf.io.VarLenFeature(tf.string)}


@dataclasses.dataclass(frozen=True)
class FileProblem:
    """What is wrong with one file.

    Attributes:
        path: the file.
        kind: ``"corrupt"`` (bad CRC, truncated, undecompressable), ``"not_example"``
            (a record that is not a ``tf.train.Example``), ``"feature"`` (a feature of
            the feature map missing or of another type) or ``"unreadable"``.
        record: 0-based index of the first bad record (``None`` when unknown).
        detail: TensorFlow's own words about it.
    """

    path: str
    kind: str
    record: int | None
    detail: str

    @property
    def is_corrupt(self) -> bool:
        """Whether the file itself is damaged (what ``skip_corrupt_files`` leaves out)."""
        return self.kind in ("corrupt", "not_example", "unreadable")

    def describe(self) -> str:
        """One line: file, record and what is wrong."""
        where = self.path if self.record is None else f"{self.path}: record {self.record}"
        what = {
            "corrupt": "is corrupt (bad CRC, truncated or undecompressable)",
            "not_example": "is not a tf.train.Example",
            "feature": "does not match the feature map",
            "unreadable": "cannot be read",
        }.get(self.kind, self.kind)
        return f"{where} {what}: {self.detail}"


class DataFileError(ValueError):
    """A data file the pipeline cannot read; ``problem`` says which file and record."""

    def __init__(self, problem: FileProblem, file_pattern: str | None = None) -> None:
        self.problem = problem
        received = f"file_pattern={file_pattern!r}" if file_pattern else f"file={problem.path!r}"
        super().__init__(
            f"Files of the input pipeline must hold valid tf.train.Example records matching "
            f"the feature map; {problem.describe()}. Received: {received}"
        )


_TF_NOISE = (
    re.compile(r"\{\{function_node [^}]*\}\}\s*"),
    re.compile(r"\s*\[Op:[^\]]*\].*$"),
    re.compile(r"^Name: <unknown>, "),
)


def tf_message(error: BaseException) -> str:
    """TensorFlow's message without the function-node prefix and op suffix."""
    if isinstance(error, UnicodeDecodeError):  # TF failed to decode its own message
        return "Could not parse example input (binary bytes, not a tf.train.Example)"
    text = getattr(error, "message", None) or str(error)
    for pattern in _TF_NOISE:
        text = pattern.sub("", text)
    return " ".join(text.split())[:400].rstrip(". ")


def present_features(records: tf.Tensor, names: Sequence[str]) -> tf.Tensor:
    """Whether each serialized ``tf.train.Example`` holds each feature: bool ``[B, N]``.

    ``tf.io.parse_example`` reads a missing ``VarLenFeature`` as an empty list, the same as
    a present empty one; this reads the records' feature names (three ``decode_proto``
    ops over the batch), so it tells them apart.

    Example:
        >>> record = tf.train.Example(features=tf.train.Features(feature={
        ...     "a": tf.train.Feature(int64_list=tf.train.Int64List(value=[]))}))
        >>> present_features(tf.constant([record.SerializeToString()]), ["a", "b"]).numpy()
        array([[ True, False]])
    """
    records = tf.reshape(records, [-1])
    # Example's field 1 (its Features) may come in several chunks that a parser merges
    # (nwsrec's writer writes one per feature): read every chunk, as the repeated field 1
    # of a Features message (the same wire type), then each chunk's entries and keys.
    _, (chunks,) = tf.io.decode_proto(
        records, "tensorflow.Features", ["feature"], [tf.string]
    )  # [B, C]
    _, (entries,) = tf.io.decode_proto(
        chunks, "tensorflow.Features", ["feature"], [tf.string]
    )  # [B, C, K]
    _, (keys,) = tf.io.decode_proto(
        entries, "tensorflow.Features.FeatureEntry", ["key"], [tf.string]
    )  # [B, C, K, 1]
    keys = tf.reshape(
        tf.pad(keys, [[0, 0], [0, 0], [0, 0], [0, 1]])[..., 0], [tf.shape(records)[0], -1]
    )
    wanted = tf.constant(list(names), tf.string)
    return tf.reduce_any(tf.equal(keys[:, :, tf.newaxis], wanted[tf.newaxis, tf.newaxis]), axis=1)


def missing_features(records: tf.Tensor, names: Sequence[str]) -> tuple[int, str] | None:
    """The first (record index, feature name) of a batch that lacks one of ``names``."""
    if not names:
        return None
    absent = tf.where(tf.logical_not(present_features(records, names))).numpy()
    if not absent.size:
        return None
    record, feature = (int(x) for x in absent[0])
    return record, list(names)[feature]


def file_key(path: str) -> tuple[str, int, int]:
    """``(path, size, mtime)``: a scan of a file is valid while this is unchanged."""
    stat = tf.io.gfile.stat(path)
    return (path, int(stat.length), int(stat.mtime_nsec))


def _bad_record_in(records: Sequence[bytes], spec: Mapping[str, Any]) -> tuple[int, str, str]:
    """The first record of a batch that fails to parse: (index, kind, detail)."""
    for index, record in enumerate(records):
        try:
            tf.io.parse_example([record], _WIRE_CHECK_SPEC)
        except (tf.errors.OpError, UnicodeDecodeError) as err:
            return index, "not_example", tf_message(err)
        try:
            tf.io.parse_example([record], dict(spec))
        except (tf.errors.OpError, UnicodeDecodeError) as err:
            return index, "feature", tf_message(err)
    return len(records), "feature", "the batch failed to parse, but no single record did"


def _count_until_error(path: str, compression: str, start: int) -> int:
    """Index of the record whose read fails, reading one at a time from ``start``."""
    index = start
    with contextlib.suppress(tf.errors.OpError):  # the first record that fails to read
        for _ in tf.data.TFRecordDataset(path, compression_type=compression).skip(start):
            index += 1
    return index


def _parses_cleanly(
    path: str, spec: Mapping[str, Any], compression: str, required: Sequence[str] = ()
) -> bool:
    """Whether every record of the file reads and parses (and holds every ``required``
    feature): one C++ pass, no Python per batch."""

    def parsed_size(records: tf.Tensor) -> tf.Tensor:
        first = tf.nest.flatten(tf.io.parse_example(records, dict(spec)), expand_composites=True)
        size = tf.cast(tf.size(first[0]), tf.int64)  # depends on the parse: it is not pruned
        if required:
            complete = tf.reduce_all(present_features(records, required))
            size = tf.where(complete, size, tf.constant(-(1 << 62), tf.int64))
        return size

    dataset = tf.data.TFRecordDataset(path, compression_type=compression).batch(_SCAN_BATCH)
    try:
        total = dataset.map(parsed_size).reduce(tf.constant(0, tf.int64), lambda a, b: a + b)
    except (tf.errors.OpError, UnicodeDecodeError):
        return False
    return int(total) >= 0


def _locate_problem(
    path: str, spec: Mapping[str, Any], compression: str, required: Sequence[str] = ()
) -> FileProblem | None:
    """Read the file batch by batch in Python to find its first bad record and say why."""
    read = 0
    try:
        iterator = iter(tf.data.TFRecordDataset(path, compression_type=compression).batch(256))
    except tf.errors.OpError as err:
        return FileProblem(path, "unreadable", None, tf_message(err))
    while True:
        try:
            records = next(iterator)
        except StopIteration:
            return None
        except tf.errors.DataLossError as err:
            detail = tf_message(err)
            if compression == "" and read == 0 and "corrupted record at 0" in detail:
                detail += " (a compressed file? set compression_type)"
            return FileProblem(path, "corrupt", _count_until_error(path, compression, read), detail)
        except tf.errors.OpError as err:
            return FileProblem(path, "unreadable", read, tf_message(err))
        try:
            tf.io.parse_example(records, dict(spec))
        except (tf.errors.OpError, UnicodeDecodeError):
            offset, kind, detail = _bad_record_in(records.numpy().tolist(), spec)
            return FileProblem(path, kind, read + offset, detail)
        missing = missing_features(records, required)
        if missing is not None:
            offset, name = missing
            return FileProblem(
                path,
                "feature",
                read + offset,
                f"feature {name!r} is missing (set --param missing_features=empty to read a "
                "missing feature as an empty id list)",
            )
        read += int(records.shape[0])


def scan_file(
    path: str,
    spec: Mapping[str, Any] | None,
    compression: str,
    required: Sequence[str] = (),
) -> FileProblem | None:
    """Read (and parse with ``spec``, or check the wire format) every record of one file.

    ``required``: features every record must hold (a missing ``VarLenFeature`` parses as
    an empty list; see :func:`present_features`).
    """
    check_spec = dict(spec) if spec else _WIRE_CHECK_SPEC
    required = tuple(required) if spec else ()
    try:
        if _parses_cleanly(path, check_spec, compression, required):
            return None
    except tf.errors.OpError as err:  # e.g. the file vanished
        return FileProblem(path, "unreadable", None, tf_message(err))
    return _locate_problem(path, check_spec, compression, required)


def scan_files(jobs: Sequence[tuple[str, str]], scan: Callable[[str, str], _T]) -> list[_T]:
    """``scan(path, compression)`` of every job, files in parallel (TF releases the GIL)."""
    workers = min(len(jobs), os.cpu_count() or 1)
    if workers <= 1:
        return [scan(path, compression) for path, compression in jobs]
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="nwsrec-scan") as pool:
        return list(pool.map(lambda job: scan(*job), jobs))


def check_files(
    files: str | Sequence[str],
    *,
    feature_map: Mapping[str, Any] | None = None,
    compression_type: str | None = "auto",
    stop_at_first: bool = False,
) -> list[FileProblem]:
    """Read every record of the files and report the bad ones (at most one problem each).

    Without ``feature_map`` only the records are checked (CRC, truncation, and that each
    is a ``tf.train.Example``); with it every record is also parsed with it. Files are
    scanned in parallel, one thread per CPU; each costs about one pass of the pipeline
    over it (``bench/input_pipeline.py`` measures it).

    Args:
        files: a glob pattern or a list of paths (read in the given order).
        feature_map: parse with it, to find missing or mistyped features too.
        compression_type: ``"auto"``, ``""``/``None``, ``"GZIP"`` or ``"ZLIB"``.
        stop_at_first: report only the first bad file (in file order).

    Returns:
        One :class:`FileProblem` per bad file, in file order.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "junk.tfrecord"
        >>> _ = path.write_bytes(b"not a tfrecord file")
        >>> [p.kind for p in check_files([str(path)])]
        ['corrupt']
    """
    paths = list_files(files) if isinstance(files, str) else list(files)
    compression = normalize_compression(compression_type)
    problems: list[FileProblem] = []
    jobs = []
    for path in paths:
        try:
            jobs.append((path, detect_compression(path) if compression == "auto" else compression))
        except tf.errors.OpError as err:
            problems.append(FileProblem(path, "unreadable", None, tf_message(err)))
    if stop_at_first and problems:
        return problems[:1]
    found = scan_files(jobs, lambda path, c: scan_file(path, feature_map, c))
    problems += [problem for problem in found if problem is not None]
    problems.sort(key=lambda problem: paths.index(problem.path))
    return problems[:1] if stop_at_first else problems


def find_id_out_of_range(
    paths: Sequence[str], feature: str, size: int, compression_type: str | None = "auto"
) -> tuple[str, int, int] | None:
    """The first id of ``feature`` outside ``[0, size)`` in the files: (file, record, id).

    Reads the files in order, ``_SCAN_BATCH`` records at a time, and checks each batch's
    ids at once (numpy); costs about one pass over the files, so it is meant for naming
    the culprit once an error said there is one.

    Example:
        >>> find_id_out_of_range([], "slot_1_0", 10) is None
        True
    """
    import numpy as np

    compression = normalize_compression(compression_type)
    spec = {feature: tf.io.VarLenFeature(tf.int64)}
    for path in paths:
        kind = detect_compression(path) if compression == "auto" else compression
        read = 0
        dataset = tf.data.TFRecordDataset(path, compression_type=kind).batch(_SCAN_BATCH)
        for records in dataset:
            ids = tf.io.parse_example(records, spec)[feature]
            values = ids.values.numpy()
            bad = np.flatnonzero((values < 0) | (values >= size))
            if bad.size:
                first = int(bad[0])
                return path, read + int(ids.indices.numpy()[first, 0]), int(values[first])
            read += int(records.shape[0])
    return None


_SLOT_FEATURE = re.compile(r"^slot_(\d+)_0$")


def record_slots(path: str, compression_type: str | None = "auto") -> set[int] | None:
    """The slots of the first record of a file (its ``slot_{s}_0`` features); None when
    the file holds no record.

    Example:
        >>> import tempfile
        >>> path = tempfile.mkdtemp() + "/a.tfrecord"
        >>> record = tf.train.Example(features=tf.train.Features(feature={
        ...     "slot_4_0": tf.train.Feature(int64_list=tf.train.Int64List(value=[1]))}))
        >>> with tf.io.TFRecordWriter(path) as writer:
        ...     writer.write(record.SerializeToString())
        >>> record_slots(path)
        {4}
    """
    compression = normalize_compression(compression_type)
    if compression == "auto":
        compression = detect_compression(path)
    for record in tf.data.TFRecordDataset(path, compression_type=compression).take(1):
        example = tf.train.Example.FromString(record.numpy())
        names = example.features.feature.keys()
        return {int(m.group(1)) for m in map(_SLOT_FEATURE.match, names) if m}
    return None


def check_vocab_slots(
    vocab_slots: Sequence[int],
    vocab_path: str,
    data_path: str,
    compression_type: str | None = "auto",
) -> None:
    """Raises when the vocab file's slots are not the slots of the data's first record.

    A slot the vocab lists and the data lacks would train a table on empty id lists; a
    slot the data holds and the vocab lacks would never be read. Costs one record.

    Raises:
        ValueError: one line naming both files and the slots that differ.
    """
    data = record_slots(data_path, compression_type)
    if data is None:
        return
    vocab = set(vocab_slots)
    extra, lacking = sorted(vocab - data), sorted(data - vocab)
    if not extra and not lacking:
        return
    parts = []
    if extra:
        parts.append(f"it lists slots {extra} that the data lacks")
    if lacking:
        parts.append(f"it lacks slots {lacking} that the data holds")
    raise ValueError(
        f"`vocab_file_path` must list the slots of the data. Received: {vocab_path}: "
        f"{' and '.join(parts)} ({data_path}: record 0 has slots {sorted(data)}); fix the "
        "vocab file or --data-dir"
    )
