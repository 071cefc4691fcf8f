"""Write ``tf.train.Example`` rows into sharded TFRecord files.

A *row* is a mapping from feature name to values:

- ``slot_{s}_{i}`` (and any name listed in ``int64_features``): a list of int64 ids, or
  one int (a list of one). An empty list is allowed (the example has no id there).
- ``label``: one float.
- any other name: a list of floats (dense features), or one float.

Python lists, tuples and numpy arrays all work. Rows go round-robin into ``num_shards``
files named ``{prefix}-{i:05d}-of-{num_shards:05d}.tfrecord`` (``.tfrecord.gz`` when
gzipped); each file is written under a temporary name and renamed when complete, so a
crashed run never leaves a half-written shard under a final name.

Examples are serialized by a small hand-written protobuf encoder (the ``tf.train.Example``
wire format, byte-identical to what ``tf.io.parse_example`` reads), several times faster
than building ``tf.train.Example`` messages in Python.

Example:
    >>> import tempfile
    >>> rows = [{"slot_1_0": [3, 4], "slot_2_0": [7], "label": 1.0},
    ...         {"slot_1_0": [], "slot_2_0": 5, "label": 0.0}]
    >>> paths = write_examples(rows, tempfile.mkdtemp(), num_shards=2)
    >>> [p.rsplit("/", 1)[1] for p in paths]
    ['part-00000-of-00002.tfrecord', 'part-00001-of-00002.tfrecord']
"""

from __future__ import annotations

import logging
import math
import operator
import os
import re
import struct
from collections.abc import Collection, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

import numpy as np

from nwsrec.data.one_id import record_one_id_features

__all__ = [
    "ShardedExampleWriter",
    "encode_example",
    "join_features",
    "serialize_example",
    "serialize_feature",
    "shard_file_names",
    "write_examples",
    "write_tfrecords",
]

logger = logging.getLogger(__name__)

_SLOT_FEATURE = re.compile(r"^slot_\d+_\d+$")
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_FLOAT32_MAX = float(np.finfo(np.float32).max)

# Wire-format tags (field number << 3 | wire type 2 = length-delimited):
#   Example  { 1: Features }
#   Features { 1: repeated MapEntry { 1: key, 2: Feature } }
#   Feature  { 2: FloatList { 1: packed float32 }, 3: Int64List { 1: packed varint } }
_TAG_1 = b"\x0a"
_TAG_2 = b"\x12"
_TAG_3 = b"\x1a"


def _encode_varint(value: int) -> bytes:
    """Base-128 varint of a non-negative integer below 2**64."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


# Ids and lengths below 2**14 (one or two varint bytes) are the common case: a lookup.
_SMALL_LIMIT = 1 << 14
_SMALL_VARINTS = [_encode_varint(v) for v in range(_SMALL_LIMIT)]


def _varint(value: int) -> bytes:
    if 0 <= value < _SMALL_LIMIT:
        return _SMALL_VARINTS[value]
    if value < 0:
        value += 1 << 64  # int64 two's complement, as protobuf encodes a negative int64
    return _encode_varint(value)


def _delimited(tag: bytes, payload: bytes) -> bytes:
    return tag + _varint(len(payload)) + payload


class _Key:
    """What is known of a feature name once: its wire bytes and whether it is a slot."""

    __slots__ = ("encoded", "is_slot")

    def __init__(self, name: str) -> None:
        self.encoded = _delimited(_TAG_1, name.encode("utf-8"))
        self.is_slot = _SLOT_FEATURE.match(name) is not None


_KEYS: dict[str, _Key] = {}


def _key(name: str) -> _Key:
    key = _KEYS.get(name)
    if key is None:
        key = _KEYS[name] = _Key(name)
    return key


def _values(value: Any, kinds: str) -> Any:
    """``value`` as a list/tuple of numbers (one number becomes a tuple of one)."""
    if isinstance(value, (list, tuple)):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in kinds:
            raise TypeError(f"expected numbers, got an array of dtype {value.dtype}")
        return value.reshape(-1).tolist()
    if isinstance(value, (str, bytes)):
        raise TypeError(f"expected numbers, got {type(value).__name__}")
    if isinstance(value, Iterable):
        return list(value)
    return (value,)


def _packed_ids(values: Any) -> bytes:
    try:
        if min(values) >= 0 and max(values) <= _INT64_MAX:
            small, limit = _SMALL_VARINTS, _SMALL_LIMIT
            return b"".join([small[v] if v < limit else _encode_varint(v) for v in values])
    except TypeError:
        pass  # not all integers: the loop below says which
    parts = []
    for item in values:
        if isinstance(item, float) or not hasattr(item, "__index__"):
            raise TypeError(f"expected integer ids, got {item!r}")
        number = operator.index(item)
        if not _INT64_MIN <= number <= _INT64_MAX:
            raise TypeError(f"id {number} is outside the int64 range")
        parts.append(_varint(number))
    return b"".join(parts)


def _int64_feature(value: Any) -> bytes:
    values = _values(value, "iub")
    if not values:
        return b"\x1a\x00"  # an empty Int64List
    int64_list = _delimited(_TAG_1, _packed_ids(values))
    return _delimited(_TAG_3, int64_list)


def _float_feature(value: Any, *, scalar: bool) -> bytes:
    values = _values(value, "iuf")
    if scalar and len(values) != 1:
        raise TypeError(f"expected exactly one value, got {len(values)}")
    if not values:
        return b"\x12\x00"  # an empty FloatList
    for item in values:
        if isinstance(item, (str, bytes)) or not isinstance(item, (int, float, np.number)):
            raise TypeError(f"expected floats, got {item!r}")
        if not math.isfinite(float(item)) or abs(float(item)) > _FLOAT32_MAX:
            raise TypeError(f"expected finite float32 values, got {item!r}")
    float_list = _delimited(_TAG_1, struct.pack(f"<{len(values)}f", *values))
    return _delimited(_TAG_2, float_list)


def _entry(name: Any, value: Any, int64_features: Collection[str], where: str) -> bytes:
    key = _KEYS.get(name) if isinstance(name, str) else None
    if key is None:
        if not isinstance(name, str) or not name:
            raise ValueError(
                f"`{where}` must have non-empty string feature names. Received: name={name!r}"
            )
        key = _key(name)
    try:
        if key.is_slot or name in int64_features:
            feature = _int64_feature(value)
        else:
            feature = _float_feature(value, scalar=name == "label")
    except (TypeError, ValueError, OverflowError) as err:
        raise ValueError(
            f"`{where}`, feature {name!r}: {err}. Received: {name}={value!r}"
        ) from None
    body = key.encoded + _TAG_2 + _varint(len(feature)) + feature
    return _TAG_1 + _varint(len(body)) + body


def serialize_feature(name: str, value: Any, *, int64: bool = False) -> bytes:
    """The wire bytes of one feature of an Example, to join with :func:`join_features`.

    Serializing each feature once and reusing the bytes is how a converter with repeated
    values (categorical columns) avoids re-encoding them row after row.

    Args:
        name: the feature name.
        value: its values, by the rules of the module docstring.
        int64: store as an int64 list even if the name is not ``slot_{s}_{i}``.

    Raises:
        ValueError: naming the feature, for a bad value.

    Example:
        >>> import tensorflow as tf
        >>> parts = [serialize_feature("slot_1_0", [4]), serialize_feature("label", 1.0)]
        >>> example = tf.train.Example.FromString(join_features(parts))
        >>> sorted(example.features.feature)
        ['label', 'slot_1_0']
    """
    return _entry(name, value, (name,) if int64 else (), "feature")


def join_features(entries: Iterable[bytes]) -> bytes:
    """The serialized Example holding these :func:`serialize_feature` entries.

    Each name must appear once (a repeated name keeps its last entry when parsed).
    """
    return _delimited(_TAG_1, b"".join(entries))


def serialize_example(
    row: Mapping[str, Any], *, int64_features: Collection[str] = (), index: int | None = None
) -> bytes:
    """Serialize one row as a ``tf.train.Example`` (see the module docstring for the rules).

    Args:
        row: feature name -> values.
        int64_features: further names (besides ``slot_{s}_{i}``) stored as int64 lists.
        index: the row's position, used only in error messages.

    Returns:
        The serialized example.

    Raises:
        ValueError: naming the row and feature, for a value of the wrong type, an id
            outside int64, a non-finite float, a label that is not exactly one value,
            or a row that is not a mapping with string keys.

    Example:
        >>> import tensorflow as tf
        >>> data = serialize_example({"slot_3_0": [1, 2], "label": 1.0})
        >>> tf.train.Example.FromString(data).features.feature["slot_3_0"].int64_list.value
        [1, 2]
    """
    where = "row" if index is None else f"row {index}"
    if not isinstance(row, Mapping):
        raise ValueError(
            f"`{where}` must be a mapping of feature name to values. Received: {row!r}"
        )
    return join_features([_entry(n, v, int64_features, where) for n, v in row.items()])


def shard_file_names(prefix: str, num_shards: int, *, gzip: bool = False) -> list[str]:
    """The file names (no directory) of ``num_shards`` shards with this prefix.

    Example:
        >>> shard_file_names("train", 2, gzip=True)
        ['train-00000-of-00002.tfrecord.gz', 'train-00001-of-00002.tfrecord.gz']
    """
    suffix = ".tfrecord.gz" if gzip else ".tfrecord"
    return [f"{prefix}-{i:05d}-of-{num_shards:05d}{suffix}" for i in range(num_shards)]


class ShardedExampleWriter:
    """Streams rows round-robin into ``num_shards`` TFRecord files.

    Use it as a context manager: the files get their final names when the block exits
    without an exception; on an exception the temporary files are removed.

    Args:
        out_dir: the directory (created if missing; local path or a ``tf.io.gfile`` URL).
        prefix: file name prefix.
        num_shards: number of files (>= 1). Row ``k`` goes to shard ``k % num_shards``.
        gzip: gzip each file (``compression_type="GZIP"`` when read).
        int64_features: further names stored as int64 lists (see :func:`serialize_example`).
        one_id_features: slot features that every record written holds exactly one id of
            (the caller's promise, for records passed serialized; rows passed to
            :meth:`write` are checked against it).

    On a clean exit the writer records, in ``one_id_slots.json`` beside the files
    (:mod:`nwsrec.data.one_id`), the slot features with one id in every record: those
    seen so in the rows of :meth:`write`, or the declared ones (``one_id_features`` or
    :meth:`declare_one_id`). Serialized records without a declaration record none. The
    input pipeline parses such slots as one fixed id (:mod:`nwsrec.data.one_id`).

    Attributes:
        paths: the final paths, in shard order.
        num_rows: rows written so far.

    Example:
        >>> import tempfile
        >>> with ShardedExampleWriter(tempfile.mkdtemp(), num_shards=1) as writer:
        ...     writer.write({"slot_1_0": [1], "label": 0.0})
        >>> writer.num_rows
        1
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        *,
        prefix: str = "part",
        num_shards: int = 1,
        gzip: bool = False,
        int64_features: Collection[str] = (),
        one_id_features: Collection[str] | None = None,
    ) -> None:
        if isinstance(num_shards, bool) or not isinstance(num_shards, int) or num_shards < 1:
            raise ValueError(
                f"`num_shards` must be an integer >= 1. Received: num_shards={num_shards!r}"
            )
        if not isinstance(prefix, str) or not prefix or "/" in prefix or os.sep in prefix:
            raise ValueError(
                f"`prefix` must be a non-empty file name prefix without a path separator. "
                f"Received: prefix={prefix!r}"
            )
        self.out_dir = os.fspath(out_dir)
        self.paths = [
            os.path.join(self.out_dir, name)
            for name in shard_file_names(prefix, num_shards, gzip=gzip)
        ]
        self.num_rows = 0
        self._gzip = gzip
        self._int64_features = frozenset(int64_features)
        self._writers: list[Any] = []
        self._tmp_paths = [f"{path}.tmp-{os.getpid()}" for path in self.paths]
        self._closed = False
        self._declared: frozenset[str] | None = None
        if one_id_features is not None:
            self.declare_one_id(one_id_features)
        self._seen_one_id: set[str] | None = None  # of the rows of write(); None: no row yet
        self._undeclared_records = False

    def declare_one_id(self, features: Collection[str]) -> None:
        """Declare the slot features every record of the files holds exactly one id of.

        Call it before the ``with`` block ends (it replaces an earlier declaration): it
        is recorded in ``one_id_slots.json`` for the input pipeline's fast parse.

        Raises:
            ValueError: if ``features`` is a string or holds a non-string.
        """
        if isinstance(features, str) or not all(isinstance(f, str) for f in features):
            raise ValueError(
                "`one_id_features` must be a collection of feature names. "
                f"Received: one_id_features={features!r}"
            )
        self._declared = frozenset(features)

    def _one_id_of(self) -> frozenset[str]:
        if self._declared is not None:
            return self._declared
        if self._undeclared_records or self._seen_one_id is None:
            return frozenset()
        return frozenset(self._seen_one_id)

    def __enter__(self) -> ShardedExampleWriter:
        import tensorflow as tf

        tf.io.gfile.makedirs(self.out_dir)
        options = tf.io.TFRecordOptions(compression_type="GZIP" if self._gzip else "")
        self._writers = [tf.io.TFRecordWriter(tmp, options=options) for tmp in self._tmp_paths]
        return self

    def write(self, row: Mapping[str, Any]) -> None:
        """Serialize and write one row (see :func:`serialize_example`).

        Raises:
            ValueError: naming the row and feature, for a bad value or a declared
                one-id feature without exactly one id.
        """
        record = serialize_example(row, int64_features=self._int64_features, index=self.num_rows)
        one_id = {
            name
            for name, value in row.items()
            if isinstance(name, str) and _SLOT_FEATURE.match(name) and _holds_one(value)
        }
        if self._declared is not None and not self._declared <= one_id:
            name = sorted(self._declared - one_id)[0]
            raise ValueError(
                f"row {self.num_rows}: `{name}` must hold exactly one id (declared in "
                f"`one_id_features`). Received: {name}={row.get(name)!r}"
            )
        self._write(record)
        self._seen_one_id = one_id if self._seen_one_id is None else self._seen_one_id & one_id

    def write_serialized(self, record: bytes) -> None:
        """Write one already-serialized example."""
        self._write(record)
        self._undeclared_records = True

    def _write(self, record: bytes) -> None:
        if not self._writers or self._closed:
            raise ValueError("`ShardedExampleWriter` must be used inside a `with` block")
        self._writers[self.num_rows % len(self._writers)].write(record)
        self.num_rows += 1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        import tensorflow as tf

        self._closed = True
        for writer in self._writers:
            writer.close()
        if exc_type is not None:
            for tmp in self._tmp_paths:
                if tf.io.gfile.exists(tmp):
                    tf.io.gfile.remove(tmp)
            return
        for tmp, path in zip(self._tmp_paths, self.paths, strict=True):
            tf.io.gfile.rename(tmp, path, overwrite=True)
        record_one_id_features(self.paths, self._one_id_of())
        if self.num_rows < len(self.paths):
            logger.warning(
                "%d rows in %d shards: %d files are empty",
                self.num_rows,
                len(self.paths),
                len(self.paths) - self.num_rows,
            )
        logger.info(
            "wrote %d examples into %d files under %s", self.num_rows, len(self.paths), self.out_dir
        )


def _holds_one(value: Any) -> bool:
    """Whether a row's value is exactly one id (a one-element list, array or a scalar)."""
    if isinstance(value, (str, bytes)):
        return False
    if isinstance(value, np.ndarray):
        return value.size == 1
    if isinstance(value, Sequence):
        return len(value) == 1
    return isinstance(value, (int, np.integer))


def write_examples(
    rows: Iterable[Mapping[str, Any]],
    out_dir: str | os.PathLike[str],
    *,
    prefix: str = "part",
    num_shards: int = 1,
    gzip: bool = False,
    int64_features: Collection[str] = (),
) -> list[str]:
    """Write rows as ``tf.train.Example`` records into sharded TFRecord files.

    Args:
        rows: an iterable (streamed, not held in memory) of mappings, feature name ->
            values: ``slot_{s}_{i}`` int64 id lists, ``label`` one float, any other name a
            float list (dense features).
        out_dir: the output directory (created if missing).
        prefix: file name prefix, e.g. ``"train"``.
        num_shards: number of files; row ``k`` goes to file ``k % num_shards``.
        gzip: gzip the files (read them with ``compression_type="GZIP"``, which the
            input pipeline detects by itself).
        int64_features: further feature names stored as int64 lists.

    Returns:
        The paths of the written files, in shard order (also for empty shards).

    Raises:
        ValueError: for bad arguments, or naming the row and feature of a bad value.

    Example:
        >>> import tempfile
        >>> paths = write_examples(
        ...     [{"slot_1_0": [i], "label": float(i % 2), "dense": [0.5, 1.0]} for i in range(10)],
        ...     tempfile.mkdtemp(), prefix="train", num_shards=3, gzip=True)
        >>> paths[0].endswith("train-00000-of-00003.tfrecord.gz")
        True
    """
    if isinstance(rows, Mapping):
        raise ValueError(
            "`rows` must be an iterable of mappings (one per example), not one mapping. "
            f"Received: rows={type(rows).__name__} with keys {sorted(rows)[:5]}"
        )
    with ShardedExampleWriter(
        out_dir, prefix=prefix, num_shards=num_shards, gzip=gzip, int64_features=int64_features
    ) as writer:
        for row in rows:
            writer.write(row)
    return list(writer.paths)


def encode_example(
    int64_features: Mapping[str, Sequence[int]],
    float_features: Mapping[str, Sequence[float]] | None = None,
) -> bytes:
    """Serializes a flat ``tf.train.Example`` of int64 and float list features.

    A thin wrapper of :func:`serialize_example` (one encoder for the whole package).

    Args:
        int64_features: feature name -> int64 values (any number, also none).
        float_features: feature name -> float values.

    Returns:
        The serialized example, as ``tf.io.parse_example`` reads it.

    Example:
        >>> len(encode_example({"slot_1_0": [3]}, {"label": [1.0]}))
        40
    """
    row: dict[str, Any] = {k: list(v) for k, v in int64_features.items()}
    row.update({k: list(v) for k, v in (float_features or {}).items()})
    return serialize_example(row, int64_features=tuple(int64_features))


def write_tfrecords(
    records: Sequence[bytes],
    out_dir: str,
    prefix: str,
    num_files: int,
    one_id_features: Collection[str] | None = None,
) -> list[str]:
    """Writes serialized records round-robin into ``num_files`` TFRecord files.

    A thin wrapper of :class:`ShardedExampleWriter`.

    Args:
        records: serialized examples.
        out_dir: target directory (created if missing).
        prefix: file name prefix (``{prefix}-00000-of-00004.tfrecord``).
        num_files: number of files.
        one_id_features: slot features every record holds one id of (recorded for the
            input pipeline's fast parse); None records none.

    Returns:
        The written paths, in shard order.

    Example:
        >>> write_tfrecords([encode_example({"a": [1]})], "/tmp/x", "train", 1)  # doctest: +SKIP
    """
    with ShardedExampleWriter(
        out_dir, prefix=prefix, num_shards=num_files, one_id_features=one_id_features
    ) as writer:
        for record in records:
            writer.write_serialized(record)
    return list(writer.paths)
