"""Frequency buckets of a slot's ids: count the ids in TFRecords, split them head / tail.

A slot's ids are ranked by how often they occur in the training records (most frequent
first, ties by id). ``fractions`` are cumulative shares of the slot's *seen* ids (ids that
occur at least once): ``[0.1]`` puts the 10% most frequent seen ids in bucket 0 (the
head) and the other 90% in bucket 1 (the tail); ``[0.1, 0.4]`` makes three buckets of
10%, 30% and 60% of the seen ids. Every bucket keeps at least one seen id. Ids that never
occur (count 0) share one row, the last bucket's *unseen* row: they cannot be learned
from the records, so they cost one row instead of one each.

Each id of ``[0, vocab)`` lives in exactly one bucket, at one row of it::

    counts   id: 0  1  2  3  4  5        fractions [0.34] -> 5 seen ids, head = 2
             c:  9  0  4  7  1  1
    rank (by -c, id): 0, 3, 2, 4, 5  (id 1 unseen)
    bucket_of: [0, 1, 1, 0, 1, 1]     row_of: [0, 3, 0, 1, 1, 2]
    rows: (2, 4)   (tail: ids 2, 4, 5 and the unseen row shared by id 1)

A :class:`BucketMap` holds that remap for every bucketed slot and is saved as one
``.npz`` file with the counts it came from and the files they were counted in (so a
stale file is noticed). The counts are those of :mod:`nwsrec.data.counts`: recorded by
``nwsrec convert`` and the generators (``id_counts.npz``, :func:`read_id_counts`), or
scanned from TFRecord files (:func:`~nwsrec.data.counts.count_ids`).

Example:
    >>> import numpy as np
    >>> buckets = frequency_buckets({3: np.array([9, 0, 4, 7, 1, 1])}, [0.34])
    >>> buckets.bucket_of(3).tolist(), buckets.row_of(3).tolist(), buckets.rows(3)
    ([0, 1, 1, 0, 1, 1], [0, 3, 0, 1, 1, 2], (2, 4))
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nwsrec.data.counts import count_ids
from nwsrec.files import atomic_path

__all__ = [
    "BucketMap",
    "check_fractions",
    "frequency_buckets",
    "load_or_count_buckets",
]

logger = logging.getLogger(__name__)

_FORMAT = 1


def check_fractions(fractions: Any, arg: str = "id_buckets") -> list[float]:
    """Checks cumulative head fractions: increasing numbers in ``(0, 1)``, at least one.

    Raises:
        ValueError: ``"`id_buckets` must be ... Received: id_buckets=..."``.

    Example:
        >>> check_fractions([0.1, 0.5])
        [0.1, 0.5]
    """
    ok = isinstance(fractions, list | tuple) and len(fractions) >= 1
    values: list[float] = []
    if ok:
        for value in fractions:
            if isinstance(value, bool) or not isinstance(value, int | float):
                ok = False
                break
            values.append(float(value))
    if ok:
        ok = all(0.0 < v < 1.0 for v in values) and all(
            a < b for a, b in zip(values, values[1:], strict=False)
        )
    if not ok:
        raise ValueError(
            f"`{arg}` must be a non-empty list of increasing fractions in (0, 1) (the "
            "cumulative share of a slot's seen ids, most frequent first, in each bucket "
            f"but the last), e.g. [0.1]. Received: {arg}={fractions!r}"
        )
    return values


@dataclass(frozen=True)
class _SlotBuckets:
    bucket_of: np.ndarray  # [vocab] int32
    row_of: np.ndarray  # [vocab] int64
    rows: tuple[int, ...]
    lookups: tuple[int, ...]
    counts: np.ndarray  # [vocab] int64


@dataclass(frozen=True)
class BucketMap:
    """Per bucketed slot, the id -> (bucket, row) remap (see the module docstring).

    Build it with :func:`frequency_buckets`; :meth:`save` / :meth:`load` keep it in a file.

    Attributes:
        fractions: the cumulative head fractions it was made with.
        sources: what the counts were counted in (file names with sizes), or ``()``.
    """

    fractions: tuple[float, ...]
    slots_: Mapping[int, _SlotBuckets] = field(repr=False)
    sources: tuple[str, ...] = ()

    @property
    def slots(self) -> list[int]:
        """The bucketed slots, sorted."""
        return sorted(self.slots_)

    @property
    def num_buckets(self) -> int:
        """Buckets per slot (``len(fractions) + 1``)."""
        return len(self.fractions) + 1

    def _get(self, slot: int) -> _SlotBuckets:
        entry = self.slots_.get(slot)
        if entry is None:
            raise LookupError(
                f"`slot` must be one of the bucketed slots {self.slots}. Received: slot={slot!r}"
            )
        return entry

    def bucket_of(self, slot: int) -> np.ndarray:
        """``[vocab]`` int32: the bucket of every id of the slot (0 = most frequent)."""
        return self._get(slot).bucket_of

    def row_of(self, slot: int) -> np.ndarray:
        """``[vocab]`` int64: the row of every id in its bucket's table."""
        return self._get(slot).row_of

    def rows(self, slot: int) -> tuple[int, ...]:
        """The table rows of each bucket of the slot (the last one with the unseen row)."""
        return self._get(slot).rows

    def lookups(self, slot: int) -> tuple[int, ...]:
        """How many of the counted lookups of the slot fall in each bucket."""
        return self._get(slot).lookups

    def counts(self, slot: int) -> np.ndarray:
        """``[vocab]`` int64: the id counts the buckets were made from."""
        return self._get(slot).counts

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary: per slot, each bucket's rows and share of lookups."""
        out: dict[str, Any] = {"fractions": list(self.fractions), "slots": {}}
        for slot in self.slots:
            entry = self._get(slot)
            total = max(1, sum(entry.lookups))
            out["slots"][str(slot)] = [
                {"rows": rows, "lookups": lookups, "lookup_share": lookups / total}
                for rows, lookups in zip(entry.rows, entry.lookups, strict=True)
            ]
        return out

    def save(self, path: str | os.PathLike[str]) -> str:
        """Writes the map (its counts, fractions and sources) to ``path`` (``.npz``), atomically."""
        path = os.fspath(path)
        arrays: dict[str, np.ndarray] = {
            "format": np.array(_FORMAT),
            "fractions": np.asarray(self.fractions, dtype=np.float64),
            "sources": np.asarray(self.sources, dtype=str),
            "slots": np.asarray(self.slots, dtype=np.int64),
        }
        for slot in self.slots:
            arrays[f"counts_{slot}"] = self._get(slot).counts
        with atomic_path(path, suffix=".npz") as tmp:
            with open(tmp, "wb") as handle:
                # numpy's stub types every ``**kwds`` value against ``allow_pickle: bool``
                # too; the keys here are array names, never ``allow_pickle``.
                np.savez(handle, **arrays)  # type: ignore[arg-type]
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BucketMap:
        """Reads a map written by :meth:`save` (the buckets are rebuilt from its counts).

        Raises:
            ValueError: naming the file, if it is not such a file.
        """
        path = os.fspath(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                if int(data["format"]) != _FORMAT:
                    raise ValueError(f"format {int(data['format'])}")
                fractions = [float(f) for f in data["fractions"]]
                sources = tuple(str(s) for s in data["sources"])
                counts = {int(s): np.asarray(data[f"counts_{int(s)}"]) for s in data["slots"]}
        except (OSError, KeyError, ValueError) as err:
            raise ValueError(
                f"{path}: must be an id-bucket file written by BucketMap.save. Received: {err}"
            ) from None
        return frequency_buckets(counts, fractions, sources=sources)


def frequency_buckets(
    counts: Mapping[int, np.ndarray | Sequence[int]],
    fractions: Sequence[float],
    sources: Iterable[str] = (),
) -> BucketMap:
    """Splits each slot's ids into frequency buckets (see the module docstring).

    Args:
        counts: ``{slot: counts}``, ``counts[i]`` the occurrences of id ``i`` (length =
            the slot's vocab size).
        fractions: cumulative shares of the seen ids in each bucket but the last.
        sources: what the counts were counted in, recorded in the map.

    Returns:
        A :class:`BucketMap` over the slots of ``counts``.

    Raises:
        ValueError: bad fractions, negative counts, or a slot with fewer seen ids than
            buckets (naming the slot).
    """
    fractions = check_fractions(list(fractions))
    num_buckets = len(fractions) + 1
    slots: dict[int, _SlotBuckets] = {}
    for slot, raw in sorted(counts.items()):
        c = np.asarray(raw)
        if c.ndim != 1 or not np.issubdtype(c.dtype, np.integer) or (c < 0).any():
            raise ValueError(
                f"the id counts of slot {slot} must be a 1-D array of non-negative integers. "
                f"Received: dtype={c.dtype}, shape={c.shape}"
            )
        c = c.astype(np.int64)
        seen = np.flatnonzero(c > 0)
        n = len(seen)
        if n < num_buckets:
            raise ValueError(
                f"slot {slot} must have at least one seen id per bucket ({num_buckets} "
                f"buckets); leave it out of `bucket_slots`. Received: {n} seen ids of "
                f"{len(c)}"
            )
        # Most frequent first; a stable sort keeps ties in id order.
        order = seen[np.argsort(-c[seen], kind="stable")]
        bounds = [0]
        for j, fraction in enumerate(fractions, start=1):
            k = int(round(fraction * n))
            bounds.append(min(max(k, bounds[-1] + 1), n - (num_buckets - j)))
        bounds.append(n)
        bucket_of = np.full(len(c), num_buckets - 1, dtype=np.int32)
        row_of = np.zeros(len(c), dtype=np.int64)
        rows, lookups = [], []
        for b in range(num_buckets):
            members = order[bounds[b] : bounds[b + 1]]
            bucket_of[members] = b
            row_of[members] = np.arange(len(members), dtype=np.int64)
            rows.append(len(members))
            lookups.append(int(c[members].sum()))
        unseen = np.flatnonzero(c == 0)
        if len(unseen):
            row_of[unseen] = rows[-1]  # the shared unseen row, after the tail's ids
            rows[-1] += 1
        slots[int(slot)] = _SlotBuckets(bucket_of, row_of, tuple(rows), tuple(lookups), c)
    return BucketMap(tuple(fractions), slots, tuple(sources))


def _file_sources(files: Sequence[str]) -> tuple[str, ...]:
    import tensorflow as tf

    return tuple(f"{path}:{tf.io.gfile.stat(path).length}" for path in files)


def load_or_count_buckets(
    path: str | os.PathLike[str] | None,
    file_pattern: str,
    slots: Mapping[int, int],
    fractions: Sequence[float],
) -> BucketMap:
    """The id buckets of ``slots``: read from ``path`` if it matches, else counted and saved.

    The file matches when it was counted in the same files (names and sizes), holds every
    slot of ``slots`` at its vocab size; its fractions may differ (the buckets are rebuilt
    from its counts). A file that does not match is replaced.

    Args:
        path: the ``.npz`` cache (None: count, do not save).
        file_pattern: the training files to count in.
        slots: ``{slot_id: vocab_size}``.
        fractions: cumulative head fractions.
    """
    from nwsrec.data.files import list_files

    fractions = check_fractions(list(fractions))
    try:
        sources = _file_sources(list_files(file_pattern))
    except ValueError:
        if path is None or not os.path.exists(path):
            raise ValueError(
                "`id_buckets` needs the id counts: the training files to count them in or a "
                f"saved count file. Received: train_file_pattern={file_pattern!r} (no file), "
                f"id_counts_file={None if path is None else os.fspath(path)!r} (missing)"
            ) from None
        cached = BucketMap.load(path)  # no files to check it against (e.g. `nwsrec plan`)
        missing = [s for s in slots if s not in cached.slots_]
        if missing:
            raise ValueError(
                f"{os.fspath(path)}: must hold the id counts of every bucketed slot. "
                f"Received: slot {missing[0]} missing"
            ) from None
        return frequency_buckets(
            {s: cached.counts(s) for s in slots}, fractions, sources=cached.sources
        )
    if path is not None and os.path.exists(path):
        try:
            cached = BucketMap.load(path)
        except ValueError as err:
            logger.warning("%s; counting the ids again", err)
        else:
            fits = cached.sources == sources and all(
                s in cached.slots_ and len(cached.counts(s)) == v for s, v in slots.items()
            )
            if fits:
                counts = {s: cached.counts(s) for s in slots}
                return frequency_buckets(counts, fractions, sources=sources)
            logger.info("%s was counted in other files or slots; counting again", path)
    counts = count_ids(file_pattern, list(slots), vocab_sizes=slots)
    buckets = frequency_buckets(counts, fractions, sources=sources)
    if path is not None:
        buckets.save(path)
        logger.info("id counts saved to %s", path)
    return buckets
