"""The files of a data set: listing, sharding by input pipeline, compression.

Files are always listed sorted (never shuffled by listing) and sharded as *files*
(``files[p::n]`` for input pipeline ``p`` of ``n``), as the tensorflow/models ranking
pipeline does; compression is found per file by its magic bytes.
"""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from nwsrec.data.one_id import ONE_ID_FILE

__all__ = [
    "COMPRESSION_TYPES",
    "detect_all",
    "detect_compression",
    "list_files",
    "normalize_compression",
    "shard_files",
]

COMPRESSION_TYPES = ("auto", "", "GZIP", "ZLIB")
_GZIP_MAGIC = b"\x1f\x8b"


def list_files(file_pattern: str | Sequence[str]) -> list[str]:
    """The files matching ``file_pattern`` (a glob or a list of globs), sorted, unique.

    The writers' record of one-id slots (``one_id_slots.json``, :mod:`nwsrec.data.one_id`)
    is never a data file: a glob over a whole directory leaves it out.

    Raises:
        ValueError: naming the pattern, if it matches no file.

    Example:
        >>> try:
        ...     list_files("/nonexistent/*.tfrecord")
        ... except ValueError as err:
        ...     print(str(err).split(". ")[0])
        `file_pattern` must match at least one file
    """
    patterns = [file_pattern] if isinstance(file_pattern, (str, os.PathLike)) else file_pattern
    files: set[str] = set()
    for pattern in patterns:
        files.update(
            path
            for path in tf.io.gfile.glob(os.fspath(pattern))
            if os.path.basename(path) != ONE_ID_FILE
        )
    if not files:
        raise ValueError(
            f"`file_pattern` must match at least one file. Received: file_pattern={file_pattern!r}"
        )
    return sorted(files)


def shard_files(files: Sequence[str], pipeline_id: int, num_pipelines: int) -> list[str]:
    """Files ``pipeline_id::num_pipelines`` of the sorted list (``Dataset.shard`` on files).

    Raises:
        ValueError: if there are fewer files than pipelines, naming the files.

    Example:
        >>> shard_files(["a", "b", "c", "d", "e"], 1, 2)
        ['b', 'd']
    """
    if len(files) < num_pipelines:
        raise ValueError(
            f"`file_pattern` must match at least one file per input pipeline: "
            f"{len(files)} files for {num_pipelines} pipelines. Received: files={list(files)!r}"
        )
    return list(files[pipeline_id::num_pipelines])


def detect_compression(path: str) -> str:
    """``"GZIP"`` if the file starts with the gzip magic bytes, else ``""``.

    An empty file is ``""``. ZLIB streams have no reliable magic: name them explicitly.
    """
    with tf.io.gfile.GFile(path, "rb") as handle:
        head = handle.read(2)
    return "GZIP" if head == _GZIP_MAGIC else ""


def detect_all(paths: Sequence[str]) -> list[str]:
    """:func:`detect_compression` of many files, 16 at a time (remote reads overlap)."""
    if len(paths) <= 4:
        return [detect_compression(path) for path in paths]
    with concurrent.futures.ThreadPoolExecutor(16, thread_name_prefix="nwsrec-sniff") as pool:
        return list(pool.map(detect_compression, paths))


def normalize_compression(value: Any) -> str:
    """``value`` as one of :data:`COMPRESSION_TYPES` (None is ``""``; case-insensitive)."""
    text = "" if value is None else value
    if isinstance(text, str) and text.upper() in ("GZIP", "ZLIB"):
        text = text.upper()
    if text not in COMPRESSION_TYPES:
        raise ValueError(
            f"`compression_type` must be one of 'auto', '', None, 'GZIP', 'ZLIB'. "
            f"Received: compression_type={value!r}"
        )
    return text
