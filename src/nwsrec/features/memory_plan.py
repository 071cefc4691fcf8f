"""The embedding-table memory plan: how many bytes a model's tables take.

For each table ``rows x (dim x parameter copies + row state) x 4 bytes`` (see
:func:`nwsrec.features.parameter_copies` and :func:`nwsrec.features.row_state_floats`:
``AdagradRowwise`` keeps one float per row), and three totals, the seed's three figures:

- ``raw_bytes``: the sum over tables;
- ``padded_bytes``: the same with every dim padded up to a multiple of 8 (how TPU
  embedding stores rows);
- ``padded_max_copies_bytes``: padded, and every table charged the largest
  parameter-copy count of the model (what a layout that gives every table the same
  optimizer-state shape needs).

Tables of one width and optimizer share one variable (a *group*, see
:mod:`nwsrec.embedding.specs`); each row names its group, :meth:`TableMemoryPlan.groups`
sums them.

Pure Python: planning 10,000 tables takes milliseconds and needs no TensorFlow object.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from nwsrec.checks import is_int
from nwsrec.machine import format_bytes

__all__ = ["FLOAT32_BYTES", "TableMemoryPlan", "TableMemoryRow", "format_bytes", "padding_8"]

FLOAT32_BYTES = 4
"""Bytes per embedding value (float32)."""


def padding_8(dim: int) -> int:
    """``dim`` rounded up to a multiple of 8 (the seed's ``_padding_8``).

    Args:
        dim: a non-negative embedding width.

    Raises:
        ValueError: if ``dim`` is not a non-negative integer.

    Example:
        >>> [padding_8(d) for d in (0, 1, 8, 9, 16)]
        [0, 8, 8, 16, 16]
    """
    if not is_int(dim) or dim < 0:
        raise ValueError(f"`dim` must be a non-negative integer. Received: dim={dim!r}")
    return -(-dim // 8) * 8


@dataclass(frozen=True, slots=True)
class TableMemoryRow:
    """The memory of one embedding table.

    Args:
        name: table name, ``table_{slot}_{index}``.
        slot_id: the slot the table belongs to.
        rows: vocabulary size of the slot.
        dim: the slice's embedding width (>= 1).
        copies: parameter copies of its optimizer (table + optimizer state, >= 1).
        optimizer: the optimizer's short name (``"Adagrad"``, ...), for display.
        bucket: the frequency bucket of the slot's ids the table holds (0 = the most
            frequent ids; ``rows`` is then the bucket's), or None for a table of every id.
        group: the table group whose variable holds the table's rows (None: a variable
            of its own).
        row_state: floats of optimizer state per row that do not scale with ``dim``
            (``AdagradRowwise``: 1).
        fill_bytes: the temporary that fills the table when it is built (None: the
            table's own bytes; less where it is filled in blocks of rows).

    Example:
        >>> row = TableMemoryRow("table_3_1", 3, rows=1000, dim=12, copies=2)
        >>> row.raw_bytes, row.padded_dim, row.padded_bytes
        (96000, 16, 128000)
    """

    name: str
    slot_id: int
    rows: int
    dim: int
    copies: int
    optimizer: str = ""
    bucket: int | None = None
    group: str | None = None
    row_state: int = 0
    fill_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.fill_bytes is not None and (not is_int(self.fill_bytes) or self.fill_bytes < 0):
            raise ValueError(
                f"`fill_bytes` of table {self.name} must be None or an integer >= 0. "
                f"Received: fill_bytes={self.fill_bytes!r}"
            )
        if not is_int(self.row_state) or self.row_state < 0:
            raise ValueError(
                f"`row_state` of table {self.name} must be an integer >= 0. "
                f"Received: row_state={self.row_state!r}"
            )
        if self.bucket is not None and (not is_int(self.bucket) or self.bucket < 0):
            raise ValueError(
                f"`bucket` of table {self.name} must be None or an integer >= 0. "
                f"Received: bucket={self.bucket!r}"
            )
        if (
            type(self.slot_id) is int
            and type(self.rows) is int
            and type(self.dim) is int
            and type(self.copies) is int
            and self.slot_id >= 0
            and self.rows >= 0
            and self.dim >= 1
            and self.copies >= 1
            and type(self.name) is str
            and self.name
        ):
            return  # the common case, checked fast: plans of 10,000s of tables
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"`name` must be a non-empty string. Received: name={self.name!r}")
        for arg, value, low in (
            ("slot_id", self.slot_id, 0),
            ("rows", self.rows, 0),
            ("dim", self.dim, 1),
            ("copies", self.copies, 1),
        ):
            if not is_int(value) or value < low:
                raise ValueError(
                    f"`{arg}` of table {self.name} must be an integer >= {low}. "
                    f"Received: {arg}={value!r}"
                )

    @property
    def padded_dim(self) -> int:
        """``dim`` rounded up to a multiple of 8."""
        return -(-self.dim // 8) * 8

    @property
    def raw_bytes(self) -> int:
        """``rows * (dim * copies + row_state) * 4``."""
        return self.rows * (self.dim * self.copies + self.row_state) * FLOAT32_BYTES

    @property
    def table_bytes(self) -> int:
        """``rows * dim * 4``: the table alone, without optimizer state."""
        return self.rows * self.dim * FLOAT32_BYTES

    @property
    def fill_temporary_bytes(self) -> int:
        """The temporary that fills the table: ``fill_bytes``, or the table's bytes."""
        return self.table_bytes if self.fill_bytes is None else self.fill_bytes

    @property
    def padded_bytes(self) -> int:
        """``rows * (padding_8(dim) * copies + row_state) * 4``."""
        return self.rows * (self.padded_dim * self.copies + self.row_state) * FLOAT32_BYTES

    def padded_bytes_with_copies(self, copies: int) -> int:
        """``rows * (padding_8(dim) * copies + row_state) * 4`` for a given copy count."""
        return self.rows * (self.padded_dim * copies + self.row_state) * FLOAT32_BYTES


@dataclass(frozen=True)
class TableMemoryPlan:
    """The memory plan of a model's embedding tables.

    Args:
        tables: one :class:`TableMemoryRow` per table; names must be unique.

    Attributes:
        max_copies: the largest parameter-copy count of any table (0 with no table).
        raw_bytes: sum of ``rows * dim * 4 * copies``.
        padded_bytes: sum of ``rows * padding_8(dim) * 4 * copies``.
        padded_max_copies_bytes: sum of ``rows * padding_8(dim) * 4 * max_copies``.

    Example:
        >>> plan = TableMemoryPlan.from_rows([
        ...     TableMemoryRow("table_1_0", 1, rows=10, dim=1, copies=3, optimizer="FTRL"),
        ...     TableMemoryRow("table_1_1", 1, rows=10, dim=4, copies=2, optimizer="Adagrad"),
        ... ])
        >>> plan.raw_bytes, plan.padded_bytes, plan.padded_max_copies_bytes
        (440, 1600, 1920)
    """

    tables: tuple[TableMemoryRow, ...]
    max_copies: int = field(init=False)
    raw_bytes: int = field(init=False)
    padded_bytes: int = field(init=False)
    padded_max_copies_bytes: int = field(init=False)

    def __post_init__(self) -> None:
        tables = tuple(self.tables)
        seen: set[str] = set()
        for row in tables:
            if not isinstance(row, TableMemoryRow):
                raise ValueError(
                    f"`tables` must hold TableMemoryRow objects. Received: element={row!r}"
                )
            if row.name in seen:
                raise ValueError(
                    f"`tables` must have unique names. Received: duplicate name={row.name!r}"
                )
            seen.add(row.name)
        max_copies = max((row.copies for row in tables), default=0)
        raw = padded = padded_max = 0
        for row in tables:
            cells = row.rows * FLOAT32_BYTES
            padded_cells = cells * (-(-row.dim // 8) * 8)
            row_state = cells * row.row_state
            raw += cells * row.dim * row.copies + row_state
            padded += padded_cells * row.copies + row_state
            padded_max += padded_cells * max_copies + row_state
        object.__setattr__(self, "tables", tables)
        object.__setattr__(self, "max_copies", max_copies)
        object.__setattr__(self, "raw_bytes", raw)
        object.__setattr__(self, "padded_bytes", padded)
        object.__setattr__(self, "padded_max_copies_bytes", padded_max)

    @classmethod
    def from_rows(cls, rows: Iterable[TableMemoryRow]) -> TableMemoryPlan:
        """Build a plan from an iterable of rows.

        Example:
            >>> TableMemoryPlan.from_rows([]).raw_bytes
            0
        """
        return cls(tuple(rows))

    @property
    def build_bytes(self) -> int:
        """What building the tables needs at its peak: ``raw_bytes`` plus the largest
        temporary that fills one table (each table, also a member of a group's variable,
        is filled from a temporary of its size, or of a few blocks of rows where it is
        filled in blocks: ``TableMemoryRow.fill_bytes``).

        Example:
            >>> row = TableMemoryRow("t", 1, rows=10, dim=4, copies=2)  # 2 x 160 bytes
            >>> TableMemoryPlan.from_rows([row]).build_bytes
            480
        """
        return self.raw_bytes + max((row.fill_temporary_bytes for row in self.tables), default=0)

    def groups(self) -> dict[str, dict[str, Any]]:
        """``{group: {"tables", "rows", "dim", "optimizer", "raw_bytes"}}`` of the tables
        that name a group, in the order of their first table.

        Example:
            >>> plan = TableMemoryPlan.from_rows([
            ...     TableMemoryRow("table_1_0", 1, rows=10, dim=1, copies=3, group="ftrl_dim1"),
            ...     TableMemoryRow("table_2_0", 2, rows=5, dim=1, copies=3, group="ftrl_dim1"),
            ... ])
            >>> plan.groups()["ftrl_dim1"]["rows"], plan.groups()["ftrl_dim1"]["tables"]
            (15, 2)
        """
        out: dict[str, dict[str, Any]] = {}
        for row in self.tables:
            if row.group is None:
                continue
            entry = out.setdefault(
                row.group,
                {"tables": 0, "rows": 0, "dim": row.dim, "optimizer": row.optimizer},
            )
            entry["tables"] += 1
            entry["rows"] += row.rows
            entry["raw_bytes"] = entry.get("raw_bytes", 0) + row.raw_bytes
        return out

    @property
    def num_parameters(self) -> int:
        """Embedding parameters (``rows * dim`` summed over tables, optimizer state excluded)."""
        return sum(row.rows * row.dim for row in self.tables)

    def summary(self) -> str:
        """The three totals on one line, for logs."""
        groups = self.groups()
        grouped = f" in {len(groups)} groups" if groups else ""
        return (
            f"{len(self.tables)} tables{grouped}, {self.num_parameters} embedding parameters; "
            f"raw {self.raw_bytes} B ({format_bytes(self.raw_bytes)}), "
            f"padded to 8 {self.padded_bytes} B ({format_bytes(self.padded_bytes)}), "
            f"padded with max copies ({self.max_copies}) {self.padded_max_copies_bytes} B "
            f"({format_bytes(self.padded_max_copies_bytes)})"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: every table and the totals.

        Example:
            >>> TableMemoryPlan.from_rows([]).to_dict()["raw_bytes"]
            0
        """
        return {
            "tables": [
                {
                    "name": row.name,
                    "slot_id": row.slot_id,
                    "rows": row.rows,
                    "dim": row.dim,
                    "padded_dim": row.padded_dim,
                    "optimizer": row.optimizer,
                    "bucket": row.bucket,
                    "group": row.group,
                    "copies": row.copies,
                    "row_state": row.row_state,
                    "raw_bytes": row.raw_bytes,
                    "padded_bytes": row.padded_bytes,
                }
                for row in self.tables
            ],
            "groups": self.groups(),
            "num_parameters": self.num_parameters,
            "max_copies": self.max_copies,
            "raw_bytes": self.raw_bytes,
            "padded_bytes": self.padded_bytes,
            "padded_max_copies_bytes": self.padded_max_copies_bytes,
        }

    def format_table(self, max_tables: int | None = None) -> str:
        """The plan as a text table: one line per table, then the totals.

        Args:
            max_tables: print at most this many table lines (the totals always cover
                every table); ``None`` prints all.

        Example:
            >>> plan = TableMemoryPlan.from_rows(
            ...     [TableMemoryRow("table_1_0", 1, rows=10, dim=4, copies=1, optimizer="SGD")])
            >>> print(plan.format_table())  # doctest: +NORMALIZE_WHITESPACE
            table      rows  dim  padded dim  optimizer  copies  bytes  padded bytes
            table_1_0    10    4           8  SGD             1    160           320
            <BLANKLINE>
            tables: 1, embedding parameters: 40, max copies: 1
            raw bytes:                        160 (160 B)
            padded to 8:                      320 (320 B)
            padded to 8, max copies:          320 (320 B)
        """
        if max_tables is not None and (not is_int(max_tables) or max_tables < 0):
            raise ValueError(
                f"`max_tables` must be None or an integer >= 0. Received: max_tables={max_tables!r}"
            )
        header: tuple[str, ...] = (
            "table",
            "rows",
            "dim",
            "padded dim",
            "optimizer",
            "copies",
            "bytes",
            "padded bytes",
        )
        shown = self.tables if max_tables is None else self.tables[:max_tables]
        body: list[tuple[str, ...]] = [
            (
                row.name,
                str(row.rows),
                str(row.dim),
                str(row.padded_dim),
                row.optimizer,
                str(row.copies),
                str(row.raw_bytes),
                str(row.padded_bytes),
            )
            for row in shown
        ]
        if any(row.bucket is not None for row in self.tables):
            # Frequency buckets (0 = most frequent ids): a column after the table name.
            header = (header[0], "bucket", *header[1:])
            body = [
                (line[0], "-" if row.bucket is None else str(row.bucket), *line[1:])
                for line, row in zip(body, shown, strict=True)
            ]
        groups = self.groups()
        if groups:
            # The variable a table's rows live in: the last column.
            header = (*header, "group")
            body = [(*line, row.group or "-") for line, row in zip(body, shown, strict=True)]
        widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
        left = {i for i, name in enumerate(header) if name in ("table", "group", "optimizer")}

        def render(cells: tuple[str, ...]) -> str:
            parts = [
                cell.ljust(width) if i in left else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
            ]
            return "  ".join(parts).rstrip()

        lines = [render(header), *(render(line) for line in body)]
        if len(shown) < len(self.tables):
            lines.append(f"... {len(self.tables) - len(shown)} more tables")
        lines.append("")
        if groups:
            lines.append(
                f"groups: {len(groups)} (tables of one width and optimizer share a variable)"
            )
            for name, entry in groups.items():
                lines.append(
                    f"  {name}: {entry['tables']} tables, {entry['rows']} rows x {entry['dim']}, "
                    f"{entry['optimizer']}, {format_bytes(entry['raw_bytes'])}"
                )
        lines.append(
            f"tables: {len(self.tables)}, embedding parameters: {self.num_parameters}, "
            f"max copies: {self.max_copies}"
        )
        for label, value in (
            ("raw bytes:", self.raw_bytes),
            ("padded to 8:", self.padded_bytes),
            ("padded to 8, max copies:", self.padded_max_copies_bytes),
        ):
            lines.append(f"{label:<26}{value:>15} ({format_bytes(value)})")
        return "\n".join(lines)
