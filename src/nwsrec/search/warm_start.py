"""Warm start: a model at fixed widths initialised from the weights of a finished search.

In the nested supernet layout (``supernet_layout="nested"``) width ``c`` of a slot is the
first ``c`` columns of the slot's one block of ``max(candidates)`` columns, so the
supernet already holds a model for every choice of widths:

- slot ``s`` at width ``d`` reads the first ``d`` columns of the supernet's table of ``s``
  (its bias table whole), and the optimizer's state of those columns (Adagrad's
  accumulators, FTRL's linear and accumulator terms) comes with them, so the fine-tune
  goes on with the step sizes the search reached;
- the DNN's first layer reads the rows of its kernel that face those columns (the block
  of a slot at search position ``p`` starts at row ``p * max(candidates)``; the rows of
  any input after the embeddings, e.g. the ``ctr`` model's dense floats, follow them);
  every other dense weight is copied as it is. The dense optimizer starts afresh.

A slot split into frequency buckets maps bucket by bucket (its bucket tables of width 0
are not declared in the fixed model). :func:`warm_start` is what ``nwsrec train --dims
... --warm-start`` runs before the first step of a new run.

Example (two slots, candidates ``[0, 1, 2]``: slot 1 at 2 and slot 2 at 1 read rows
``[0, 1]`` and ``[2]`` of the supernet's ``[4, units]`` first kernel):

    >>> dnn_input_rows({1: 2, 2: 1}, [1, 2], block=2, extra=0)
    [0, 1, 2]
    >>> dnn_input_rows({1: 0, 2: 2}, [1, 2], block=2, extra=1)
    [2, 3, 4]
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from nwsrec.embedding.collection import TableView, assign_rows

__all__ = ["WarmStart", "dnn_input_rows", "warm_start"]

logger = logging.getLogger(__name__)

_TABLE_NAME = re.compile(r"^table_(\d+)_(\d+)$")


@dataclasses.dataclass(frozen=True)
class WarmStart:
    """What :func:`warm_start` copied.

    Attributes:
        source: the search's directory.
        source_step: the step of the search's weights that were read.
        tables: how many tables were initialised from the supernet's.
        dense_variables: how many dense variables (one of them row-sliced).
    """

    source: str
    source_step: int
    tables: int
    dense_variables: int

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy."""
        return dataclasses.asdict(self)


def dnn_input_rows(
    widths: Mapping[int, int], slot_order: Sequence[int], block: int, extra: int
) -> list[int]:
    """The rows of the supernet's first DNN kernel that a fixed-width model's input faces.

    Args:
        widths: each slot's width in the fixed model (0: not in its input).
        slot_order: the slots in the order of the supernet's blocks (and the fixed
            model's input, which keeps that order and skips slots at 0).
        block: the supernet's block width per slot (``max(candidates)``).
        extra: the number of inputs after the embeddings (the same in both models).
    """
    rows = [
        position * block + k
        for position, slot in enumerate(slot_order)
        for k in range(int(widths.get(slot, 0)))
    ]
    start = len(slot_order) * block
    return rows + list(range(start, start + extra))


def _slot_width(size: int | Sequence[int]) -> int:
    """A fixed slot's vector width: its size, or the widest of its buckets."""
    return max(size) if isinstance(size, Sequence) else int(size)


def _source_table(name: str, dims: Mapping[int, Any]) -> str:
    """The supernet's table that fixed table ``name`` (``table_{slot}_{slice}``) reads."""
    match = _TABLE_NAME.match(name)
    if match is None:
        raise ValueError(f"table {name!r}: expected a name table_<slot>_<slice> to warm-start")
    slot, index = int(match.group(1)), int(match.group(2))
    size = dims.get(slot)
    if index == 0 or not isinstance(size, Sequence):
        return name  # the bias, or the one vector of an unbucketed slot
    # A bucketed slot declares only its buckets of non-zero width, in bucket order; the
    # supernet declares every bucket.
    buckets = [b for b, d in enumerate(size) if d > 0]
    return f"table_{slot}_{buckets[index - 1] + 1}"


def _columns(value: np.ndarray, width: int, source_width: int, what: str) -> np.ndarray:
    """The first ``width`` columns of a ``[rows, source_width]`` array (a per-row value,
    e.g. row-wise Adagrad's accumulator, as it is)."""
    if value.ndim == 2 and value.shape[1] == source_width and width <= source_width:
        return value[:, :width]
    if value.ndim < 2 or value.shape[1] == width:
        return value
    raise ValueError(
        f"{what}: cannot take {width} columns of a supernet value of shape {value.shape}"
    )


def _copy_table(target: TableView, source: TableView) -> None:
    """Writes the first ``target.dim`` columns of ``source`` (and of its optimizer's
    state) into ``target``'s rows of its group."""
    if target.vocab_size != source.vocab_size:
        raise ValueError(
            f"table {target.name}: the search's table has {source.vocab_size} rows, this "
            f"model's {target.vocab_size}; warm-start needs the same vocab"
        )
    values = np.asarray(source.variable)
    assign_rows(
        target.group.variable,
        target.offset,
        _columns(values, target.dim, source.dim, f"table {target.name}"),
    )
    source_slots = source.slot_variables
    for name, variable in target.group.slot_variables.items():
        if name not in source_slots:
            continue  # another optimizer in the search: its state starts afresh
        value = np.asarray(source_slots[name])
        assign_rows(
            variable,
            target.offset,
            _columns(value, target.dim, source.dim, f"table {target.name} ({name})"),
        )


def _copy_dense(
    target: Sequence[Any], source: Sequence[Any], rows_for: Callable[[int], list[int]]
) -> None:
    """Copies the supernet's dense variables; the one kernel whose input width differs
    (the DNN's first layer, ``n`` inputs here) reads rows ``rows_for(n)`` of its source."""
    if len(target) != len(source):
        raise ValueError(
            f"the search's model has {len(source)} dense variables, this model "
            f"{len(target)}; warm-start needs the same DNN (hidden_units)"
        )
    for mine, theirs in zip(target, source, strict=True):
        value = np.asarray(theirs)
        if tuple(mine.shape) != value.shape:
            if len(mine.shape) != 2 or mine.shape[1] != value.shape[1]:
                raise ValueError(
                    f"dense variable {mine.path}: shape {tuple(mine.shape)} here, "
                    f"{value.shape} in the search; warm-start needs the same DNN"
                )
            rows = rows_for(int(mine.shape[0]))
            if len(rows) != mine.shape[0] or (rows and max(rows) >= value.shape[0]):
                raise ValueError(
                    f"dense variable {mine.path}: {mine.shape[0]} input rows here do not "
                    f"map onto the search's {value.shape[0]}; warm-start needs the same DNN"
                )
            value = value[rows]
        mine.assign(value)


def warm_start(trainer: Any, search: Any, source: str = "") -> WarmStart:
    """Initialises ``trainer``'s fixed-width model from ``search``'s supernet.

    Args:
        trainer: a :class:`~nwsrec.training.Trainer` of a fixed-width
            :class:`~nwsrec.search.WidthSearchModel`, before its first step.
        search: a trainer of the same model in search mode, its weights restored.
        source: where ``search``'s weights came from (reported).

    Returns:
        A :class:`WarmStart`.

    Raises:
        ValueError: the search did not use the nested layout, or the two models differ
            in a way no slicing bridges (vocab, DNN), naming the table or variable.
    """
    model, supernet = trainer.model, search.model
    layout = supernet.config.supernet_layout
    if layout != "nested":
        raise ValueError(
            f"warm-start reads the first columns of each slot's block, so the search must "
            f"use supernet_layout='nested'. Received: supernet_layout={layout!r}"
        )
    dims = dict(model.slot_dims)
    source_tables = supernet.tables
    tables = 0
    for name, table in model.tables.items():
        source_name = _source_table(name, dims)
        if source_name not in source_tables:
            raise ValueError(f"table {name}: the search has no table {source_name}")
        _copy_table(table, source_tables[source_name])
        tables += 1
    block = supernet.search_block_width()
    widths = {slot: _slot_width(size) for slot, size in dims.items()}
    embedded = sum(widths.values())
    order = list(supernet.slot_ids)

    def rows_for(inputs: int) -> list[int]:
        return dnn_input_rows(widths, order, block, max(inputs - embedded, 0))

    _copy_dense(trainer.dense_variables, search.dense_variables, rows_for)
    report = WarmStart(
        source=source,
        source_step=int(search.step),
        tables=tables,
        dense_variables=len(trainer.dense_variables),
    )
    logger.info(
        "warm start from %s (step %d): %d tables and %d dense variables",
        source or "the search",
        report.source_step,
        report.tables,
        report.dense_variables,
    )
    return report
