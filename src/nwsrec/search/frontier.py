"""The loss-versus-memory frontier of a search, and how a point of it is chosen.

:class:`FrontierSearch` walks from full width to the narrowest model, one move at a time
(each move shrinks one unit to its next-smaller candidate, the move of least held-out
loss increase per embedding parameter saved), re-grows the best path point at each
budget, and measures every uniform width (every unit at one size) on the same held-out
examples. Every one of these is a :class:`FrontierPoint`; uniform widths are points like
any other, so a budget is never met worse than one width for every slot would meet it
by the search's own evidence.

How a point is chosen (:func:`choose_within`, :func:`choose_default`; both read the
points as ``frontier.json`` stores them, so ``nwsrec train --budget`` decides exactly as
the search did):

- within a budget: the point of lowest held-out loss; if it is not a uniform width, it
  must beat the best uniform width within the same budget with 95% confidence (the
  upper end of the paired interval of its loss difference below 0), else that uniform
  width is taken. The simple answer wins unless the evidence says otherwise.
- by default: the smallest point whose paired loss difference to the *best* point of
  the frontier is at most its standard error plus ``tolerance`` (the "one standard
  error" rule: the evidence must not say it is worse).

A point that drops a slot (every unit of it at 0) carries what the drop cost when the
path took it (:func:`drop_warnings` turns a drop the evidence says matters into a
warning naming the slot).

Example:
    >>> def evaluate(sizes):  # a toy additive loss: every unit loses 0.01 per halving
    ...     return np.full(50, sum(0.01 * (16 // max(s, 1)) for s in sizes.values()))
    >>> frontier = FrontierSearch(evaluate, {"a": [0, 8, 16], "b": [0, 8, 16]},
    ...                           {"a": 10, "b": 1000}, {"a": 10, "b": 1000}).run()
    >>> frontier.points[1].move
    'b: 16 -> 8'
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from nwsrec.search.cost import embedding_parameters_of, full_sizes, unit_slot_name
from nwsrec.search.stats import Z95, paired_difference

logger = logging.getLogger(__name__)

__all__ = [
    "Frontier",
    "FrontierPoint",
    "FrontierSearch",
    "choose_default",
    "choose_within",
    "drop_warnings",
    "greedy_frontier",
]

Interval = tuple[float, float, float]


@dataclasses.dataclass
class FrontierPoint:
    """One choice of widths on the frontier.

    Args:
        sizes: ``{unit: size}``.
        embedding_parameters: bias and vector parameters of ``sizes``
            (:func:`nwsrec.search.cost.embedding_parameters_of`).
        holdout_loss: mean held-out loss.
        delta: ``holdout_loss`` minus full width's, paired on the same examples.
        ci95: the 95% confidence interval of ``delta``.
        move: how the point was reached: ``"full"``, ``"<unit>: 16 -> 8"`` (a greedy
            step), ``"regrow <unit>: 4 -> 8"`` or ``"uniform 4"``.
        step_delta: the loss change of that move against the point it started from.
        step_ci95: the 95% confidence interval of ``step_delta``.
        embedding_bytes: bytes as the memory plan counts them (None: not priced).
        uniform: the width, when every unit is at that one width (else None).
        vs_best: ``(delta, low, high)`` against the frontier's lowest-loss point.
        vs_uniform: ``{width: (delta, low, high)}`` against each uniform point.
        drops: ``{unit: (delta, low, high)}``: for each unit at 0, what the move that
            dropped it cost on the path.
    """

    sizes: dict[str, int]
    embedding_parameters: int
    holdout_loss: float
    delta: float
    ci95: tuple[float, float]
    move: str = "full"
    step_delta: float = 0.0
    step_ci95: tuple[float, float] = (0.0, 0.0)
    embedding_bytes: int | None = None
    uniform: int | None = None
    vs_best: Interval = (0.0, 0.0, 0.0)
    vs_uniform: dict[int, Interval] = dataclasses.field(default_factory=dict)
    drops: dict[str, Interval] = dataclasses.field(default_factory=dict)

    def entry(self, full_parameters: int) -> dict[str, Any]:
        """The point as ``frontier.json`` stores it (JSON types only)."""
        return {
            "embedding_parameters": int(self.embedding_parameters),
            "fraction": self.embedding_parameters / full_parameters,
            "embedding_bytes": self.embedding_bytes,
            "holdout_loss": float(self.holdout_loss),
            "delta": float(self.delta),
            "ci95": [float(self.ci95[0]), float(self.ci95[1])],
            "move": self.move,
            "step_delta": float(self.step_delta),
            "step_ci95": [float(self.step_ci95[0]), float(self.step_ci95[1])],
            "sizes": {str(u): int(c) for u, c in self.sizes.items()},
            "uniform": self.uniform,
            "vs_best": [float(x) for x in self.vs_best],
            "vs_uniform": {str(w): [float(x) for x in v] for w, v in self.vs_uniform.items()},
            "drops": {u: [float(x) for x in v] for u, v in self.drops.items()},
        }


@dataclasses.dataclass
class Frontier:
    """What :class:`FrontierSearch` found.

    Args:
        points: the path (full width first), the re-grown points, then the uniform
            widths.
        full_parameters: embedding parameters at full width.
        num_examples: held-out examples per evaluation.
        evaluations: held-out evaluations done.
    """

    points: list[FrontierPoint]
    full_parameters: int
    num_examples: int
    evaluations: int = 0

    def sorted_points(self) -> list[FrontierPoint]:
        """The points by embedding parameters, ascending (ties: lower loss first)."""
        return sorted(self.points, key=lambda p: (p.embedding_parameters, p.holdout_loss))

    def entries(self) -> list[dict[str, Any]]:
        """:meth:`sorted_points` as ``frontier.json`` stores them."""
        return [p.entry(self.full_parameters) for p in self.sorted_points()]

    @property
    def reference(self) -> list[dict[str, Any]]:
        """The uniform widths: ``[{"width", "embedding_parameters", "embedding_bytes",
        "holdout_loss", "delta", "ci95"}]``, narrowest first."""
        return [
            {
                "width": p.uniform,
                "embedding_parameters": p.embedding_parameters,
                "embedding_bytes": p.embedding_bytes,
                "holdout_loss": p.holdout_loss,
                "delta": p.delta,
                "ci95": list(p.ci95),
            }
            for p in self.sorted_points()
            if p.uniform is not None
        ]

    def within(self, budget_params: float | None = None, max_bytes: float | None = None) -> int:
        """Index (in :meth:`sorted_points`) of the point :func:`choose_within` takes."""
        fraction = None if budget_params is None else budget_params / self.full_parameters
        return choose_within(self.entries(), fraction, max_bytes)

    def default_index(self, tolerance: float) -> int:
        """Index (in :meth:`sorted_points`) of the point :func:`choose_default` takes."""
        return choose_default(self.entries(), tolerance)


def choose_within(
    points: Sequence[Mapping[str, Any]], fraction: float | None, max_bytes: float | None
) -> int:
    """The point a budget takes (see the module docstring).

    Args:
        points: ``frontier.json``'s points.
        fraction: the most embedding parameters, as a fraction of full width's.
        max_bytes: the most table bytes.

    Raises:
        ValueError: no point fits (the message names the smallest point).
    """
    fits = [
        i
        for i, p in enumerate(points)
        if (fraction is None or p["fraction"] <= float(fraction) + 1e-12)
        and (max_bytes is None or (p.get("embedding_bytes") or 0) <= max_bytes)
    ]
    if not fits:
        smallest = min(points, key=lambda p: p["embedding_parameters"])
        raise ValueError(
            "the budget must admit a frontier point; the smallest has "
            f"{smallest['fraction']:.4f} of full width's parameters and "
            f"{smallest.get('embedding_bytes')} bytes. Received: budget={fraction!r}, "
            f"max_bytes={max_bytes!r}"
        )
    best = min(fits, key=lambda i: (points[i]["holdout_loss"], i))
    if points[best].get("uniform") is not None:
        return best
    uniforms = [i for i in fits if points[i].get("uniform") is not None]
    if not uniforms:
        return best
    simple = min(uniforms, key=lambda i: (points[i]["holdout_loss"], i))
    against = (points[best].get("vs_uniform") or {}).get(str(points[simple]["uniform"]))
    if against is None or float(against[2]) >= 0.0:
        return simple  # not better than one width everywhere with 95% confidence
    return best


def choose_default(points: Sequence[Mapping[str, Any]], tolerance: float) -> int:
    """The smallest point within one standard error plus ``tolerance`` of the best point.

    The "one standard error" rule of model selection: a point qualifies when its mean
    loss difference to the frontier's lowest-loss point, paired on the same examples, is
    at most that difference's standard error plus ``tolerance``. The lowest-loss point
    itself always qualifies; it is itself a winner among many noisy measurements, so
    the rule does not demand that a smaller point be proven as good, only that the
    evidence does not say it is worse. Points are taken in the order given
    (``frontier.json``'s: parameters ascending).
    """
    for i, point in enumerate(points):
        vs_best = point.get("vs_best")
        if vs_best is None:  # a frontier written before points were compared to the best
            if float(point["ci95"][1]) <= tolerance:
                return i
            continue
        mean, high = float(vs_best[0]), float(vs_best[2])
        if mean <= tolerance + max(0.0, high - mean) / Z95:
            return i
    return len(points) - 1


def drop_warnings(points: Sequence[Mapping[str, Any]], index: int) -> list[str]:
    """One line per slot that point ``index`` drops although the evidence says it matters.

    A drop matters when the move that dropped the slot raised the held-out loss with 95%
    confidence (the lower end of its interval above 0). The line names the slot, what
    the drop cost, and the best uniform width within the point's parameters.
    """
    point = points[index]
    drops = point.get("drops") or {}
    sizes = point["sizes"]
    by_slot: dict[str, list[str]] = {}
    for unit in sizes:
        by_slot.setdefault(unit_slot_name(unit), []).append(unit)
    lines = []
    uniforms = [
        p
        for p in points
        if p.get("uniform") is not None
        and p["embedding_parameters"] <= point["embedding_parameters"]
    ]
    simple = min(uniforms, key=lambda p: p["holdout_loss"]) if uniforms else None
    for slot, units in sorted(by_slot.items()):
        if any(sizes[u] > 0 for u in units):
            continue
        costs = [drops[u] for u in units if u in drops]
        if not costs or max(float(c[1]) for c in costs) <= 0.0:
            continue
        cost = max(costs, key=lambda c: float(c[0]))
        line = (
            f"slot {slot} is dropped at {point['fraction']:.3f} of full width, but dropping it "
            f"raised the held-out loss by {float(cost[0]):+.5f} "
            f"(95% CI {float(cost[1]):+.5f} .. {float(cost[2]):+.5f})"
        )
        if simple is not None:
            line += (
                f"; every slot at width {simple['uniform']} fits the same budget "
                f"({simple['fraction']:.3f} of full width, held-out loss "
                f"{simple['holdout_loss']:.5f} vs {point['holdout_loss']:.5f})"
            )
        lines.append(line)
    return lines


def _next_smaller(candidates: Sequence[int], size: int) -> int | None:
    smaller = [c for c in candidates if c < size]
    return max(smaller) if smaller else None


def _next_larger(candidates: Sequence[int], size: int) -> int | None:
    larger = [c for c in candidates if c > size]
    return min(larger) if larger else None


class FrontierSearch:
    """Greedy shrinking, re-growing at budgets, and the uniform widths; see the module.

    Args:
        evaluate: ``sizes -> per-example held-out losses`` (the same examples, in the
            same order, on every call).
        candidates: ``{unit: candidate sizes}``.
        unit_rows: ``{unit: table rows}``.
        slot_bias_rows: ``{slot: bias rows}`` (see
            :func:`nwsrec.search.cost.embedding_parameters_of`).
        budgets: parameter budgets to re-grow at.
        price_bytes: ``sizes -> bytes`` (the memory plan's count), stored per point.
        on_progress: called with ``(greedy steps done, greedy steps in all)``.
        lazy: re-measure only the units that reach the top of a heap of their last
            scores (a few evaluations per step); False measures every unit every step.

    Raises:
        ValueError: no unit, or a unit without rows.
    """

    def __init__(
        self,
        evaluate: Callable[[Mapping[str, int]], np.ndarray],
        candidates: Mapping[str, Sequence[int]],
        unit_rows: Mapping[str, int],
        slot_bias_rows: Mapping[Any, int],
        *,
        budgets: Sequence[float] = (),
        price_bytes: Callable[[Mapping[str, int]], int] | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        lazy: bool = True,
    ) -> None:
        self.units = list(candidates)
        if not self.units:
            raise ValueError("`candidates` must name at least one unit. Received: {}")
        missing = [u for u in self.units if u not in unit_rows]
        if missing:
            raise ValueError(
                "`unit_rows` must give the rows of every unit. "
                f"Received: unit {missing[0]!r} missing"
            )
        self._evaluate = evaluate
        self.cands = {u: sorted(int(c) for c in candidates[u]) for u in self.units}
        self._unit_rows = unit_rows
        self._bias_rows = slot_bias_rows
        self._budgets = list(budgets)
        self._price_bytes = price_bytes
        self._on_progress = on_progress
        self._lazy = lazy
        self.evaluations = 0
        self._points: list[FrontierPoint] = []
        self._losses: list[np.ndarray] = []
        self._drops: list[dict[str, Interval]] = []

    # ------------------------------------------------------------------ helpers

    def _measure(self, sizes: Mapping[str, int]) -> np.ndarray:
        self.evaluations += 1
        return np.asarray(self._evaluate(dict(sizes)), dtype=np.float64).reshape(-1)

    def params(self, sizes: Mapping[str, int]) -> int:
        """Embedding parameters of ``sizes``."""
        return embedding_parameters_of(self._unit_rows, self._bias_rows, sizes)

    def _add(
        self,
        sizes: Mapping[str, int],
        losses: np.ndarray,
        move: str,
        before: np.ndarray | None,
        drops: Mapping[str, Interval],
    ) -> None:
        full = self._losses[0] if self._losses else losses
        delta, low, high = paired_difference(losses, full)
        step = (0.0, 0.0, 0.0) if before is None else paired_difference(losses, before)
        values = set(sizes.values())
        price = self._price_bytes
        self._points.append(
            FrontierPoint(
                sizes=dict(sizes),
                embedding_parameters=self.params(sizes),
                holdout_loss=float(np.mean(losses)),
                delta=delta,
                ci95=(low, high),
                move=move,
                step_delta=step[0],
                step_ci95=(step[1], step[2]),
                embedding_bytes=None if price is None else int(price(sizes)),
                uniform=int(next(iter(values))) if len(values) == 1 else None,
                drops={u: d for u, d in drops.items() if sizes.get(u) == 0},
            )
        )
        self._losses.append(losses)
        self._drops.append(dict(drops))

    # ------------------------------------------------------------------ stages

    def _path(self) -> None:
        """Greedy shrinking from full width (lazy: a heap of last scores)."""
        cands, units = self.cands, self.units
        current = full_sizes(cands)
        self._add(current, self._measure(current), "full", None, {})
        current_losses = self._losses[0]
        drops: dict[str, Interval] = {}
        all_zero_possible = all(c[0] == 0 for c in cands.values())
        total = sum(len(c) - 1 for c in cands.values()) - (1 if all_zero_possible else 0)
        order = {u: i for i, u in enumerate(units)}
        heap: list[tuple[float, int, str]] = []

        def score_of(unit: str, base_params: int, base_mean: float) -> Any:
            smaller = _next_smaller(cands[unit], current[unit])
            if smaller is None:
                return None
            moved = {**current, unit: smaller}
            if not any(moved.values()):
                return None
            saved = base_params - self.params(moved)
            losses = self._measure(moved)
            return (float(np.mean(losses)) - base_mean) / max(saved, 1), smaller, losses

        for step in range(total):
            best = None
            base_params, base_mean = self.params(current), float(np.mean(current_losses))
            if not self._lazy or step == 0:
                heap = []
                for unit in units:
                    scored = score_of(unit, base_params, base_mean)
                    if scored is None:
                        continue
                    heapq.heappush(heap, (scored[0], order[unit], unit))
                    if best is None or scored[0] < best[0]:
                        best = (scored[0], unit, scored[1], scored[2])
                if best is not None:
                    heap = [entry for entry in heap if entry[2] != best[1]]
                    heapq.heapify(heap)
            else:
                while heap:
                    _, _, unit = heapq.heappop(heap)
                    scored = score_of(unit, base_params, base_mean)
                    if scored is None:
                        continue
                    if not heap or (scored[0], order[unit]) <= heap[0][:2]:
                        best = (scored[0], unit, scored[1], scored[2])
                        break
                    heapq.heappush(heap, (scored[0], order[unit], unit))
            if best is None:
                break
            score, unit, smaller, losses = best
            move = f"{unit}: {current[unit]} -> {smaller}"
            logger.debug("frontier step %d: %s (score %.3g)", step + 1, move, score)
            before = current_losses
            current = {**current, unit: smaller}
            current_losses = losses
            if smaller == 0:
                drops[unit] = paired_difference(losses, before)
            if self._lazy and _next_smaller(cands[unit], smaller) is not None:
                heapq.heappush(heap, (score, order[unit], unit))  # its next move, re-measured
            self._add(current, losses, move, before, drops)
            if self._on_progress is not None:
                self._on_progress(step + 1, total)

    def _regrow(self, budget: float, path_length: int) -> None:
        """Grows the best path point within ``budget`` while a move fits and helps.

        Lazy like the path: every unit's gain (loss drop per parameter added) is measured
        once; then the unit on top of a heap of last gains is measured again at the
        current sizes and taken if it still beats the next (stale) gain.
        """
        fits = [i for i in range(path_length) if self._points[i].embedding_parameters <= budget]
        if not fits:
            return
        start = min(fits, key=lambda i: (self._points[i].holdout_loss, i))
        grown, grown_losses = dict(self._points[start].sizes), self._losses[start]
        order = {u: i for i, u in enumerate(self.units)}

        def gain_of(unit: str) -> tuple[float, int, np.ndarray] | None:
            larger = _next_larger(self.cands[unit], grown[unit])
            if larger is None or self.params({**grown, unit: larger}) > budget:
                return None
            base_params, base_mean = self.params(grown), float(np.mean(grown_losses))
            losses = self._measure({**grown, unit: larger})
            added = max(self.params({**grown, unit: larger}) - base_params, 1)
            return (base_mean - float(np.mean(losses))) / added, larger, losses

        heap: list[tuple[float, int, str]] = []
        for unit in self.units:
            measured = gain_of(unit)
            if measured is not None and measured[0] > 0:
                heapq.heappush(heap, (-measured[0], order[unit], unit))
        moves = []
        while heap:
            _, _, unit = heapq.heappop(heap)
            measured = gain_of(unit)
            if measured is None or measured[0] <= 0:
                continue
            if heap and (-measured[0], order[unit]) > heap[0][:2]:
                heapq.heappush(heap, (-measured[0], order[unit], unit))  # no longer the best
                continue
            gain, larger, losses = measured
            moves.append(f"{unit}: {grown[unit]} -> {larger}")
            grown, grown_losses = {**grown, unit: larger}, losses
            heapq.heappush(heap, (-gain, order[unit], unit))  # its next size, re-measured
        if moves and all(p.sizes != grown for p in self._points):
            move = "regrow " + ", ".join(moves)
            self._add(grown, grown_losses, move, self._losses[start], self._drops[start])

    def _uniform(self) -> None:
        """Every width that every unit has, measured on the same examples."""
        widths = sorted({c for cs in self.cands.values() for c in cs if c > 0})
        for width in widths:
            if not all(width in self.cands[u] for u in self.units):
                continue
            uniform = dict.fromkeys(self.units, width)
            if any(p.sizes == uniform for p in self._points):
                continue
            self._add(uniform, self._measure(uniform), f"uniform {width}", None, {})

    def _compare(self) -> None:
        """Each point against the best point and against every uniform point."""
        best = min(range(len(self._points)), key=lambda i: (self._points[i].holdout_loss, i))
        uniforms = [i for i, p in enumerate(self._points) if p.uniform is not None]
        for point, losses in zip(self._points, self._losses, strict=True):
            point.vs_best = paired_difference(losses, self._losses[best])
            if point.uniform is None:
                point.vs_uniform = {
                    int(self._points[j].uniform or 0): paired_difference(losses, self._losses[j])
                    for j in uniforms
                }

    def run(self) -> Frontier:
        """Walks, re-grows, measures the uniform widths; returns the :class:`Frontier`."""
        self._path()
        path_length = len(self._points)
        for budget in sorted(set(self._budgets), reverse=True):
            self._regrow(budget, path_length)
        self._uniform()
        self._compare()
        return Frontier(
            points=list(self._points),
            full_parameters=self._points[0].embedding_parameters,
            num_examples=int(self._losses[0].size),
            evaluations=self.evaluations,
        )


def greedy_frontier(
    evaluate: Callable[[Mapping[str, int]], np.ndarray],
    candidates: Mapping[str, Sequence[int]],
    unit_rows: Mapping[str, int],
    slot_bias_rows: Mapping[Any, int],
    **kwargs: Any,
) -> Frontier:
    """``FrontierSearch(evaluate, candidates, unit_rows, slot_bias_rows, **kwargs).run()``."""
    return FrontierSearch(evaluate, candidates, unit_rows, slot_bias_rows, **kwargs).run()
