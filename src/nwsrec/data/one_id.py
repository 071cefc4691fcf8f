"""Which slot features hold exactly one id in every record of a file (``one_id_slots.json``).

Most CTR slots hold one id per record (a user, an item, a Criteo category). Parsed as a
``tf.io.VarLenFeature`` such a slot costs what any list does: its indices, and a
per-batch check that no record lacks the feature. Parsed as
``tf.io.FixedLenFeature([1], tf.int64)`` it needs neither (the parse itself costs about
the same), and the input pipeline turns the dense ``[batch, 1]`` ids back into the
``SparseTensor`` a variable-length parse gives, bit for bit (:func:`one_id_sparse`): a
pass of the input is about 1.2x cheaper in CPU (``bench/input_pipeline.py
--only-one-id``). A fixed-length parse fails on a record with
no id or with two, so the pipeline uses it only where the writer of the file recorded
that every record holds one id: nwsrec's writers (``nwsrec convert``, the synthetic and
Criteo-shaped generators, :class:`~nwsrec.data.writer.ShardedExampleWriter`) record it
in ``one_id_slots.json`` beside the files::

    {"format": 1,
     "files": {"train-00000-of-00002.tfrecord":
                   {"size": 81234, "mtime_ns": 1733212345000000000,
                    "features": ["slot_1_0", "slot_2_0"]}, ...}}

An entry holds while the file's size and modification time are those recorded: a file
rewritten by anything else, or copied without its times, is parsed as variable-length
(slower, never wrong). A leaf module: it imports nothing from nwsrec but ``files``.

Example:
    >>> import os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> path = os.path.join(d, "part-00000-of-00001.tfrecord")
    >>> _ = open(path, "wb").write(b"...")
    >>> record_one_id_features([path], ["slot_2_0", "slot_1_0"])
    >>> sorted(one_id_features([path]))
    ['slot_1_0', 'slot_2_0']
    >>> _ = open(path, "ab").write(b"more")  # changed behind the writer's back
    >>> sorted(one_id_features([path]))
    []
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from nwsrec.files import write_json_atomic

__all__ = [
    "ONE_ID_FILE",
    "one_id_features",
    "one_id_indices",
    "one_id_sparse",
    "record_one_id_features",
    "record_one_id_per_file",
]

logger = logging.getLogger(__name__)

ONE_ID_FILE = "one_id_slots.json"
_FORMAT = 1


def _stat(path: str) -> tuple[int, int]:
    """(size, modification time in ns): ``os.stat`` for a local file (its clock keeps the
    nanoseconds), ``tf.io.gfile.stat`` for a URL."""
    if "://" not in path:
        stat = os.stat(path)
        return int(stat.st_size), int(stat.st_mtime_ns)
    import tensorflow as tf

    gstat = tf.io.gfile.stat(path)
    return int(gstat.length), int(gstat.mtime_nsec)


def _read(directory: str) -> dict[str, Any]:
    """The ``files`` entries of ``directory``'s record; ``{}`` when it has none or is bad."""
    import tensorflow as tf

    path = os.path.join(directory, ONE_ID_FILE)
    try:
        with tf.io.gfile.GFile(path, "r") as handle:
            data = json.loads(handle.read())
    except (tf.errors.NotFoundError, FileNotFoundError):
        return {}
    except (tf.errors.OpError, OSError, ValueError) as err:
        logger.warning("%s is unreadable (%s): its files parse as variable-length", path, err)
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(data, dict) or data.get("format") != _FORMAT or not isinstance(files, dict):
        logger.warning("%s is not a format-%d record: ignored", path, _FORMAT)
        return {}
    return files


def record_one_id_features(paths: Sequence[str], features: Collection[str]) -> None:
    """Record that every record of each file of ``paths`` holds one id of each of ``features``.

    Updates ``one_id_slots.json`` in each file's directory (atomically): the files' entries
    are replaced, with their current size and modification time; entries of files that no
    longer exist are dropped. An empty ``features`` records the files as having none
    (which also retracts an older entry of a rewritten file).

    Args:
        paths: the files, as written (closed, under their final names).
        features: feature names, e.g. ``"slot_3_0"``.
    """
    record_one_id_per_file({os.fspath(path): features for path in paths})


def record_one_id_per_file(features_by_path: Mapping[str, Collection[str]]) -> None:
    """:func:`record_one_id_features` with each file's own features (one write per directory).

    Only local directories get a record (it is written through a temporary file and a
    rename); files under a URL (``gs://...``) are left unrecorded and parse as lists.

    Args:
        features_by_path: ``{path: feature names}``.
    """
    by_dir: dict[str, dict[str, Collection[str]]] = {}
    for path, features in features_by_path.items():
        by_dir.setdefault(os.path.dirname(os.fspath(path)), {})[os.fspath(path)] = features
    for directory, files in by_dir.items():
        if "://" in directory:  # the record is a local JSON file written atomically
            logger.info("%s: not a local directory, no %s recorded", directory, ONE_ID_FILE)
            continue
        entries = {
            name: entry
            for name, entry in _read(directory).items()
            if os.path.exists(os.path.join(directory, name))
        }
        for path, features in files.items():
            size, mtime = _stat(path)
            entries[os.path.basename(path)] = {
                "size": size,
                "mtime_ns": mtime,
                "features": sorted(set(features)),
            }
        write_json_atomic(
            os.path.join(directory, ONE_ID_FILE),
            {"format": _FORMAT, "files": dict(sorted(entries.items()))},
        )


def one_id_features(paths: Iterable[str]) -> frozenset[str]:
    """The features with one id in every record of every file of ``paths``, as recorded.

    A file without a valid entry (no record, or its size or modification time changed
    since) holds none: the answer is then empty.

    Args:
        paths: the files to be read.

    Returns:
        The feature names common to every file's entry (empty for no files).
    """
    records: dict[str, dict[str, Any]] = {}
    common: set[str] | None = None
    for path in paths:
        directory, name = os.path.split(os.fspath(path))
        if directory not in records:
            records[directory] = _read(directory)
        entry = records[directory].get(name)
        if not isinstance(entry, dict):
            return frozenset()
        try:
            current = _stat(path)
        except Exception:  # noqa: BLE001 - a vanished file: let the reader name it
            return frozenset()
        if (entry.get("size"), entry.get("mtime_ns")) != current:
            logger.info(
                "%s changed since %s recorded it: its slots parse as variable-length",
                path,
                ONE_ID_FILE,
            )
            return frozenset()
        features = entry.get("features")
        if not isinstance(features, list):
            return frozenset()
        common = set(features) if common is None else common & set(features)
        if not common:
            return frozenset()
    return frozenset(common or ())


def one_id_indices(rows: Any) -> Any:
    """``[[0, 0], [1, 0], ..., [rows - 1, 0]]`` (int64): the indices of :func:`one_id_sparse`."""
    import tensorflow as tf

    return tf.stack([tf.range(rows), tf.zeros([rows], tf.int64)], axis=1)


def one_id_sparse(ids: Any, indices: Any = None) -> Any:
    """The ``SparseTensor`` a ``VarLenFeature`` parse gives for ``[batch, 1]`` dense ids.

    Indices ``[[0, 0], [1, 0], ...]``, values the ids, dense shape ``[batch, 1]``: equal,
    bit for bit, to the variable-length parse of records holding one id each. Pass
    ``indices`` (:func:`one_id_indices` of the batch) to share them between slots.

    Example:
        >>> import tensorflow as tf
        >>> st = one_id_sparse(tf.constant([[7], [9]], tf.int64))
        >>> st.indices.numpy().tolist(), st.values.numpy().tolist()
        ([[0, 0], [1, 0]], [7, 9])
    """
    import tensorflow as tf

    rows = tf.shape(ids, out_type=tf.int64)[0]
    if indices is None:
        indices = one_id_indices(rows)
    return tf.SparseTensor(indices, tf.reshape(ids, [-1]), tf.stack([rows, 1]))
