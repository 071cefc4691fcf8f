"""What the synthetic generators share: a planted truth and its interaction ring.

Both ``nwsrec.data.synthetic`` and ``nwsrec.data.criteo`` plant signal in some slots
(pairs of slots interact along a ring) and leave the others as pure noise, and save what
they planted in ``truth.json``.

Example:
    >>> ring_edges(4, 1)
    [(0, 1), (0, 3), (1, 2), (2, 3)]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["PlantedTruthMixin", "ring_edges"]


def ring_edges(n: int, neighbors: int) -> list[tuple[int, int]]:
    """Edges ``(k, k + d mod n)`` for ``d = 1..neighbors``, without self-loops or repeats."""
    edges: set[tuple[int, int]] = set()
    for k in range(n):
        for d in range(1, neighbors + 1):
            j = (k + d) % n
            if j != k:
                edges.add((min(k, j), max(k, j)))
    return sorted(edges)


class PlantedTruthMixin:
    """``noise_slots`` / ``signal_slots`` of a truth whose ``slots`` map id -> slot truth."""

    slots: Mapping[int, Any]

    def noise_slots(self) -> list[int]:
        """Ids of the slots that carry no signal."""
        return sorted(s for s, t in self.slots.items() if t.kind == "noise")

    def signal_slots(self) -> list[int]:
        """Ids of the slots that carry signal."""
        return sorted(s for s, t in self.slots.items() if t.kind == "signal")
