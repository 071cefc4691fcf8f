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
from typing import Any

import tensorflow as tf

from nwsrec.data.files import detect_compression, list_files, normalize_compression

__all__ = [
    "DataFileError",
    "FileProblem",
    "check_files",
    "file_key",
    "find_id_out_of_range",
    "scan_file",
    "scan_files",
    "tf_message",
]

_SCAN_BATCH = 4096
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


def _parses_cleanly(path: str, spec: Mapping[str, Any], compression: str) -> bool:
    """Whether every record of the file reads and parses: one C++ pass, no Python per batch."""

    def parsed_size(records: tf.Tensor) -> tf.Tensor:
        first = tf.nest.flatten(tf.io.parse_example(records, dict(spec)), expand_composites=True)
        return tf.cast(tf.size(first[0]), tf.int64)  # depends on the parse: it is not pruned

    dataset = tf.data.TFRecordDataset(path, compression_type=compression).batch(_SCAN_BATCH)
    try:
        dataset.map(parsed_size).reduce(tf.constant(0, tf.int64), lambda a, b: a + b)
    except (tf.errors.OpError, UnicodeDecodeError):
        return False
    return True


def _locate_problem(path: str, spec: Mapping[str, Any], compression: str) -> FileProblem | None:
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
        read += int(records.shape[0])


def scan_file(path: str, spec: Mapping[str, Any] | None, compression: str) -> FileProblem | None:
    """Read (and parse with ``spec``, or check the wire format) every record of one file."""
    check_spec = dict(spec) if spec else _WIRE_CHECK_SPEC
    try:
        if _parses_cleanly(path, check_spec, compression):
            return None
    except tf.errors.OpError as err:  # e.g. the file vanished
        return FileProblem(path, "unreadable", None, tf_message(err))
    return _locate_problem(path, check_spec, compression)


def scan_files(
    jobs: Sequence[tuple[str, str]], scan: Callable[[str, str], FileProblem | None]
) -> list[FileProblem | None]:
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
