"""What a choice of widths costs: embedding parameters, the search's selection units.

The NWS layer's slot names are the *selection units*: ``"<slot>"`` for a slot with one id
range, ``"<slot>:<bucket>"`` for one frequency bucket of a slot (bucket 0 = the most
frequent ids). A unit of ``rows`` table rows at size ``d`` costs ``rows x d`` vector
parameters; a slot that keeps any unit above size 0 also keeps its bias table (one
parameter per id), and a slot with every unit at 0 is dropped with its bias.

Example:
    >>> embedding_parameters_of({"1": 10, "2": 3}, {"1": 10, "2": 3}, {"1": 4, "2": 0})
    50
    >>> unit_slot_name("7:1"), unit_slot_name("7")
    ('7', '7')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["embedding_parameters_of", "full_sizes", "unit_bucket", "unit_slot_name"]


def unit_slot_name(unit: str) -> str:
    """The slot a selection unit belongs to: ``"7"`` for ``"7"`` and ``"7:2"``."""
    return str(unit).split(":", 1)[0]


def unit_bucket(unit: str) -> int | None:
    """A unit's frequency bucket (``"7:2"`` -> 2), or None for a whole slot (``"7"``)."""
    _, sep, bucket = str(unit).partition(":")
    return int(bucket) if sep else None


def embedding_parameters_of(
    unit_rows: Mapping[str, int],
    slot_bias_rows: Mapping[Any, int],
    sizes: Mapping[str, int],
) -> int:
    """Embedding parameters (bias and vector tables) of a choice of unit sizes.

    Args:
        unit_rows: ``{unit: table rows}`` of every unit.
        slot_bias_rows: ``{slot: bias rows}`` (keys ints or strings); a slot missing here
            has no bias table.
        sizes: ``{unit: size}`` for every unit of ``unit_rows``.

    Returns:
        ``sum(rows x size) + sum of the bias rows of every slot with a unit > 0``.

    Raises:
        ValueError: a unit without a size, or a negative size.
    """
    bias = {str(k): int(v) for k, v in slot_bias_rows.items()}
    total = 0
    kept: set[str] = set()
    for unit, rows in unit_rows.items():
        if unit not in sizes:
            raise ValueError(
                f"`sizes` must give every unit a size. Received: unit {unit!r} missing"
            )
        size = int(sizes[unit])
        if size < 0:
            raise ValueError(f"the size of unit {unit!r} must be >= 0. Received: size={size}")
        total += int(rows) * size
        if size > 0:
            kept.add(unit_slot_name(unit))
    return total + sum(bias.get(slot, 0) for slot in kept)


def full_sizes(candidates: Mapping[str, Any]) -> dict[str, int]:
    """Full width: every unit at its largest candidate."""
    return {unit: max(int(c) for c in sizes) for unit, sizes in candidates.items()}
