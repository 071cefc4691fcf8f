"""The held-out evaluator: a trained search's per-example loss at any choice of widths.

A search run with ``holdout_every = k`` keeps about one training record in ``k`` out of
training (``nwsrec.data.RecordSplit``). :func:`holdout_batches` reads those records once;
:class:`HoldoutEvaluator` then answers, for a choice of widths ``{unit: size}``, the loss
of every held-out example with the search's NWS layers pinned to that choice
(``MixedEmbedOpComb.pinned``).

What makes it cheap: the table lookups do not depend on the architecture weights, so
they are done once (``Model.lookup``) and the held-out examples are joined into a few
large arrays (at most ``chunk`` examples each); an evaluation is then one call of what
lies after the tables (``Model.forward_pooled``) per chunk: for 20k examples, one call
instead of a Python loop over 39 batches.

What makes it faithful:

- a slot whose every unit is at size 0 is dropped *with its bias* (a retrained model at
  width 0 has no table of that slot at all): the model does it itself, from the NWS
  layer's ``kept`` shares (``WidthSearchModel.logits_fn``), so pinning is all it takes;
- ``loss="recalibrated"`` (the default) scores each example by its log loss after the
  logits are refit by one scale and offset (:func:`nwsrec.search.stats.recalibrated_log_loss`),
  so an over- or under-confident supernet does not make a choice of widths look better or
  worse than its ranking is; ``"raw"`` is the plain log loss.

Example:
    >>> batches = holdout_batches(trainer, "data/train-*")  # doctest: +SKIP
    >>> evaluator = HoldoutEvaluator(trainer, batches)  # doctest: +SKIP
    >>> evaluator.losses({"1": 16, "2": 4}).mean()  # doctest: +SKIP
    0.4312
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nwsrec.metrics import exact_auc
from nwsrec.search.stats import recalibrated_log_loss

logger = logging.getLogger(__name__)

__all__ = [
    "LOSSES",
    "HoldoutEvaluator",
    "holdout_batches",
    "layer_candidates",
    "pinned_all",
]

LOSSES = ("recalibrated", "raw")
"""The per-example losses a :class:`HoldoutEvaluator` can score with."""


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


def layer_candidates(layers: Sequence[Any]) -> dict[str, list[int]]:
    """``{unit: candidate sizes}`` over NWS layers (a unit is an NWS slot name).

    Raises:
        ValueError: no layer, or a unit in two layers.
    """
    if not layers:
        raise ValueError("the trainer's model must have an NWS layer (MixedEmbedOpComb)")
    out: dict[str, list[int]] = {}
    for layer in layers:
        for name, sizes in zip(layer.slot_names, layer.embedding_size_choices_list, strict=True):
            if str(name) in out:
                raise ValueError(
                    f"every NWS slot name must be unique across layers. Received: {name!r} twice"
                )
            out[str(name)] = [int(c) for c in sizes]
    return out


def pinned_all(layers: Sequence[Any], sizes: Mapping[str, int]) -> contextlib.ExitStack:
    """Pins every layer's slots named in ``sizes`` (``MixedEmbedOpComb.pinned``).

    Raises:
        LookupError: a name that no layer has.
    """
    known = {str(n) for layer in layers for n in layer.slot_names}
    unknown = sorted(set(map(str, sizes)) - known)
    if unknown:
        raise LookupError(
            f"`sizes` must name slots of the NWS layers {sorted(known)[:20]}. "
            f"Received: {unknown[0]!r}"
        )
    stack = contextlib.ExitStack()
    for layer in layers:
        stack.enter_context(layer.pinned(sizes))
    return stack


def _join(parts: Sequence[Any]) -> Any:
    """Concatenates dense tensors along the batch; None for anything else."""
    import tensorflow as tf

    if not all(isinstance(p, tf.Tensor) for p in parts) or parts[0].shape.rank == 0:
        return None
    return tf.concat(list(parts), axis=0)


class HoldoutEvaluator:
    """Per-example held-out losses of a trainer's model at any choice of widths.

    Args:
        trainer: a trained search :class:`~nwsrec.training.trainer.Trainer`.
        batches: held-out batches (:func:`holdout_batches`).
        loss: ``"recalibrated"`` or ``"raw"`` (see the module docstring).
        chunk: examples per call at most.

    Raises:
        ValueError: no batches, an unknown ``loss``, or a trainer without NWS layer.
    """

    def __init__(
        self,
        trainer: Any,
        batches: Sequence[Any],
        *,
        loss: str = "recalibrated",
        chunk: int = 65536,
    ) -> None:
        import tensorflow as tf

        if loss not in LOSSES:
            raise ValueError(f"`loss` must be one of {LOSSES}. Received: loss={loss!r}")
        if not batches:
            raise ValueError("`batches` must hold at least one held-out batch. Received: []")
        self.loss = loss
        self.layers = list(trainer.nws_layers)
        self.candidates = layer_candidates(self.layers)
        model: Any = getattr(trainer, "model", None)
        self.labels = np.concatenate(
            [np.asarray(b["label"], dtype=np.float64).reshape(-1) for b in batches]
        )
        self.num_examples = int(self.labels.size)
        self.calls = 0
        self._chunks: list[tuple[Any, Any]] = []
        if hasattr(model, "lookup") and hasattr(model, "forward_pooled"):
            # The model is plain Python over tensors: nothing to convert (AutoGraph would
            # spend seconds transpiling the lookup and forward code).
            lookup = tf.function(model.lookup, autograph=False)
            pooled = [lookup(batch) for batch in batches]
            per_chunk = max(1, chunk // max(1, int(np.asarray(batches[0]["label"]).size)))
            starts = list(range(0, len(batches), per_chunk))
            for begin, end in zip(starts, [*starts[1:], len(batches)], strict=True):
                part = pooled[begin:end]
                joined = {k: tf.concat([p[k] for p in part], axis=0) for k in part[0]}
                features = {}
                for key in batches[0]:
                    value = _join([b[key] for b in batches[begin:end]])
                    if value is not None:
                        features[key] = value
                self._chunks.append((joined, features))

            def logits_of(pooled: Any, features: Any) -> Any:
                logits, _ = model.forward_pooled(pooled, features, training=False)
                return tf.reshape(logits, [-1])

            self._logits_fn = tf.function(logits_of, autograph=False)
            self._batches: list[Any] = []
        else:  # a model without cached lookups: its own evaluation step, batch by batch
            self._batches = list(batches)
            self._eval_step = trainer.local_eval_step

    def logits(self, sizes: Mapping[str, int]) -> np.ndarray:
        """The held-out logits at ``sizes`` (units not named: their current argmax), float64."""
        self.calls += 1
        with pinned_all(self.layers, sizes):
            if self._batches:
                parts = [np.asarray(self._eval_step(b)[1]).reshape(-1) for b in self._batches]
            else:
                parts = [
                    np.asarray(self._logits_fn(pooled, features)).reshape(-1)
                    for pooled, features in self._chunks
                ]
        return np.concatenate(parts).astype(np.float64)

    def losses(self, sizes: Mapping[str, int]) -> np.ndarray:
        """The per-example held-out loss at ``sizes``, float64 ``[num_examples]``."""
        z = self.logits(sizes)
        if self.loss == "recalibrated":
            return recalibrated_log_loss(self.labels, z)
        return np.logaddexp(0.0, z) - self.labels * z

    def auc(self, sizes: Mapping[str, int]) -> float:
        """The held-out AUC at ``sizes``."""
        return exact_auc(self.labels, self.logits(sizes))
