"""Data: the TFRecord input pipeline and the tools that write its files.

- ``files``: :func:`list_files`, :func:`shard_files`, :func:`detect_compression`.
- ``scan``: :func:`check_files`, :class:`FileProblem`, :class:`DataFileError` (which
  file and record is bad).
- ``pipeline``: :func:`make_input_fn` / :class:`InputFn`, the model's input function
  (sharded by input pipeline, resumable, post-processed); :func:`post_process_example`;
  :class:`RecordSplit` reads one part of a hashed two-way split of the records.
- :func:`write_examples`, :class:`ShardedExampleWriter`, :func:`serialize_example`,
  :func:`serialize_feature` / :func:`join_features`: write ``tf.train.Example`` rows
  into sharded TFRecord files.
- :func:`convert_csv`, :class:`ConvertResult`: CSV/TSV -> sharded TFRecord files plus the
  vocab-size TSV (``nwsrec convert``).
- :func:`read_id_counts`, :func:`count_ids`: per-slot training records per id
  (``id_counts.npz`` next to ``vocab.tsv``; :mod:`nwsrec.data.counts`).
- ``nwsrec.data.synthetic``, ``nwsrec.data.criteo`` (Criteo-shaped synthetic) and
  ``nwsrec.data.movielens``: the built-in data sets.

Names are imported on first use, so ``import nwsrec.data`` does not load TensorFlow.

Example:
    >>> import nwsrec.data
    >>> callable(nwsrec.data.write_examples)
    True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nwsrec.data.convert import ConvertProgress, ConvertResult, convert_csv
    from nwsrec.data.counts import count_ids, read_id_counts
    from nwsrec.data.files import detect_compression, list_files, shard_files
    from nwsrec.data.pipeline import (
        DEFAULT_PARAMS,
        InputFn,
        RecordSplit,
        make_input_fn,
        post_process_example,
    )
    from nwsrec.data.scan import DataFileError, FileProblem, check_files
    from nwsrec.data.writer import (
        ShardedExampleWriter,
        join_features,
        serialize_example,
        serialize_feature,
        shard_file_names,
        write_examples,
    )

_EXPORTS = {
    "ConvertProgress": "nwsrec.data.convert",
    "ConvertResult": "nwsrec.data.convert",
    "convert_csv": "nwsrec.data.convert",
    "count_ids": "nwsrec.data.counts",
    "read_id_counts": "nwsrec.data.counts",
    "DEFAULT_PARAMS": "nwsrec.data.pipeline",
    "DataFileError": "nwsrec.data.scan",
    "FileProblem": "nwsrec.data.scan",
    "InputFn": "nwsrec.data.pipeline",
    "RecordSplit": "nwsrec.data.pipeline",
    "check_files": "nwsrec.data.scan",
    "list_files": "nwsrec.data.files",
    "shard_files": "nwsrec.data.files",
    "detect_compression": "nwsrec.data.files",
    "make_input_fn": "nwsrec.data.pipeline",
    "post_process_example": "nwsrec.data.pipeline",
    "ShardedExampleWriter": "nwsrec.data.writer",
    "join_features": "nwsrec.data.writer",
    "serialize_example": "nwsrec.data.writer",
    "serialize_feature": "nwsrec.data.writer",
    "shard_file_names": "nwsrec.data.writer",
    "write_examples": "nwsrec.data.writer",
}

__all__ = [
    "ConvertProgress",
    "ConvertResult",
    "DEFAULT_PARAMS",
    "DataFileError",
    "FileProblem",
    "InputFn",
    "RecordSplit",
    "ShardedExampleWriter",
    "check_files",
    "convert_csv",
    "count_ids",
    "detect_compression",
    "join_features",
    "list_files",
    "make_input_fn",
    "post_process_example",
    "read_id_counts",
    "serialize_example",
    "serialize_feature",
    "shard_file_names",
    "shard_files",
    "write_examples",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nwsrec.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
