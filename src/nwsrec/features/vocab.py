"""The vocab-size file: how many rows each slot's tables have."""

from __future__ import annotations

import logging
import os

__all__ = ["read_vocab_file"]

logger = logging.getLogger(__name__)


def _is_ascii_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def read_vocab_file(
    path: str | os.PathLike[str], vocab_size_per_slot: int | None = None
) -> dict[int, int]:
    """Read a vocab-size TSV into ``{slot_id: vocab_size}`` (the seed's ``_create_vocab_dict``).

    Each line is ``slot_id<TAB>count``. A line whose slot id is not a number (a header
    such as ``slot<TAB>count``) is skipped, and so are empty lines.

    Args:
        path: the TSV file.
        vocab_size_per_slot: ``None`` to use each line's count; an integer >= 1 to give
            every listed slot that size instead (faster experiments).

    Returns:
        ``{slot_id: vocab_size}`` in file order.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: naming the file (and line): a binary or non-UTF-8 file, no slot;
            for a line without exactly two fields, a count that is not a non-negative
            integer, or a slot listed twice; or for a
            ``vocab_size_per_slot`` that is neither ``None`` nor an integer >= 1.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "vocab.tsv"
        >>> _ = path.write_text("slot\\tcount\\n1\\t100\\n7\\t3\\n")
        >>> read_vocab_file(path)
        {1: 100, 7: 3}
        >>> read_vocab_file(path, vocab_size_per_slot=64)
        {1: 64, 7: 64}
    """
    if vocab_size_per_slot is not None and (
        isinstance(vocab_size_per_slot, bool)
        or not isinstance(vocab_size_per_slot, int)
        or vocab_size_per_slot < 1
    ):
        raise ValueError(
            "`vocab_size_per_slot` must be None or an integer >= 1. "
            f"Received: vocab_size_per_slot={vocab_size_per_slot!r}"
        )
    path = os.fspath(path)
    sizes: dict[int, int] = {}
    first_line: dict[int, int] = {}
    with open(path, "rb") as handle:
        raw = handle.read()
    if b"\x00" in raw:
        raise ValueError(
            f"{path}: a vocab file must be text (slot_id<TAB>count lines). Received: a binary "
            "file (NUL bytes)"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        bad_line = raw[: err.start].count(b"\n") + 1
        raise ValueError(
            f"{path}:{bad_line}: a vocab file must be UTF-8 text. Received: byte "
            f"{raw[err.start : err.start + 1]!r} at offset {err.start}"
        ) from None
    for line_number, raw_line in enumerate(text.split("\n"), start=1):
        line = raw_line.rstrip("\r\n")
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            raise ValueError(
                f"{path}:{line_number}: each line must have exactly 2 tab-separated "
                f"fields (slot_id<TAB>count). Received: line={line!r}"
            )
        slot_text, count_text = fields[0].strip(), fields[1].strip()
        if not _is_ascii_digits(slot_text):
            logger.debug("%s:%d: skipping non-numeric slot id %r", path, line_number, slot_text)
            continue
        if not _is_ascii_digits(count_text):
            raise ValueError(
                f"{path}:{line_number}: `count` must be a non-negative integer. "
                f"Received: count={count_text!r}"
            )
        slot_id = int(slot_text)
        if slot_id in sizes:
            raise ValueError(
                f"{path}:{line_number}: each slot must be listed once; slot {slot_id} "
                f"is already on line {first_line[slot_id]}. Received: slot_id={slot_id}"
            )
        first_line[slot_id] = line_number
        count = int(count_text)
        sizes[slot_id] = count if vocab_size_per_slot is None else vocab_size_per_slot
    if vocab_size_per_slot is not None:
        logger.info(
            "Fixed vocab size %d for all %d slots of %s", vocab_size_per_slot, len(sizes), path
        )
    if not sizes:
        raise ValueError(
            f"{path}: a vocab file must list at least one slot (slot_id<TAB>count lines). "
            f"Received: {'an empty file' if not text.strip() else 'no line with a numeric slot id'}"
        )
    return sizes
