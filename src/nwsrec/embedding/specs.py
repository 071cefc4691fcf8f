"""Embedding tables as plain data, and how tables are grouped into shared variables.

A :class:`TableSpec` says what one table is (name, rows, width, optimizer, initializer);
nothing here creates a TensorFlow variable. :func:`plan_groups` decides which tables share
one variable: tables of the same width, dtype and optimizer (its class and every
hyper-parameter, a callable learning rate by identity) form one group, stacked by rows in
the order of the specs::

    specs   table_1_0 [10, 1] FTRL   table_1_1 [10, 16] Adagrad   table_2_0 [7, 1] FTRL
            table_2_1 [7, 16] Adagrad
    groups  ftrl_dim1      rows 0-9 table_1_0, rows 10-16 table_2_0           [17, 1]
            adagrad_dim16  rows 0-9 table_1_1, rows 10-16 table_2_1           [17, 16]

A step then does one unique, gather, optimizer update and scatter per group instead of
per table (TorchRec / FBGEMM's table-batched embeddings). With ``grouped=False`` every
table is a group of its own, named as the table: the checkpoint layout of nwsrec before
groups.

The configs are read in one direction: :mod:`nwsrec.embedding.collection` builds the
variables from these plans; the plans never know the variables.

Example:
    >>> import tensorflow as tf
    >>> E = tf.tpu.experimental.embedding
    >>> specs = [TableSpec("table_1_0", 10, 1, E.FTRL(0.1)),
    ...          TableSpec("table_2_0", 7, 1, E.FTRL(0.1))]
    >>> [(g.name, g.rows, g.offsets) for g in plan_groups(specs)]
    [('ftrl_dim1', 17, (0, 10))]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence
from typing import Any

from nwsrec.checks import is_int
from nwsrec.features.optimizers import EmbeddingOptimizer, Initializer, optimizer_name

__all__ = [
    "GROUP_VALUES_CAP",
    "GroupPlan",
    "TableSpec",
    "group_names",
    "optimizer_key",
    "plan_groups",
]


@dataclasses.dataclass(frozen=True, eq=False)
class TableSpec:
    """One embedding table as data.

    Attributes:
        name: the table's name, a Python identifier (``table_{s}_{i}``).
        rows: its rows (ids lie in ``[0, rows)``), >= 1.
        dim: its width, >= 1.
        optimizer: its sparse optimizer (a ``tf.tpu.experimental.embedding`` object or an
            :class:`nwsrec.features.AdagradRowwise`).
        initializer: what fills it, called as ``initializer(shape, dtype=...)``; None:
            truncated normal with stddev ``1 / sqrt(dim)``.
        dtype: the values' dtype name; only ``"float32"`` is trained today.
    """

    name: str
    rows: int
    dim: int
    optimizer: EmbeddingOptimizer
    initializer: Initializer | str | None = None
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(
                "`name` of a table spec must be a Python identifier such as 'table_3_0'. "
                f"Received: name={self.name!r}"
            )
        for arg, value in (("rows", self.rows), ("dim", self.dim)):
            if not is_int(value) or value < 1:
                raise ValueError(
                    f"`{arg}` of table '{self.name}' must be an integer >= 1. "
                    f"Received: {arg}={value!r}"
                )
        if self.dtype != "float32":
            raise ValueError(
                f"`dtype` of table '{self.name}' must be 'float32'. Received: dtype={self.dtype!r}"
            )


def _hashable(value: Any) -> Hashable:
    if callable(value):
        return ("callable", id(value))
    try:
        hash(value)
    except TypeError:
        return ("repr", repr(value))
    return value


def optimizer_key(optimizer: EmbeddingOptimizer) -> tuple[Any, ...]:
    """What decides whether two tables' optimizers update alike: the class and every
    hyper-parameter (a callable, such as a learning-rate schedule, by identity).

    Example:
        >>> import tensorflow as tf
        >>> E = tf.tpu.experimental.embedding
        >>> optimizer_key(E.Adagrad(0.1)) == optimizer_key(E.Adagrad(0.1))
        True
        >>> optimizer_key(E.Adagrad(0.1)) == optimizer_key(E.Adagrad(0.2))
        False
    """
    items = sorted(vars(optimizer).items())
    return (type(optimizer), tuple((key, _hashable(value)) for key, value in items))


@dataclasses.dataclass(frozen=True, eq=False)
class GroupPlan:
    """Tables that share one variable: their specs stacked by rows.

    Attributes:
        name: the group's name (``<optimizer>_dim<d>``, ``_<k>`` added for a second group
            of the same optimizer class and width with other hyper-parameters; the table's
            own name for a group of one table with ``grouped=False``).
        members: the tables, in row order.
        offsets: the first row of each member.
    """

    name: str
    members: tuple[TableSpec, ...]
    offsets: tuple[int, ...]

    @property
    def rows(self) -> int:
        """The group's rows: the sum of its members'."""
        return self.offsets[-1] + self.members[-1].rows

    @property
    def dim(self) -> int:
        """The members' width."""
        return self.members[0].dim

    @property
    def optimizer(self) -> EmbeddingOptimizer:
        """The optimizer of the group (its first member's object; all are alike)."""
        return self.members[0].optimizer


#: A group holds at most this many values (rows x dim), or the model's largest table if
#: that is larger: a group's variable is read whole by a checkpoint save or restore and
#: its optimizer slots are filled whole, so the capped groups keep those temporaries near
#: what one table's were before groups (256 MiB of float32).
GROUP_VALUES_CAP = 1 << 26


def group_names(
    tables: Sequence[tuple[int, int, EmbeddingOptimizer]],
    grouped: bool = True,
    names: Sequence[str] | None = None,
) -> list[str]:
    """The group of each table, given its ``(rows, dim, optimizer)``, as
    :func:`plan_groups` names them (pure Python, for memory plans of many tables).

    Tables of one width, dtype and optimizer share a group, in order, until it would hold
    more than ``max(GROUP_VALUES_CAP, the largest table's rows x dim)`` values; the next
    one starts a group named ``<name>_part<k>``.

    Args:
        tables: ``(rows, dim, optimizer)`` of each table, in order.
        grouped: as :func:`plan_groups`; False names each group after its table.
        names: the tables' names (needed when ``grouped`` is False).

    Example:
        >>> import tensorflow as tf
        >>> E = tf.tpu.experimental.embedding
        >>> ftrl, ada = E.FTRL(0.1), E.Adagrad(0.1)
        >>> group_names([(9, 1, ftrl), (9, 16, ada), (9, 1, ftrl), (9, 16, E.Adagrad(0.5))])
        ['ftrl_dim1', 'adagrad_dim16', 'ftrl_dim1', 'adagrad_dim16_1']
    """
    if not grouped:
        if names is None or len(names) != len(tables):
            raise ValueError(
                "`names` must name every table when grouped=False. "
                f"Received: {None if names is None else len(names)} names for {len(tables)} tables"
            )
        return list(names)
    cap = max([GROUP_VALUES_CAP, *(rows * dim for rows, dim, _ in tables)])
    keys_by_object: dict[int, tuple[Any, ...]] = {}
    base_of_key: dict[tuple[Any, ...], str] = {}
    filling: dict[tuple[Any, ...], tuple[str, int, int]] = {}  # key -> (name, part, values)
    used: dict[str, int] = {}
    out = []
    for rows, dim, optimizer in tables:
        key = keys_by_object.get(id(optimizer))
        if key is None:
            key = keys_by_object[id(optimizer)] = optimizer_key(optimizer)
        full = (dim, "float32", key)
        base = base_of_key.get(full)
        if base is None:
            stem = f"{optimizer_name(optimizer).lower()}_dim{dim}"
            count = used.get(stem, 0)
            used[stem] = count + 1
            base = base_of_key[full] = stem if count == 0 else f"{stem}_{count}"
            filling[full] = (base, 0, 0)
        name, part, values = filling[full]
        if values and values + rows * dim > cap:
            part += 1
            name, values = f"{base}_part{part}", 0
        filling[full] = (name, part, values + rows * dim)
        out.append(name)
    return out


def plan_groups(specs: Sequence[TableSpec], grouped: bool = True) -> list[GroupPlan]:
    """The groups of ``specs``, in the order of each group's first table.

    Args:
        specs: the tables; names must be unique.
        grouped: share variables among tables of one (width, dtype, optimizer); False
            gives each table a group of its own, named as the table.

    Raises:
        ValueError: a duplicate table name.
    """
    seen: set[str] = set()
    for spec in specs:
        if not isinstance(spec, TableSpec):
            raise ValueError(f"`specs` must hold TableSpec objects. Received: {spec!r}")
        if spec.name in seen:
            raise ValueError(
                f"`specs` must have unique table names. Received: duplicate name={spec.name!r}"
            )
        seen.add(spec.name)
    names = group_names(
        [(spec.rows, spec.dim, spec.optimizer) for spec in specs],
        grouped,
        [spec.name for spec in specs],
    )
    members: dict[str, list[TableSpec]] = {}
    for spec, name in zip(specs, names, strict=True):
        members.setdefault(name, []).append(spec)
    plans = []
    for name, group in members.items():
        offsets, start = [], 0
        for spec in group:
            offsets.append(start)
            start += spec.rows
        plans.append(GroupPlan(name, tuple(group), tuple(offsets)))
    return plans
