"""Per-slot id frequency counts: how many training records hold each id.

Written next to ``vocab.tsv`` by ``nwsrec convert``, ``generate_synthetic`` and
``convert_movielens`` as ``id_counts.npz`` (numpy ``savez``):

- ``slot_{s}``: int64 array of length ``vocab size of slot s``; entry ``i`` is the number
  of *training* records whose ``slot_{s}_0`` holds id ``i`` (a record holding an id twice
  counts once);
- ``num_records``: int64 scalar, the training records counted.

The width search splits ids into frequency buckets with these; the popularity baseline
(mixed-dimension embeddings) sizes a slot by them. :func:`count_ids` computes the same
counts by scanning TFRecord files that were written without them.

Example:
    >>> import tempfile, numpy as np
    >>> d = tempfile.mkdtemp()
    >>> _ = write_id_counts(d, {3: np.array([2, 0, 1])}, num_records=2)
    >>> read_id_counts(d)[3].tolist()
    [2, 0, 1]
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "ID_COUNTS_FILE",
    "IdCounter",
    "count_ids",
    "read_id_counts",
    "read_num_records",
    "write_id_counts",
]

ID_COUNTS_FILE = "id_counts.npz"


class IdCounter:
    """Accumulates records-per-id counts of some slots, record by record.

    Args:
        slots: the slot ids counted.
    """

    def __init__(self, slots: Iterable[int]) -> None:
        self.counts: dict[int, dict[int, int]] = {int(s): {} for s in slots}
        self.num_records = 0

    def add(self, slot_ids: Mapping[int, Iterable[int]]) -> None:
        """Count one record: ``{slot_id: its ids}`` (repeats count once)."""
        self.num_records += 1
        for slot_id, ids in slot_ids.items():
            table = self.counts[slot_id]
            for i in set(ids):
                table[i] = table.get(i, 0) + 1

    def arrays(self, vocab_sizes: Mapping[int, int]) -> dict[int, np.ndarray]:
        """``{slot_id: int64 [vocab size]}`` (ids at or above the size are dropped)."""
        out = {}
        for slot_id, table in self.counts.items():
            size = int(vocab_sizes[slot_id])
            array = np.zeros(size, np.int64)
            for i, n in table.items():
                if 0 <= i < size:
                    array[i] = n
            out[slot_id] = array
        return out


def write_id_counts(
    data_dir: str | os.PathLike[str], counts: Mapping[int, np.ndarray], num_records: int
) -> str:
    """Write ``id_counts.npz`` into ``data_dir`` (atomically); return its path."""
    path = os.path.join(os.fspath(data_dir), ID_COUNTS_FILE)
    tmp = path + ".tmp.npz"
    arrays = {f"slot_{int(s)}": np.asarray(c, np.int64) for s, c in sorted(counts.items())}
    # numpy's stub types every ``**kwds`` value against ``allow_pickle: bool`` too; the
    # keys here are ``slot_<id>``, never ``allow_pickle``.
    np.savez(tmp, num_records=np.int64(num_records), **arrays)  # type: ignore[arg-type]
    os.replace(tmp, path)
    return path


def _load(data_dir: str | os.PathLike[str]) -> Any:
    path = os.path.join(os.fspath(data_dir), ID_COUNTS_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"`data_dir` must hold {ID_COUNTS_FILE} (written by nwsrec convert / datasets; "
            f"for older data compute it with nwsrec.data.count_ids). Received: "
            f"data_dir={os.fspath(data_dir)!r}"
        )
    try:
        return np.load(path)
    except (OSError, ValueError) as err:
        raise ValueError(
            f"{path}: must be an .npz of id counts ({err}). Received: a bad file"
        ) from None


def read_id_counts(data_dir: str | os.PathLike[str]) -> dict[int, np.ndarray]:
    """``{slot_id: int64 [vocab size]}``: training records holding each id.

    Raises:
        FileNotFoundError: naming the directory, when it has no ``id_counts.npz``.
        ValueError: naming the file, when it is not one.
    """
    with _load(data_dir) as data:
        return {
            int(k.removeprefix("slot_")): np.array(data[k], np.int64)
            for k in data.files
            if k.startswith("slot_")
        }


def read_num_records(data_dir: str | os.PathLike[str]) -> int:
    """The number of training records the counts of ``data_dir`` were taken over."""
    with _load(data_dir) as data:
        return int(data["num_records"])


def count_ids(
    file_pattern: str | Sequence[str],
    slots: Iterable[int],
    vocab_sizes: Mapping[int, int] | None = None,
    batch_size: int = 4096,
) -> dict[int, np.ndarray]:
    """The counts of :func:`read_id_counts`, computed by scanning TFRecord files.

    Args:
        file_pattern: the training files (a glob or a list of globs; gzip detected).
        slots: the slot ids to count (``slot_{s}_0`` of each record).
        vocab_sizes: array length per slot; default: max id + 1.
        batch_size: records parsed per batch.

    Returns:
        ``{slot_id: int64 [vocab size]}``; ``count[i]`` = records holding id ``i``.

    Raises:
        ValueError: naming the file, slot and id, for a negative id or (with
            ``vocab_sizes``) an id outside ``[0, vocab size)``.
    """
    import tensorflow as tf

    from nwsrec.data.files import detect_all, list_files

    slots = [int(s) for s in slots]
    files = list_files(file_pattern)
    spec = {f"slot_{s}_0": tf.io.VarLenFeature(tf.int64) for s in slots}
    pieces: dict[int, list[np.ndarray]] = {s: [] for s in slots}
    for path, compression in zip(files, detect_all(files), strict=True):
        dataset = tf.data.TFRecordDataset(path, compression_type=compression).batch(batch_size)
        for batch in dataset.map(lambda r: tf.io.parse_example(r, spec)):
            for s in slots:
                ids = batch[f"slot_{s}_0"]
                values = ids.values.numpy()
                size = None if vocab_sizes is None else int(vocab_sizes[s])
                bad = values[(values < 0) | (values >= (size if size is not None else 1 << 62))]
                if bad.size:
                    raise ValueError(
                        f"{path}: the ids of slot {s} must lie in [0, {size}) (its vocab "
                        f"size). Received: id={int(bad[0])}"
                        if size is not None
                        else f"{path}: the ids of slot {s} must be >= 0. Received: id={int(bad[0])}"
                    )
                pairs = np.stack([ids.indices[:, 0].numpy(), values], axis=1)
                if pairs.size:
                    pieces[s].append(np.unique(pairs, axis=0)[:, 1])
    out = {}
    for s in slots:
        values = np.concatenate(pieces[s]) if pieces[s] else np.zeros(0, np.int64)
        if vocab_sizes is not None:
            size = int(vocab_sizes[s])
        else:
            size = int(values.max()) + 1 if values.size else 0
        out[s] = np.bincount(values, minlength=size).astype(np.int64)
    logger.info("counted the ids of %d slots in %d files", len(slots), len(files))
    return out
