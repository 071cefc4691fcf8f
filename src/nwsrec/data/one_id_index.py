"""Find the one-id slots of TFRecord files written by any tool, and record them.

nwsrec's own writers record in ``one_id_slots.json`` which slots hold one id in every
record (:mod:`nwsrec.data.one_id`); files written by another tool (a Monolith job, a
Spark export) have no such record, so the input pipeline parses every slot as a list.
:func:`index_one_id_slots` reads each file once (the slot features are the
``slot_{s}_0`` int64 features of its first record), finds the slots with exactly one id
in every record, and records them: later reads take the fast parse.
``nwsrec datasets index PATTERN`` runs it.

Example:
    >>> import os, tempfile
    >>> from nwsrec.data.writer import encode_example, write_tfrecords
    >>> d = tempfile.mkdtemp()
    >>> records = [encode_example({"slot_1_0": [i], "slot_2_0": [i] * (i % 2 + 1)})
    ...            for i in range(4)]
    >>> (path,) = write_tfrecords(records, d, "part", 1)  # records nothing
    >>> index_one_id_slots([path])
    {'...part-00000-of-00001.tfrecord': ['slot_1_0']}
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import tensorflow as tf

from nwsrec.data.files import detect_compression, list_files
from nwsrec.data.one_id import record_one_id_per_file
from nwsrec.data.scan import scan_files

__all__ = ["index_one_id_slots", "one_id_slots_of_file"]

logger = logging.getLogger(__name__)

_SLOT_FEATURE = re.compile(r"^slot_\d+_0$")
_BATCH = 4096


def _slot_features(path: str, compression: str) -> list[str]:
    """The ``slot_{s}_0`` int64 features of the file's first record (none for no record)."""
    for record in tf.data.TFRecordDataset(path, compression_type=compression).take(1):
        example = tf.train.Example.FromString(record.numpy())
        return sorted(
            name
            for name, feature in example.features.feature.items()
            if _SLOT_FEATURE.match(name) and feature.WhichOneof("kind") == "int64_list"
        )
    return []


def one_id_slots_of_file(path: str, compression: str = "auto") -> list[str]:
    """The slot features with exactly one id in every record of one file.

    One pass in TensorFlow's data runtime: each batch of records is parsed as lists and
    the records holding one id are counted per feature.

    Args:
        path: a TFRecord file of ``tf.train.Example`` records.
        compression: ``"auto"`` (found by the magic bytes), ``""``, ``"GZIP"`` or ``"ZLIB"``.

    Returns:
        The feature names, sorted (empty for an empty file).

    Raises:
        tf.errors.OpError: for a corrupt record or one that is not an Example.
    """
    if compression == "auto":
        compression = detect_compression(path)
    names = _slot_features(path, compression)
    if not names:
        return []
    spec = {name: tf.io.VarLenFeature(tf.int64) for name in names}

    def counts(records: tf.Tensor) -> tf.Tensor:
        parsed = tf.io.parse_example(records, spec)
        rows = tf.shape(records)[0]
        one = [
            tf.reduce_sum(
                tf.cast(
                    tf.math.bincount(tf.cast(parsed[name].indices[:, 0], tf.int32), minlength=rows)
                    == 1,
                    tf.int64,
                )
            )
            for name in names
        ]
        return tf.stack([tf.cast(rows, tf.int64), *one])

    dataset = tf.data.TFRecordDataset(path, compression_type=compression).batch(_BATCH)
    total = (
        dataset.map(counts).reduce(tf.zeros([len(names) + 1], tf.int64), lambda a, b: a + b).numpy()
    )
    return [name for name, ones in zip(names, total[1:], strict=True) if ones == total[0]]


def index_one_id_slots(
    files: str | Sequence[str], compression_type: str = "auto"
) -> dict[str, list[str]]:
    """Find and record (``one_id_slots.json``) the one-id slots of every file.

    Files are read in parallel, one thread per CPU. A file that fails to read is
    recorded as having none and named in a warning; the others are recorded.

    Args:
        files: a glob pattern or a list of paths.
        compression_type: ``"auto"``, ``""``, ``"GZIP"`` or ``"ZLIB"`` (all files).

    Returns:
        ``{path: [one-id slot features]}`` in file order.

    Raises:
        ValueError: if the pattern matches no file.
    """
    paths = list_files(files) if isinstance(files, str) else list(files)
    if not paths:
        raise ValueError("`files` must name at least one file. Received: files=[]")

    def scan(path: str, compression: str) -> list[str]:
        try:
            return one_id_slots_of_file(path, compression)
        except (tf.errors.OpError, ValueError) as err:
            logger.warning("%s: not indexed (%s)", path, str(err).splitlines()[0])
            return []

    result = dict(zip(paths, scan_files([(p, compression_type) for p in paths], scan), strict=True))
    record_one_id_per_file(result)
    return result
