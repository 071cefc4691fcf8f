"""The search's decision strategies: which widths a trained search keeps.

Each strategy reads the trained search through one
:class:`~nwsrec.search.evaluator.HoldoutEvaluator` (per-example held-out losses at any
choice of widths) and returns its answer:

- :class:`FrontierSelector` (``width_selection="frontier"``, the default): the held-out
  loss vs embedding memory frontier (:mod:`nwsrec.search.frontier`), with every uniform
  width on it as a point of its own;
- :class:`PerSlotSelector` (``"holdout"``): each slot in turn keeps the smallest size
  whose held-out loss is within ``tolerance`` of its best size's (the others at their
  current sizes), ``rounds`` passes from full width. Blind to what a dimension costs;
  kept for comparison::

      sizes = {every slot: its largest candidate}
      repeat `rounds` times, for every slot s:
          loss[c] = held-out loss with s pinned to c, for every candidate c
          sizes[s] = min{c : loss[c] <= min(loss) + tolerance}

- ``"argmax"`` of the architecture weights needs no evaluator
  (``MixedEmbedOpComb.chosen_embedding_sizes``).

:func:`select_widths` and :func:`search_frontier` run a strategy on a trainer and its
held-out batches; :func:`neighbour_losses` measures every unit at every candidate
around one point (what ``search_result.json`` records per slot).

Example:
    >>> batches = holdout_batches(trainer, "data/train-*")  # doctest: +SKIP
    >>> selection = select_widths(trainer, batches, tolerance=2e-4)  # doctest: +SKIP
    >>> selection.sizes  # doctest: +SKIP
    {'1': 8, '2': 0, ...}
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from nwsrec.search.evaluator import HoldoutEvaluator, holdout_batches
from nwsrec.search.frontier import Frontier, FrontierPoint, FrontierSearch, greedy_frontier
from nwsrec.search.stats import paired_difference

logger = logging.getLogger(__name__)

__all__ = [
    "Frontier",
    "FrontierPoint",
    "FrontierSelector",
    "PerSlotSelector",
    "Selection",
    "greedy_frontier",
    "holdout_batches",
    "neighbour_losses",
    "paired_difference",
    "search_frontier",
    "select_widths",
]


@dataclasses.dataclass
class Selection:
    """What :class:`PerSlotSelector` found.

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


class PerSlotSelector:
    """The per-slot rule (``width_selection="holdout"``); see the module docstring.

    Args:
        tolerance: held-out loss a slot may give up for a smaller size (>= 0).
        rounds: passes over the slots (>= 1); a later pass sees the narrower others.

    Raises:
        ValueError: a bad ``tolerance`` or ``rounds``.
    """

    def __init__(self, tolerance: float, rounds: int = 2) -> None:
        if not np.isfinite(tolerance) or tolerance < 0:
            raise ValueError(f"`tolerance` must be a finite number >= 0. Received: {tolerance!r}")
        if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
            raise ValueError(f"`rounds` must be an integer >= 1. Received: rounds={rounds!r}")
        self.tolerance = float(tolerance)
        self.rounds = rounds

    def select(
        self,
        evaluator: HoldoutEvaluator,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> Selection:
        """Runs the rule; returns a :class:`Selection`."""
        owners = evaluator.candidates
        sizes = {slot: max(candidates) for slot, candidates in owners.items()}
        total = 1 + self.rounds * sum(len(c) - 1 for c in owners.values()) + 1
        done = 0

        def loss_at(current: Mapping[str, int]) -> float:
            nonlocal done
            loss = float(np.mean(evaluator.losses(current)))
            done += 1
            if on_progress is not None:
                on_progress(done, total)
            return loss

        base = current_loss = loss_at(sizes)
        losses: dict[str, list[float]] = {}
        for _ in range(self.rounds):
            for slot, candidates in owners.items():
                row = [
                    current_loss if c == sizes[slot] else loss_at({**sizes, slot: c})
                    for c in candidates
                ]
                best = min(row)
                chosen = min(
                    c
                    for c, loss in zip(candidates, row, strict=True)
                    if loss <= best + self.tolerance
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
            num_examples=evaluator.num_examples,
            tolerance=self.tolerance,
        )


class FrontierSelector:
    """The frontier (``width_selection="frontier"``) over an evaluator.

    Args:
        unit_rows: ``{unit: table rows}`` (``WidthSearchModel.unit_rows()``).
        slot_bias_rows: ``{slot: bias rows}``.
        budgets: parameter budgets to re-grow at.
        price_bytes: ``sizes -> bytes`` stored per point.
    """

    def __init__(
        self,
        unit_rows: Mapping[str, int],
        slot_bias_rows: Mapping[Any, int],
        *,
        budgets: Sequence[float] = (),
        price_bytes: Callable[[Mapping[str, int]], int] | None = None,
    ) -> None:
        self.unit_rows = dict(unit_rows)
        self.slot_bias_rows = dict(slot_bias_rows)
        self.budgets = list(budgets)
        self.price_bytes = price_bytes

    def select(
        self,
        evaluator: HoldoutEvaluator,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> Frontier:
        """Runs :class:`~nwsrec.search.frontier.FrontierSearch`; returns its frontier."""
        return FrontierSearch(
            evaluator.losses,
            evaluator.candidates,
            self.unit_rows,
            self.slot_bias_rows,
            budgets=self.budgets,
            price_bytes=self.price_bytes,
            on_progress=on_progress,
        ).run()


def select_widths(
    trainer: Any,
    batches: Sequence[Any],
    *,
    tolerance: float,
    rounds: int = 2,
    loss: str = "raw",
    on_progress: Callable[[int, int], None] | None = None,
) -> Selection:
    """Picks every slot's width of the trainer's NWS layers by :class:`PerSlotSelector`.

    Args:
        trainer: a trained search :class:`~nwsrec.training.trainer.Trainer`.
        batches: held-out batches (:func:`holdout_batches`).
        tolerance: held-out loss a slot may give up for a smaller size (>= 0).
        rounds: passes over the slots (>= 1).
        loss: the evaluator's loss, ``"raw"`` or ``"recalibrated"``.
        on_progress: called with ``(evaluations done, evaluations in all)``.

    Raises:
        ValueError: a bad ``tolerance`` or ``rounds``, or a trainer without NWS layer.
    """
    selector = PerSlotSelector(tolerance, rounds)
    return selector.select(HoldoutEvaluator(trainer, batches, loss=loss), on_progress)


def search_frontier(
    trainer: Any,
    batches: Sequence[Any],
    unit_rows: Mapping[str, int],
    slot_bias_rows: Mapping[Any, int],
    *,
    budgets: Sequence[float] = (),
    price_bytes: Callable[[Mapping[str, int]], int] | None = None,
    loss: str = "recalibrated",
    on_progress: Callable[[int, int], None] | None = None,
    evaluator: HoldoutEvaluator | None = None,
) -> Frontier:
    """The :class:`FrontierSelector` of a trained search on its held-out batches.

    Args:
        trainer: a trained search :class:`~nwsrec.training.trainer.Trainer`.
        batches: held-out batches (:func:`holdout_batches`).
        unit_rows: ``{unit: table rows}`` (``WidthSearchModel.unit_rows()``).
        slot_bias_rows: ``{slot: bias rows}``.
        budgets: parameter budgets to re-grow at.
        price_bytes: ``sizes -> bytes`` stored per point.
        loss: the evaluator's loss, ``"recalibrated"`` or ``"raw"``.
        on_progress: called with ``(steps done, steps in all)``.
        evaluator: an evaluator already built on ``batches`` (else one is built).
    """
    evaluator = evaluator or HoldoutEvaluator(trainer, batches, loss=loss)
    selector = FrontierSelector(unit_rows, slot_bias_rows, budgets=budgets, price_bytes=price_bytes)
    return selector.select(evaluator, on_progress)


def neighbour_losses(
    evaluator: HoldoutEvaluator, sizes: Mapping[str, int]
) -> dict[str, list[tuple[float, float, float]]]:
    """Around ``sizes``: each unit at each candidate, the others as they are.

    Returns:
        ``{unit: [(loss, ci95 low, ci95 high) per candidate]}``, the interval that of the
        loss difference to ``sizes`` itself (paired).
    """
    base = evaluator.losses(sizes)
    out: dict[str, list[tuple[float, float, float]]] = {}
    for unit, candidates in evaluator.candidates.items():
        row = []
        for c in candidates:
            if c == sizes[unit]:
                row.append((float(np.mean(base)), 0.0, 0.0))
                continue
            losses = evaluator.losses({**sizes, unit: c})
            _, low, high = paired_difference(losses, base)
            row.append((float(np.mean(losses)), low, high))
        out[unit] = row
    return out
