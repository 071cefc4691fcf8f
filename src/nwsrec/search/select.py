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
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["Selection", "holdout_batches", "holdout_log_loss", "pinned_sizes", "select_widths"]

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

        model = getattr(trainer, "model", None)
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

    def __call__(self) -> float:
        pooled = self._pooled or [None] * len(self._batches)
        total = sum(float(self._step(p, b)) for p, b in zip(pooled, self._batches, strict=True))
        return total / self.num_examples


def _sum_log_loss(labels: Any, logits: Any) -> Any:
    import tensorflow as tf

    labels = tf.cast(tf.reshape(labels, [-1]), tf.float32)
    logits = tf.cast(tf.reshape(logits, [-1]), tf.float32)
    return tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))


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
