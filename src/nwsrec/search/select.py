"""The search's decision: each slot's width, picked by its loss on held-out records.

The NWS layer's argmax is a weak decision on its own: the architecture gradient of a
width is the gradient of the loss with respect to the scale of its segment, and that
vanishes once the next dense layer has fit the segment (the layer absorbs the scale).
What a user wants to know is different: how much worse is the model on data it has not
seen when a slot is narrower? A search run with ``holdout_every = k`` keeps about one
training record in ``k`` out of training (``nwsrec.data.RecordSplit``); during the
search each step draws one size per slot (``nws_mode="sample"``), so the one network has
learnt to work with every candidate of every slot (a weight-sharing "supernet"). Then
:func:`select_widths` measures, slot by slot, the held-out log loss of the network with
that slot pinned to each candidate (the other slots at their current sizes), and keeps
the **smallest size whose loss is within ``tolerance`` of the best size's**::

    sizes = {every slot: its largest candidate}
    repeat `rounds` times, for every slot s:
        loss[c] = held-out log loss with s pinned to c, for every candidate c
        sizes[s] = min{c : loss[c] <= min(loss) + tolerance}

Pinning sets the slot's architecture logits to a one-hot (0 for the size, -1e9 for the
rest), which the layer's inference path turns into exactly that size in both modes; the
logits are put back afterwards. The held-out batches are read once and kept in memory;
with an nwsrec :class:`~nwsrec.model.Model` their table lookups are done once too
(``Model.lookup``), and each evaluation only reruns what lies after the tables
(``Model.forward_pooled``): the lookups do not depend on the architecture weights.

Example:
    >>> batches = holdout_batches(trainer, "data/train-*")  # doctest: +SKIP
    >>> selection = select_widths(trainer, batches, tolerance=2e-4)  # doctest: +SKIP
    >>> selection.sizes  # doctest: +SKIP
    {'1': 8, '2': 0, ...}
"""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import logging
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "Frontier",
    "FrontierPoint",
    "Selection",
    "greedy_frontier",
    "holdout_batches",
    "holdout_log_loss",
    "layer_candidates",
    "neighbour_losses",
    "paired_difference",
    "pinned_sizes",
    "search_frontier",
    "select_widths",
]

_PINNED_OUT = -1e9


@dataclasses.dataclass
class Selection:
    """What :func:`select_widths` found.

    Args:
        sizes: ``{slot_name: size}``, the chosen width of every slot.
        losses: ``{slot_name: [held-out log loss per candidate]}`` from the slot's last
            evaluation (the other slots at their sizes of that moment).
        base_loss: held-out log loss with every slot at its largest candidate.
        final_loss: held-out log loss at ``sizes``.
        num_examples: held-out examples per evaluation.
        tolerance: the loss a slot may give up for a smaller size.
    """

    sizes: dict[str, int]
    losses: dict[str, list[float]]
    base_loss: float
    final_loss: float
    num_examples: int
    tolerance: float


def holdout_batches(trainer: Any, file_pattern: str, max_batches: int | None = None) -> list[Any]:
    """Reads the held-out part of ``file_pattern`` once; returns its batches.

    Args:
        trainer: a :class:`~nwsrec.training.trainer.Trainer` with ``holdout_every >= 2``.
        file_pattern: the training files (the held-out records are among them).
        max_batches: keep at most this many batches (None: all).

    Raises:
        ValueError: the trainer holds no records out, or no full batch is held out.
    """
    import tensorflow as tf

    if not trainer.holdout_every:
        raise ValueError(
            "`holdout_every` must be >= 2 to select widths on held-out records. "
            f"Received: holdout_every={trainer.holdout_every!r}"
        )
    input_fn = trainer.input_fn(file_pattern, repeat=False, part="holdout")
    batches = []
    for batch in input_fn(tf.distribute.InputContext()):
        batches.append(batch)
        if max_batches is not None and len(batches) >= max_batches:
            break
    if not batches:
        raise ValueError(
            f"the held-out records of {file_pattern!r} (one in {trainer.holdout_every}) must "
            f"fill at least one batch of {trainer.batch_size}; lower `holdout_every` or "
            "`batch_size`"
        )
    return batches


class _HoldoutLoss:
    """Held-out log loss of a trainer's model; table lookups cached when it can."""

    def __init__(self, trainer: Any, batches: Sequence[Any]) -> None:
        import tensorflow as tf

        model: Any = getattr(trainer, "model", None)
        self._batches = list(batches)
        self._pooled: list[Any] | None = None
        if hasattr(model, "lookup") and hasattr(model, "forward_pooled"):
            lookup = tf.function(model.lookup)
            self._pooled = [lookup(batch) for batch in self._batches]

            def step(pooled: Any, batch: Any) -> Any:
                logits, _ = model.forward_pooled(pooled, batch, training=False)
                return _sum_log_loss(batch["label"], logits)

            self._step = tf.function(step)
        else:

            def eval_step(_: Any, batch: Any) -> Any:
                labels, logits = trainer.local_eval_step(batch)
                return _sum_log_loss(labels, logits)

            self._step = eval_step
        self.num_examples = sum(int(batch["label"].shape[0]) for batch in self._batches)

    def per_example(self) -> np.ndarray:
        """The log loss of every held-out example, float64 ``[num_examples]``."""
        pooled = self._pooled or [None] * len(self._batches)
        parts = [
            np.asarray(self._step(p, b), dtype=np.float64)
            for p, b in zip(pooled, self._batches, strict=True)
        ]
        return np.concatenate(parts)

    def __call__(self) -> float:
        return float(np.mean(self.per_example()))


def _sum_log_loss(labels: Any, logits: Any) -> Any:
    """Per-example log loss ``[B]`` (the name is historical: callers sum or average)."""
    import tensorflow as tf

    labels = tf.cast(tf.reshape(labels, [-1]), tf.float32)
    logits = tf.cast(tf.reshape(logits, [-1]), tf.float32)
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)


def holdout_log_loss(trainer: Any, batches: Sequence[Any]) -> float:
    """Mean log loss of the trainer's model (inference path) over ``batches``."""
    return _HoldoutLoss(trainer, batches)()


def _slot_offsets(layer: Any) -> dict[str, tuple[int, list[int]]]:
    offsets, start = {}, 0
    for name, sizes in zip(layer.slot_names, layer.embedding_size_choices_list, strict=True):
        offsets[str(name)] = (start, [int(c) for c in sizes])
        start += len(sizes)
    return offsets


@contextlib.contextmanager
def pinned_sizes(layer: Any, sizes: Mapping[str, int]) -> Iterator[None]:
    """Within the block, the layer's inference uses exactly ``sizes`` for those slots.

    Args:
        layer: a built ``MixedEmbedOpComb``.
        sizes: ``{slot_name: size}``; each size one of the slot's candidates.

    Raises:
        LookupError: a slot the layer does not have.
        ValueError: a size that is not one of the slot's candidates.
    """
    offsets = _slot_offsets(layer)
    variable = layer.get_arch_embedding_weights()
    saved = np.asarray(variable.numpy())
    pinned = saved.copy()
    for slot, size in sizes.items():
        if str(slot) not in offsets:
            raise LookupError(
                f"`sizes` must name slots of the layer {sorted(offsets)}. Received: {slot!r}"
            )
        start, candidates = offsets[str(slot)]
        if size not in candidates:
            raise ValueError(
                f"the size of slot {slot} must be one of its candidates {candidates}. "
                f"Received: size={size!r}"
            )
        row = np.full(len(candidates), _PINNED_OUT, dtype=saved.dtype)
        row[candidates.index(size)] = 0.0
        pinned[start : start + len(candidates)] = row
    variable.assign(pinned)
    try:
        yield
    finally:
        variable.assign(saved)


def select_widths(
    trainer: Any,
    batches: Sequence[Any],
    *,
    tolerance: float,
    rounds: int = 2,
    on_progress: Callable[[int, int], None] | None = None,
) -> Selection:
    """Picks every slot's width of the trainer's NWS layers on held-out batches.

    Args:
        trainer: a trained search :class:`~nwsrec.training.trainer.Trainer`.
        batches: held-out batches (:func:`holdout_batches`).
        tolerance: held-out log loss a slot may give up for a smaller size (>= 0).
        rounds: passes over the slots (>= 1); a later pass sees the narrower others.
        on_progress: called with ``(evaluations done, evaluations in all)``.

    Returns:
        A :class:`Selection`.

    Raises:
        ValueError: a bad ``tolerance`` or ``rounds``, or a trainer without NWS layer.
    """
    if not np.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"`tolerance` must be a finite number >= 0. Received: {tolerance!r}")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"`rounds` must be an integer >= 1. Received: rounds={rounds!r}")
    layers = list(trainer.nws_layers)
    if not layers:
        raise ValueError("the trainer's model must have an NWS layer (MixedEmbedOpComb)")
    owners: dict[str, tuple[Any, list[int]]] = {}
    for layer in layers:
        for slot, (_, candidates) in _slot_offsets(layer).items():
            owners[slot] = (layer, candidates)
    sizes = {slot: max(candidates) for slot, (_, candidates) in owners.items()}
    evaluate = _HoldoutLoss(trainer, batches)
    total = 1 + rounds * sum(len(c) - 1 for _, c in owners.values()) + 1
    done = 0

    def loss_at(current: Mapping[str, int]) -> float:
        nonlocal done
        with contextlib.ExitStack() as stack:
            for layer in layers:
                names = {str(n) for n in layer.slot_names}
                stack.enter_context(
                    pinned_sizes(layer, {s: c for s, c in current.items() if s in names})
                )
            loss = evaluate()
        done += 1
        if on_progress is not None:
            on_progress(done, total)
        return loss

    base = current_loss = loss_at(sizes)
    losses: dict[str, list[float]] = {}
    for _ in range(rounds):
        for slot, (_, candidates) in owners.items():
            row = [
                current_loss if c == sizes[slot] else loss_at({**sizes, slot: c})
                for c in candidates
            ]
            best = min(row)
            chosen = min(
                c for c, loss in zip(candidates, row, strict=True) if loss <= best + tolerance
            )
            losses[slot] = row
            if chosen != sizes[slot]:
                logger.debug("slot %s: %d -> %d (%s)", slot, sizes[slot], chosen, row)
            sizes[slot] = chosen
            current_loss = row[candidates.index(chosen)]
    final = loss_at(sizes)
    return Selection(
        sizes=sizes,
        losses=losses,
        base_loss=base,
        final_loss=final,
        num_examples=evaluate.num_examples,
        tolerance=float(tolerance),
    )


# --------------------------------------------------------------------------- frontier

Z95 = 1.959963984540054
"""The two-sided 95% quantile of the normal distribution."""


def paired_difference(a: Any, b: Any) -> tuple[float, float, float]:
    """Mean of ``a - b`` over paired examples and its 95% confidence interval.

    The two losses are measured on the same held-out examples, so their difference is
    judged example by example: ``d_i = a_i - b_i``, ``mean(d) +- 1.96 * sd(d) / sqrt(n)``
    (normal approximation, ``sd`` with ``ddof=1``).

    Args:
        a: per-example losses ``[n]``.
        b: per-example losses ``[n]`` of the same examples.

    Returns:
        ``(mean, low, high)``; with ``n < 2`` the interval is ``(-inf, inf)`` unless
        every difference is 0.

    Raises:
        ValueError: the two do not have the same length, or are empty.

    Example:
        >>> [round(x, 4) for x in paired_difference([1.0, 2.0, 3.0], [1.0, 1.0, 1.0])]
        [1.0, -0.1316, 2.1316]
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(
            "paired losses must cover the same examples (equal, non-zero lengths). "
            f"Received: {a.size} and {b.size}"
        )
    d = a - b
    mean = float(np.mean(d))
    if not np.any(d != d[0]):
        return mean, mean, mean
    if d.size < 2:
        return mean, -math.inf, math.inf
    half = Z95 * float(np.std(d, ddof=1)) / math.sqrt(d.size)
    return mean, mean - half, mean + half


@dataclasses.dataclass
class FrontierPoint:
    """One choice of widths on the frontier.

    Args:
        sizes: ``{unit: size}``.
        embedding_parameters: bias and vector parameters of ``sizes``
            (:func:`nwsrec.search.cost.embedding_parameters_of`).
        holdout_loss: mean held-out log loss.
        delta: ``holdout_loss`` minus full width's, paired on the same examples.
        ci95: the 95% confidence interval of ``delta``.
        move: how the point was reached: ``"full"``, ``"<unit>: 16 -> 8"`` (a greedy
            step) or ``"regrow <unit>: 4 -> 8"``.
        step_delta: the loss change of that move against the point it started from.
        step_ci95: the 95% confidence interval of ``step_delta``.
        embedding_bytes: bytes as the memory plan counts them (None: not priced).
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


@dataclasses.dataclass
class Frontier:
    """What :func:`greedy_frontier` found: every point of the shrinking path.

    Args:
        points: the points in path order (full width first).
        full_parameters: embedding parameters at full width.
        num_examples: held-out examples per evaluation.
        reference: every uniform width (each unit at that size) measured on the same
            examples: ``[{"width", "embedding_parameters", "holdout_loss", "delta",
            "ci95"}]``.
        evaluations: held-out evaluations done.
    """

    points: list[FrontierPoint]
    full_parameters: int
    num_examples: int
    reference: list[dict[str, Any]]
    evaluations: int = 0

    def sorted_points(self) -> list[FrontierPoint]:
        """The points by embedding parameters, ascending (ties: lower loss first)."""
        return sorted(self.points, key=lambda p: (p.embedding_parameters, p.holdout_loss))

    def within(self, budget_params: float | None = None, max_bytes: float | None = None) -> int:
        """Index (in :meth:`sorted_points`) of the lowest-loss point within the limits.

        Raises:
            ValueError: no point fits, naming the smallest one.
        """
        points = self.sorted_points()
        fits = [
            i
            for i, p in enumerate(points)
            if (budget_params is None or p.embedding_parameters <= budget_params)
            and (max_bytes is None or (p.embedding_bytes or 0) <= max_bytes)
        ]
        if not fits:
            smallest = points[0]
            raise ValueError(
                "the budget must admit at least one frontier point (the smallest has "
                f"{smallest.embedding_parameters} parameters, "
                f"{smallest.embedding_bytes} bytes). Received: budget={budget_params}, "
                f"max_bytes={max_bytes}"
            )
        return min(fits, key=lambda i: (points[i].holdout_loss, i))

    def default_index(self, tolerance: float) -> int:
        """Index (in :meth:`sorted_points`) of the smallest point within tolerance of full.

        A point qualifies when the upper end of the 95% confidence interval of its loss
        difference to full width is at most ``tolerance``: it is then, with 95%
        confidence, no more than ``tolerance`` worse. Full width always qualifies.
        """
        points = self.sorted_points()
        for i, point in enumerate(points):
            if point.ci95[1] <= tolerance:
                return i
        return len(points) - 1  # pragma: no cover - full width qualifies


def _next_smaller(candidates: Sequence[int], size: int) -> int | None:
    smaller = [c for c in candidates if c < size]
    return max(smaller) if smaller else None


def _next_larger(candidates: Sequence[int], size: int) -> int | None:
    larger = [c for c in candidates if c > size]
    return min(larger) if larger else None


def greedy_frontier(
    evaluate: Callable[[Mapping[str, int]], np.ndarray],
    candidates: Mapping[str, Sequence[int]],
    unit_rows: Mapping[str, int],
    slot_bias_rows: Mapping[Any, int],
    *,
    budgets: Sequence[float] = (),
    price_bytes: Callable[[Mapping[str, int]], int] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    lazy: bool = True,
) -> Frontier:
    """The loss-versus-memory frontier of the widths, by greedy shrinking.

    From full width, each step re-measures every unit's next-smaller candidate (the
    other units at their current sizes) and takes the move that costs the least
    held-out loss per embedding parameter saved::

        score(u) = (loss(sizes with u one size smaller) - loss(sizes)) / params saved

    so a unit of many rows (an expensive one) is shrunk before a cheap one that costs as
    much loss, and a move that lowers the loss is taken first. Every point of the path
    is recorded, until every unit is at its smallest candidate (one unit keeps its
    smallest positive size: a model needs one slot). Then, for each budget of
    ``budgets`` (in parameters), the best path point within it is re-grown: while a
    unit's next-larger candidate fits the budget and lowers the loss, the one with the
    largest loss drop per parameter is grown, and the result is added as a point.

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

    Returns:
        A :class:`Frontier`.
    """
    from nwsrec.search.cost import embedding_parameters_of, full_sizes

    units = list(candidates)
    if not units:
        raise ValueError("`candidates` must name at least one unit. Received: {}")
    missing = [u for u in units if u not in unit_rows]
    if missing:
        raise ValueError(
            f"`unit_rows` must give the rows of every unit. Received: unit {missing[0]!r} missing"
        )
    cands = {u: sorted(int(c) for c in candidates[u]) for u in units}
    count = 0

    def measure(sizes: Mapping[str, int]) -> np.ndarray:
        nonlocal count
        count += 1
        return np.asarray(evaluate(dict(sizes)), dtype=np.float64).reshape(-1)

    def params(sizes: Mapping[str, int]) -> int:
        return embedding_parameters_of(unit_rows, slot_bias_rows, sizes)

    sizes = full_sizes(cands)
    full_losses = measure(sizes)
    full_params = params(sizes)

    def point(
        at: Mapping[str, int],
        losses: np.ndarray,
        move: str,
        before: np.ndarray | None,
    ) -> FrontierPoint:
        delta, low, high = paired_difference(losses, full_losses)
        step = (0.0, 0.0, 0.0) if before is None else paired_difference(losses, before)
        return FrontierPoint(
            sizes=dict(at),
            embedding_parameters=params(at),
            holdout_loss=float(np.mean(losses)),
            delta=delta,
            ci95=(low, high),
            move=move,
            step_delta=step[0],
            step_ci95=(step[1], step[2]),
            embedding_bytes=None if price_bytes is None else int(price_bytes(at)),
        )

    points = [point(sizes, full_losses, "full", None)]
    path_losses = [full_losses]
    all_zero_possible = all(c[0] == 0 for c in cands.values())
    total_steps = sum(len(c) - 1 for c in cands.values()) - (1 if all_zero_possible else 0)
    current, current_losses = dict(sizes), full_losses
    # Lazy greedy: a unit's last score stays in the heap until it reaches the top; then
    # it is measured again at the current sizes and taken if it still beats the next
    # (stale) score. A move that was expensive rarely becomes the cheapest later, so a
    # step measures a few units instead of all of them (the exhaustive scan, lazy=False,
    # measures every unit each step: quadratic in the units).
    heap: list[tuple[float, int, str]] = []
    order = {u: i for i, u in enumerate(units)}

    def score_of(
        unit: str, base_params: int, base_mean: float
    ) -> tuple[float, int, np.ndarray] | None:
        smaller = _next_smaller(cands[unit], current[unit])
        if smaller is None:
            return None
        moved = {**current, unit: smaller}
        if not any(moved.values()):
            return None
        saved = base_params - params(moved)
        losses = measure(moved)
        return (float(np.mean(losses)) - base_mean) / max(saved, 1), smaller, losses

    for step in range(total_steps):
        best: tuple[float, str, int, np.ndarray] | None = None
        base_params = params(current)
        base_mean = float(np.mean(current_losses))
        if not lazy or step == 0:
            heap = []
            for unit in units:
                scored = score_of(unit, base_params, base_mean)
                if scored is None:
                    continue
                score, smaller, losses = scored
                heapq.heappush(heap, (score, order[unit], unit))
                if best is None or score < best[0]:
                    best = (score, unit, smaller, losses)
            if best is not None:
                heap = [entry for entry in heap if entry[2] != best[1]]
                heapq.heapify(heap)
        else:
            while heap:
                _, _, unit = heapq.heappop(heap)
                scored = score_of(unit, base_params, base_mean)
                if scored is None:
                    continue
                score, smaller, losses = scored
                if not heap or (score, order[unit]) <= heap[0][:2]:
                    best = (score, unit, smaller, losses)
                    break
                heapq.heappush(heap, (score, order[unit], unit))
        if best is None:
            break
        _, unit, smaller, losses = best
        move = f"{unit}: {current[unit]} -> {smaller}"
        logger.debug("frontier step %d: %s (score %.3g)", step + 1, move, best[0])
        before = current_losses
        current = {**current, unit: smaller}
        current_losses = losses
        if lazy and _next_smaller(cands[unit], smaller) is not None:
            heapq.heappush(heap, (best[0], order[unit], unit))  # its next move, re-measured
        points.append(point(current, losses, move, before))
        path_losses.append(losses)
        if on_progress is not None:
            on_progress(step + 1, total_steps)

    for budget in budgets:
        fits = [
            i for i, p in enumerate(points[: len(path_losses)]) if p.embedding_parameters <= budget
        ]
        if not fits:
            continue
        start = min(fits, key=lambda i: (points[i].holdout_loss, i))
        grown, grown_losses = dict(points[start].sizes), path_losses[start]
        moves = []
        while True:
            base_params, base_mean = params(grown), float(np.mean(grown_losses))
            best = None
            for unit in units:
                larger = _next_larger(cands[unit], grown[unit])
                if larger is None:
                    continue
                moved = {**grown, unit: larger}
                added = params(moved) - base_params
                if params(moved) > budget:
                    continue
                losses = measure(moved)
                gain = (base_mean - float(np.mean(losses))) / max(added, 1)
                if gain > 0 and (best is None or gain > best[0]):
                    best = (gain, unit, larger, losses)
            if best is None:
                break
            _, unit, larger, losses = best
            moves.append(f"{unit}: {grown[unit]} -> {larger}")
            grown, grown_losses = {**grown, unit: larger}, losses
        if moves and all(p.sizes != grown for p in points):
            before = path_losses[start]
            points.append(point(grown, grown_losses, "regrow " + ", ".join(moves), before))

    reference = []
    widths = sorted({c for cs in cands.values() for c in cs if c > 0})
    for width in widths:
        if not all(width in cands[u] for u in units):
            continue
        uniform = dict.fromkeys(units, width)
        losses = measure(uniform)
        delta, low, high = paired_difference(losses, full_losses)
        reference.append(
            {
                "width": width,
                "embedding_parameters": params(uniform),
                "embedding_bytes": None if price_bytes is None else int(price_bytes(uniform)),
                "holdout_loss": float(np.mean(losses)),
                "delta": delta,
                "ci95": [low, high],
            }
        )
    return Frontier(
        points=points,
        full_parameters=full_params,
        num_examples=int(full_losses.size),
        reference=reference,
        evaluations=count,
    )


def _pinned_all(layers: Sequence[Any], sizes: Mapping[str, int]) -> contextlib.ExitStack:
    stack = contextlib.ExitStack()
    for layer in layers:
        names = {str(n) for n in layer.slot_names}
        stack.enter_context(pinned_sizes(layer, {s: c for s, c in sizes.items() if s in names}))
    return stack


def layer_candidates(trainer: Any) -> dict[str, list[int]]:
    """``{unit: candidate sizes}`` of every NWS layer of a trainer (the selection units)."""
    layers = list(trainer.nws_layers)
    if not layers:
        raise ValueError("the trainer's model must have an NWS layer (MixedEmbedOpComb)")
    out: dict[str, list[int]] = {}
    for layer in layers:
        for unit, (_, candidates) in _slot_offsets(layer).items():
            out[unit] = candidates
    return out


def search_frontier(
    trainer: Any,
    batches: Sequence[Any],
    unit_rows: Mapping[str, int],
    slot_bias_rows: Mapping[Any, int],
    *,
    budgets: Sequence[float] = (),
    price_bytes: Callable[[Mapping[str, int]], int] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Frontier:
    """:func:`greedy_frontier` of a trained search on its held-out batches.

    Each evaluation pins every unit of the trainer's NWS layers to a size
    (:func:`pinned_sizes`) and measures the per-example log loss on ``batches`` (table
    lookups cached, see :class:`_HoldoutLoss`).

    Args:
        trainer: a trained search :class:`~nwsrec.training.trainer.Trainer`.
        batches: held-out batches (:func:`holdout_batches`).
        unit_rows: ``{unit: table rows}`` (``WidthSearchModel.unit_rows()``).
        slot_bias_rows: ``{slot: bias rows}``.
        budgets: parameter budgets to re-grow at (see :func:`greedy_frontier`).
        price_bytes: ``sizes -> bytes`` stored per point.
        on_progress: called with ``(steps done, steps in all)``.
    """
    layers = list(trainer.nws_layers)
    candidates = layer_candidates(trainer)
    holdout = _HoldoutLoss(trainer, batches)

    def evaluate(sizes: Mapping[str, int]) -> np.ndarray:
        with _pinned_all(layers, sizes):
            return holdout.per_example()

    return greedy_frontier(
        evaluate,
        candidates,
        unit_rows,
        slot_bias_rows,
        budgets=budgets,
        price_bytes=price_bytes,
        on_progress=on_progress,
    )


def neighbour_losses(
    trainer: Any, batches: Sequence[Any], sizes: Mapping[str, int]
) -> dict[str, list[tuple[float, float, float]]]:
    """Around ``sizes``: each unit at each candidate, the others as they are.

    Returns:
        ``{unit: [(loss, ci95 low, ci95 high) per candidate]}``, the interval that of the
        loss difference to ``sizes`` itself (paired).
    """
    layers = list(trainer.nws_layers)
    holdout = _HoldoutLoss(trainer, batches)
    with _pinned_all(layers, sizes):
        base = holdout.per_example()
    out: dict[str, list[tuple[float, float, float]]] = {}
    for unit, candidates in layer_candidates(trainer).items():
        row = []
        for c in candidates:
            if c == sizes[unit]:
                row.append((float(np.mean(base)), 0.0, 0.0))
                continue
            with _pinned_all(layers, {**sizes, unit: c}):
                losses = holdout.per_example()
            _, low, high = paired_difference(losses, base)
            row.append((float(np.mean(losses)), low, high))
        out[unit] = row
    return out
