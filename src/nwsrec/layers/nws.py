"""``MixedEmbedOpComb``: neural width search (NWS) over the embedding size of each slot.

Port of Monolith's ``mixed_emb_op_comb_nws.py`` to Keras 3 with the original's bugs fixed:
a fresh draw on every training step (the original drew once in ``build``), pre-training
that is uniform over any number of choices, a working teacher-distillation path, a
complete ``get_config``, and a fixed number of operations whatever the number of slots.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from nwsrec.layers._checks import check_int_list, check_non_negative_int, is_int
from nwsrec.layers.teacher import TeacherEmbeddingTransform, check_teacher_shape

__all__ = ["MixedEmbedOpComb"]

MODES = ("sample", "mixed")
LAYOUTS = ("separate", "nested")

# Logit of a padded or blocked choice: exp() of it underflows to exactly 0 in float32, so
# such a choice has probability 0 without the NaNs that -inf brings into gradients.
_BLOCKED_LOGIT = -1e9

_Shape = tuple[int | None, ...]


@keras.saving.register_keras_serializable(package="nwsrec")
class MixedEmbedOpComb(keras.layers.Layer):
    """Searches, per slot, the embedding size among candidate sizes (neural width search).

    Slot ``i`` has candidate sizes ``c_i = [c_i0, c_i1, ...]``. Its block of the input has
    width ``m_i = sum_j c_ij``; choice ``j`` owns the segment
    ``[sum(c_i[:j]), sum(c_i[:j+1]))`` of the block. The input is
    ``[batch, sum_i m_i]``, the blocks in slot order. Each (slot, choice) has one trainable
    architecture logit ``w_ij`` (in ``arch_embedding_weights``, initialised
    uniform(-1e-3, 1e-3)), and ``p_i = softmax(w_i)``.

    Training (``mode="sample"``): once per call and per slot, a choice ``j ~ q_i`` is
    drawn. The output keeps segment ``j`` of the slot's block, zeroes the rest, and
    multiplies it by the straight-through factor ``1 + p_ij - stop_gradient(p_ij)`` (value
    1, gradient ``dp_ij``), so the task loss trains the architecture weights::

        out[:, seg_ij] = x[:, seg_ij] * (1 + p_ij - sg(p_ij))   for the drawn j
        out[:, seg_ik] = 0                                       for k != j

    The drawing distribution ``q_i`` is ``p_i``, except that

    - pre-training: while ``step < pretraining_steps``, ``q_i`` is uniform over the slot's
      own choices, whatever their number (or, with ``draw_largest = p``, the largest
      choice with probability ``p`` and the others uniform over the rest: in the nested
      layout the widest columns are then trained in a share ``p`` of the steps instead of
      ``1 / n_i``);
    - warm-up: when a slot's first size is 0, that choice's probability is multiplied by
      ``clip(step - warmup_steps, 0, 1)``: size 0 is never drawn until
      ``step > warmup_steps`` (this also holds during pre-training).

    ``step`` (``layer.step``) is a non-trainable integer weight (int64; int32 on JAX
    unless ``jax_enable_x64`` is set): the number of training calls seen so far. Each
    training call reads it, then adds 1. It is saved with the model and can be assigned
    (``layer.step.assign(n)``).

    Inference (``training=False``) is deterministic: each slot keeps its argmax choice
    (after the warm-up rule), with factor 1.

    ``mode="mixed"`` (the original's commented "method 2"): instead of a draw, the output
    is the probability-weighted mixture of the masked segments, ``out[:, seg_ij] =
    p_ij * x[:, seg_ij]`` (uniform ``1 / n_i`` during pre-training), in training and
    inference alike; ``chosen_embedding_sizes()`` still reports the argmax.

    Teacher distillation: when ``teacher_embedding_sizes_list`` (``t_i`` per slot) is
    given, the layer takes ``[embedding, teacher_embedding]`` (the teacher's width is
    ``sum_i t_i``), maps the teacher embedding with one
    :class:`~nwsrec.layers.TeacherEmbeddingTransform` (``t_i -> m_i`` per slot) and
    returns ``(masked_embedding, distillation_loss)``, the mean squared error between the
    transformed teacher embedding (multiplied by the same per-column factor as the
    embedding when ``distillation_mask=True``) and the masked embedding.

    A call is a fixed number of operations whatever the number of slots: the logits are
    scattered into a padded ``[num_slots, max_choices]`` matrix, one categorical draw covers
    every slot, and one gather turns the per-choice factors into a per-column multiplier.
    Cost: besides the multiply, the backward pass reduces ``upstream * input`` over the
    batch for the architecture gradient, one more pass over ``[batch, width]`` than a
    fixed mask needs (see ``bench/nws_layer.py``).

    Args:
        slot_names: one name per slot (unique strings).
        embedding_size_choices_list: per slot, the candidate sizes (non-negative ints, at
            least one positive).
        warmup_steps: a first size of 0 cannot be drawn while ``step <= warmup_steps``.
        pretraining_steps: draws are uniform while ``step < pretraining_steps``.
        draw_largest: ``None`` (default, uniform pre-training draws) or the probability
            in (0, 1) of drawing a slot's largest choice during pre-training.
        teacher_embedding_sizes_list: per slot, the teacher embedding width (positive
            ints), or ``None`` (default) for no distillation.
        distillation_mask: mask the transformed teacher embedding like the embedding
            before comparing them. Default ``False``.
        seed: integer seed of the draws and of the initial weights (architecture and
            teacher transform), or ``None`` (default) for a random one.
        mode: ``"sample"`` (default) or ``"mixed"``.
        layout: ``"separate"`` (default): choice ``j`` owns its own segment of the
            slot's block, as above. ``"nested"``: the slot's block is
            ``max_j c_ij`` columns and choice ``j`` is its first ``c_ij`` columns, so
            every choice shares the first columns. Column ``k`` of the block is
            multiplied by the sum of the factors of the choices wider than ``k``: in
            ``"sample"`` mode the drawn choice's factor for its first ``c_ij`` columns
            and 0 after them, in ``"mixed"`` mode the probability that the slot is wider than ``k``.
        **kwargs: base ``keras.layers.Layer`` arguments (``name``, ``dtype``, ...).

    Example:
        ```python
        nws = MixedEmbedOpComb(["user", "item"], [[0, 8, 16], [4, 12]], warmup_steps=100,
                               pretraining_steps=0, seed=1)
        x = keras.random.normal((32, 24 + 16))
        y = nws(x, training=True)          # [32, 40], one segment per slot kept
        nws.chosen_embedding_sizes()       # {"user": 8, "item": 12} (argmax)
        ```

    References:
        Joglekar et al., "Neural Input Search for Large Scale Recommendation Models",
        KDD 2020. Bengio et al., "Estimating or Propagating Gradients Through Stochastic
        Neurons for Conditional Computation", 2013 (straight-through estimator).
    """

    def __init__(
        self,
        slot_names: Sequence[str],
        embedding_size_choices_list: Sequence[Sequence[int]],
        warmup_steps: int,
        pretraining_steps: int,
        teacher_embedding_sizes_list: Sequence[int] | None = None,
        distillation_mask: bool = False,
        seed: int | None = None,
        mode: str = "sample",
        layout: str = "separate",
        draw_largest: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.slot_names = _check_slot_names(slot_names)
        self.embedding_size_choices_list = _check_choices(
            embedding_size_choices_list, self.slot_names
        )
        if layout not in LAYOUTS:
            raise ValueError(f"`layout` must be one of {LAYOUTS}. Received: layout={layout!r}")
        self.layout = layout
        self.warmup_steps = check_non_negative_int("warmup_steps", warmup_steps)
        self.pretraining_steps = check_non_negative_int("pretraining_steps", pretraining_steps)
        if teacher_embedding_sizes_list is not None:
            teacher_embedding_sizes_list = check_int_list(
                "teacher_embedding_sizes_list",
                teacher_embedding_sizes_list,
                positive=True,
                slot_names=self.slot_names,
            )
            if len(teacher_embedding_sizes_list) != len(self.slot_names):
                raise ValueError(
                    "`teacher_embedding_sizes_list` must have one entry per slot "
                    f"({len(self.slot_names)} slots). "
                    f"Received: teacher_embedding_sizes_list={teacher_embedding_sizes_list!r}"
                )
        self.teacher_embedding_sizes_list = teacher_embedding_sizes_list
        if not isinstance(distillation_mask, bool | np.bool_):
            raise ValueError(
                "`distillation_mask` must be a bool. "
                f"Received: distillation_mask={distillation_mask!r}"
            )
        self.distillation_mask = bool(distillation_mask)
        if seed is not None and not is_int(seed):
            raise ValueError(f"`seed` must be an integer or None. Received: seed={seed!r}")
        self.seed = None if seed is None else int(seed)
        if mode not in MODES:
            raise ValueError(f"`mode` must be one of {MODES}. Received: mode={mode!r}")
        self.mode = mode
        if draw_largest is not None and not (
            isinstance(draw_largest, int | float) and 0.0 < float(draw_largest) < 1.0
        ):
            raise ValueError(
                "`draw_largest` must be None or a probability in (0, 1). "
                f"Received: draw_largest={draw_largest!r}"
            )
        self.draw_largest = None if draw_largest is None else float(draw_largest)
        self._init_index_arrays()
        self._seed_generator = keras.random.SeedGenerator(self.seed, name="nws_seed_generator")

    def _init_index_arrays(self) -> None:
        """Precompute the static index arrays that make ``call`` independent of slot count."""
        choices = self.embedding_size_choices_list
        num_choices = np.array([len(c) for c in choices], dtype=np.int64)
        num_slots, max_choices = len(choices), int(num_choices.max())
        self.num_choices = num_choices.tolist()
        nested = self.layout == "nested"
        # Each slot's block width in the input.
        self.max_emb_choice_per_slot = [max(c) if nested else sum(c) for c in choices]
        self.total_embedding_size = sum(self.max_emb_choice_per_slot)
        self.total_num_choices = int(num_choices.sum())
        self._num_slots, self._max_choices = num_slots, max_choices

        j = np.arange(max_choices)[None, :]
        valid = j < num_choices[:, None]  # [S, M]
        sizes = np.zeros((num_slots, max_choices), dtype=np.int64)
        sizes[valid] = np.concatenate([np.asarray(c, dtype=np.int64) for c in choices])
        # Flat choice k -> its (slot, choice) position in the padded [S, M] matrix.
        self._choice_positions = np.argwhere(valid).astype(np.int32)
        # Flat choice k -> position in the flattened padded [S * M] matrix.
        self._flat_valid_index = np.flatnonzero(valid.reshape(-1)).astype(np.int32)
        self._valid = valid
        self._sizes = sizes
        self._zero_first = (j == 0) & (sizes == 0)  # [S, M], choice 0 of a slot sized 0
        self._has_zero_first = bool(self._zero_first.any())
        self._pretraining_draw_logits = self._draw_logits(sizes, valid, num_choices)
        if nested:
            # Each slot's choices by ascending size (`_column_factors` reorders the
            # factors so), then: input column k of slot i -> position (i * M + t) of the
            # narrowest choice t wider than k; the multiplier there is the sum of the
            # factors of choices t, t + 1, ... in that order.
            order = np.tile(np.arange(max_choices), (num_slots, 1))
            for i, c in enumerate(choices):
                order[i, : len(c)] = np.argsort(np.asarray(c), kind="stable")
            self._size_order = (order + max_choices * np.arange(num_slots)[:, None]).reshape(-1)
            self._column_index = np.concatenate(
                [
                    i * max_choices + np.searchsorted(np.sort(c), np.arange(max(c)), "right")
                    for i, c in enumerate(choices)
                ]
            ).astype(np.int32)
        else:
            # Input column -> position (slot * M + choice) of its choice in the padded
            # matrix.
            self._column_index = np.repeat(
                np.arange(num_slots * max_choices, dtype=np.int32), sizes.reshape(-1)
            )

    def _draw_logits(self, sizes: np.ndarray, valid: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """``[S, M]`` logits of the pre-training draw: uniform over a slot's choices, or,
        with ``draw_largest = p``, its largest choice with probability ``p`` and the others
        uniform over the rest (a slot of one choice always draws it)."""
        logits = np.where(valid, 0.0, _BLOCKED_LOGIT)
        if self.draw_largest is not None:
            p = self.draw_largest
            largest = valid & (sizes == np.where(valid, sizes, -1).max(axis=1, keepdims=True))
            first_largest = largest & (np.cumsum(largest, axis=1) == 1)
            # A slot of one choice draws it whatever its logit (the rest are blocked).
            rest = np.log((1.0 - p) / np.maximum(counts[:, None] - 1, 1))
            logits = np.where(valid, np.where(first_largest, np.log(p), rest), logits)
        return logits.astype(np.float32)

    # ------------------------------------------------------------------------- build

    def build(self, input_shape: Any) -> None:
        embedding_shape, teacher_shape = self._split_shapes(input_shape, "input_shape")
        self._check_embedding_shape(embedding_shape, "input_shape")
        self.arch_embedding_weights = self.add_weight(
            name="arch_embedding_weights",
            shape=(self.total_num_choices,),
            initializer=keras.initializers.RandomUniform(-1e-3, 1e-3, seed=self.seed),
            dtype="float32",
            autocast=False,
        )
        self.step = self.add_weight(
            name="step",
            shape=(),
            initializer="zeros",
            dtype=_step_dtype(),
            trainable=False,
            aggregation="only_first_replica",
        )
        self.teacher_embedding_transform: TeacherEmbeddingTransform | None = None
        if self.teacher_embedding_sizes_list is not None and teacher_shape is not None:
            self.teacher_embedding_transform = TeacherEmbeddingTransform(
                self.max_emb_choice_per_slot,
                self.teacher_embedding_sizes_list,
                seed=self.seed,
                name="teacher_embedding_transform",
                dtype=self.dtype_policy,
            )
            self.teacher_embedding_transform.build(teacher_shape)

    def _split_shapes(self, shapes: Any, name: str) -> tuple[_Shape, _Shape | None]:
        if self.teacher_embedding_sizes_list is None:
            if _is_shape(shapes):
                return tuple(shapes), None
            raise ValueError(
                "Without `teacher_embedding_sizes_list` the input must be one tensor "
                f"[batch, {self.total_embedding_size}]. Received: {name}={shapes}"
            )
        if isinstance(shapes, list | tuple) and len(shapes) == 2 and not _is_shape(shapes):
            return tuple(shapes[0]), tuple(shapes[1])
        raise ValueError(
            "With `teacher_embedding_sizes_list` the input must be "
            f"[embedding, teacher_embedding]. Received: {name}={shapes}"
        )

    def _check_embedding_shape(self, shape: _Shape, name: str) -> None:
        if len(shape) != 2:
            raise ValueError(
                f"The embedding must have rank 2 ([batch, {self.total_embedding_size}]). "
                f"Received: {name}={shape}"
            )
        if shape[-1] != self.total_embedding_size:
            widths = ", ".join(
                f"{s!r}: {w}"
                for s, w in zip(self.slot_names[:8], self.max_emb_choice_per_slot, strict=False)
            )
            more = ", ..." if self._num_slots > 8 else ""
            what = "their largest size" if self.layout == "nested" else "the sum of their sizes"
            raise ValueError(
                f"The embedding width must be the sum over slots of {what} "
                f"({self.total_embedding_size}: {widths}{more}). Received: {name}={shape}"
            )

    # -------------------------------------------------------------------------- call

    def call(self, inputs: Any, training: bool | None = None, return_kept: bool = False) -> Any:
        """Masks the embedding by each slot's choice (see the class docstring).

        Args:
            inputs: ``[batch, sum_i m_i]`` (with a teacher: ``[embedding, teacher]``).
            training: draw (True) or take the argmax (False).
            return_kept: also return ``kept`` ``[S]`` (float32, no gradient): how much
                of each slot this call keeps, ``1 - (factor of its size-0 choice)``: 0
                for a slot whose size-0 choice was drawn or pinned, 1 for any other
                choice, ``1 - p_i0`` in ``"mixed"`` mode. A model multiplies what else
                belongs to the slot (its bias) by it, so that size 0 drops the slot
                whole, in training as at inference. Not with a teacher.

        Returns:
            The masked embedding; ``(masked, kept)`` with ``return_kept``;
            ``(masked, distillation_loss)`` with a teacher.
        """
        if self.teacher_embedding_sizes_list is None:
            embedding, teacher = inputs, None
        else:
            if not isinstance(inputs, list | tuple):
                self._split_shapes(tuple(inputs.shape), "inputs.shape")  # raises
            self._split_shapes([tuple(t.shape) for t in inputs], "inputs.shape")
            embedding, teacher = inputs
            if return_kept:
                raise ValueError(
                    "`return_kept` must be False when the layer has a teacher. "
                    f"Received: return_kept={return_kept!r}"
                )
        self._check_embedding_shape(tuple(embedding.shape), "inputs.shape")

        step = ops.convert_to_tensor(self.step)
        padded = self._choice_factors(step, bool(training))  # [S, M]
        factors = ops.reshape(self._column_factors(padded), (-1,))  # [S * M]
        masked = self._masked_multiply(embedding, factors)
        if training:
            self.step.assign_add(ops.ones((), dtype=self.step.dtype))
        if return_kept:
            zero = ops.where(self._zero_first[:, 0], ops.stop_gradient(padded[:, 0]), 0.0)
            return masked, 1.0 - zero
        transform = self.teacher_embedding_transform
        if teacher is None or transform is None:
            return masked

        transformed = transform(teacher)
        transformed = ops.cast(transformed, masked.dtype)
        if self.distillation_mask:
            transformed = self._masked_multiply(transformed, factors)
        distillation_loss = ops.mean(ops.square(transformed - masked))
        return masked, distillation_loss

    def _choice_factors(self, step: Any, training: bool) -> Any:
        """Return the per-(slot, choice) output factor, padded to ``[S, M]`` (float32)."""
        logits = self._padded_logits()
        pretraining = ops.less(step, self.pretraining_steps)

        if self.mode == "mixed":
            probs = ops.softmax(logits, axis=-1)
            if not training or self.pretraining_steps == 0:
                return probs
            uniform = self._valid / np.asarray(self.num_choices, dtype=np.float32)[:, None]
            return ops.where(pretraining, uniform.astype(np.float32), probs)

        blocked = self._blocked(step)
        if not training:
            chosen = ops.argmax(_block(logits, blocked), axis=-1)
            return ops.one_hot(chosen, self._max_choices, dtype="float32")

        probs = ops.softmax(logits, axis=-1)
        draw_logits = ops.stop_gradient(logits)
        if self.pretraining_steps > 0:
            draw_logits = ops.where(pretraining, self._pretraining_draw_logits, draw_logits)
        draw_logits = _block(draw_logits, blocked)
        chosen = keras.random.categorical(draw_logits, 1, dtype="int32", seed=self._seed_generator)
        onehot = ops.one_hot(chosen[:, 0], self._max_choices, dtype="float32")
        # p - sg(p) first: its value is exactly 0, so the factor is exactly 1.
        return onehot * (1.0 + (probs - ops.stop_gradient(probs)))

    def _column_factors(self, padded: Any) -> Any:
        """``[S, M]``: what a column of choice position ``(i, t)`` is multiplied by: the
        choice's factor (``"separate"``), or the sum of the factors of choices ``t, t + 1,
        ...`` of the slot (``"nested"``: the choices that keep the column)."""
        if self.layout != "nested":
            return padded
        by_size = ops.reshape(ops.take(ops.reshape(padded, (-1,)), self._size_order), padded.shape)
        return ops.flip(ops.cumsum(ops.flip(by_size, axis=1), axis=1), axis=1)

    def _masked_multiply(self, x: Any, factors: Any) -> Any:
        """``x * factors[column_index]``: each column times the factor of its choice.

        The gradient is written out so that the factors' gradient costs one product and
        one matrix-vector reduction over the batch instead of a broadcast reduction.
        """
        column_index = self._column_index
        num_segments = self._num_slots * self._max_choices

        @ops.custom_gradient
        def masked_multiply(x: Any, factors: Any) -> Any:
            multiplier = ops.cast(ops.take(factors, column_index, axis=0), x.dtype)

            def grad(*args: Any, upstream: Any = None) -> tuple[Any, Any]:
                if upstream is None:
                    (upstream,) = args
                grad_x = upstream * multiplier
                ones = ops.ones((1, ops.shape(upstream)[0]), dtype=upstream.dtype)
                column_sums = ops.matmul(ones, upstream * x)[0]  # sum over the batch
                grad_factors = ops.segment_sum(
                    ops.cast(column_sums, factors.dtype), column_index, num_segments
                )
                return grad_x, grad_factors

            return x * multiplier, grad

        return masked_multiply(x, factors)

    def _padded_logits(self) -> Any:
        """The architecture logits as ``[S, M]``, padding at ``_BLOCKED_LOGIT``."""
        # A scatter (not a gather) so the gradient w.r.t. the weight is a dense tensor.
        logits = ops.scatter(
            self._choice_positions,
            self.arch_embedding_weights,
            (self._num_slots, self._max_choices),
        )
        return ops.where(self._valid, logits, _BLOCKED_LOGIT)

    def _blocked(self, step: Any) -> Any | None:
        """``[S, M]`` bool: the zero-size choices whose warm-up factor is 0, or ``None``."""
        if not self._has_zero_first:
            return None
        warmup_factor = ops.clip(step - self.warmup_steps, 0, 1)  # clip(step - warmup, 0, 1)
        return ops.logical_and(self._zero_first, ops.equal(warmup_factor, 0))

    # ------------------------------------------------------------------ reporting API

    def _require_built(self, method: str) -> None:
        if not self.built:
            raise ValueError(
                f"`{method}()` needs the layer's weights: call or build layer {self.name!r} "
                f"first. Received: built={self.built}"
            )

    def get_arch_embedding_weights(self) -> keras.Variable:
        """Return the architecture weight variable (``[total_num_choices]`` logits)."""
        self._require_built("get_arch_embedding_weights")
        return self.arch_embedding_weights

    def get_summaries(self) -> dict[str, Any]:
        """Summaries of the search, computed from the current architecture weights.

        Returns:
            A dict with

            - ``arch_entropy``: sum over slots of the entropy of ``p_i``;
            - ``expected_emb_dims``: sum over slots of ``sum_j p_ij * c_ij``;
            - ``expected_zero_embedding_size_weights``: sum of ``p_i0`` over the slots whose
              first size is 0;
            - ``arch_weights_after_softmax_list``: a list of
              ``("arch_embedding_weights_after_softmax/{slot}_{size}", p_ij)``.

            The values are backend scalar tensors (usable inside ``tf.function`` or
            ``jax.jit``).
        """
        self._require_built("get_summaries")
        logits = self._padded_logits()
        probs = ops.softmax(logits, axis=-1)
        log_probs = ops.log_softmax(logits, axis=-1)
        entropy = -ops.sum(ops.where(self._valid, probs * log_probs, 0.0))
        expected_dims = ops.sum(probs * ops.cast(self._sizes, "float32"))
        zero_weights = ops.sum(ops.where(self._zero_first, probs, 0.0))
        flat_probs = ops.take(ops.reshape(probs, (-1,)), self._flat_valid_index, axis=0)
        names = [
            f"arch_embedding_weights_after_softmax/{slot}_{size}"
            for slot, sizes in zip(self.slot_names, self.embedding_size_choices_list, strict=True)
            for size in sizes
        ]
        return {
            "arch_entropy": entropy,
            "expected_emb_dims": expected_dims,
            "expected_zero_embedding_size_weights": zero_weights,
            "arch_weights_after_softmax_list": list(
                zip(names, ops.unstack(flat_probs, axis=0), strict=True)
            ),
        }

    def choice_probabilities(self) -> dict[str, np.ndarray]:
        """Return ``{slot_name: p_i}`` (NumPy, one probability per candidate size)."""
        self._require_built("choice_probabilities")
        logits = ops.convert_to_numpy(self.arch_embedding_weights).astype(np.float64)
        out = {}
        start = 0
        for slot, n in zip(self.slot_names, self.num_choices, strict=True):
            w = logits[start : start + n]
            e = np.exp(w - w.max())
            out[slot] = e / e.sum()
            start += n
        return out

    def chosen_embedding_sizes(self) -> dict[str, int]:
        """Return ``{slot_name: size}``: each slot's argmax choice, the search result.

        The warm-up rule applies as at inference: a first size of 0 is not chosen while
        ``step <= warmup_steps``.
        """
        self._require_built("chosen_embedding_sizes")
        step = int(ops.convert_to_numpy(self.step))
        zero_allowed = step > self.warmup_steps
        out = {}
        for (slot, p), sizes in zip(
            self.choice_probabilities().items(), self.embedding_size_choices_list, strict=True
        ):
            if sizes[0] == 0 and not zero_allowed:
                p = np.concatenate([[-1.0], p[1:]])
            out[slot] = int(sizes[int(np.argmax(p))])
        return out

    def largest_sizes(self) -> dict[str, int]:
        """Return ``{slot_name: largest candidate}``: the full-width choice of every slot."""
        return {
            str(slot): int(max(sizes))
            for slot, sizes in zip(self.slot_names, self.embedding_size_choices_list, strict=True)
        }

    def pinned_logits(self, sizes: Mapping[str, int]) -> np.ndarray:
        """Architecture logits under which inference uses exactly ``sizes``.

        Each slot named in ``sizes`` gets logit 0 at its size and ``-1e9`` at the other
        choices, so the inference argmax (also under the warm-up rule, which blocks size
        0 to ``-1e9`` as well: a tie that ``argmax`` resolves to the first choice) keeps
        that size with factor 1. Slots not named keep their current logits.

        Args:
            sizes: ``{slot_name: size}``, each size one of the slot's candidates.

        Returns:
            The ``[total_num_choices]`` float32 logits to assign.

        Raises:
            LookupError: a slot the layer does not have.
            ValueError: a size that is not one of the slot's candidates.
        """
        self._require_built("pinned_logits")
        logits = np.array(ops.convert_to_numpy(self.arch_embedding_weights), dtype=np.float32)
        offsets, start = {}, 0
        for slot, candidates in zip(self.slot_names, self.embedding_size_choices_list, strict=True):
            offsets[str(slot)] = (start, [int(c) for c in candidates])
            start += len(candidates)
        for slot, size in sizes.items():
            if str(slot) not in offsets:
                raise LookupError(
                    f"`sizes` must name slots of layer {self.name!r} {sorted(offsets)}. "
                    f"Received: {slot!r}"
                )
            begin, candidates = offsets[str(slot)]
            if size not in candidates:
                raise ValueError(
                    f"the size of slot {slot} must be one of its candidates {candidates}. "
                    f"Received: size={size!r}"
                )
            row = np.full(len(candidates), _BLOCKED_LOGIT, dtype=np.float32)
            row[candidates.index(size)] = 0.0
            logits[begin : begin + len(candidates)] = row
        return logits

    @contextlib.contextmanager
    def pinned(self, sizes: Mapping[str, int]) -> Iterator[None]:
        """Within the block, inference uses exactly ``sizes`` (see :meth:`pinned_logits`).

        The architecture weights are put back on leaving the block, also on an error.

        Example:
            >>> with layer.pinned(layer.largest_sizes()):  # doctest: +SKIP
            ...     logits = model(batch, training=False)
        """
        names = {str(s) for s in self.slot_names}
        own = {str(s): int(c) for s, c in sizes.items() if str(s) in names}
        variable = self.arch_embedding_weights
        saved = np.array(ops.convert_to_numpy(variable))
        variable.assign(self.pinned_logits(own))
        try:
            yield
        finally:
            variable.assign(saved)

    # ------------------------------------------------------------------ keras plumbing

    def compute_output_shape(self, input_shape: Any) -> Any:
        embedding_shape, teacher_shape = self._split_shapes(input_shape, "input_shape")
        self._check_embedding_shape(embedding_shape, "input_shape")
        if teacher_shape is None or self.teacher_embedding_sizes_list is None:
            return embedding_shape
        check_teacher_shape(teacher_shape, sum(self.teacher_embedding_sizes_list), "input_shape")
        return embedding_shape, ()

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "slot_names": list(self.slot_names),
                "embedding_size_choices_list": [list(c) for c in self.embedding_size_choices_list],
                "warmup_steps": self.warmup_steps,
                "pretraining_steps": self.pretraining_steps,
                "teacher_embedding_sizes_list": (
                    None
                    if self.teacher_embedding_sizes_list is None
                    else list(self.teacher_embedding_sizes_list)
                ),
                "distillation_mask": self.distillation_mask,
                "seed": self.seed,
                "mode": self.mode,
                "layout": self.layout,
                "draw_largest": self.draw_largest,
            }
        )
        return config


def _step_dtype() -> str:
    """The dtype of ``step``: int64, or int32 where the backend lacks 64-bit integers.

    JAX truncates int64 to int32 (with a warning) unless ``jax_enable_x64`` is set.
    """
    if keras.backend.backend() == "jax":
        import jax

        if not jax.config.read("jax_enable_x64"):
            return "int32"
    return "int64"


def _block(logits: Any, blocked: Any | None) -> Any:
    return logits if blocked is None else ops.where(blocked, _BLOCKED_LOGIT, logits)


def _is_shape(value: Any) -> bool:
    """Whether ``value`` is one shape (a sequence of ints / None), not a list of shapes."""
    if not isinstance(value, list | tuple):
        return False
    return all(v is None or is_int(v) for v in value)


def _check_slot_names(slot_names: Any) -> list[str]:
    if isinstance(slot_names, str) or not isinstance(slot_names, Sequence):
        raise ValueError(
            f"`slot_names` must be a list of strings. Received: slot_names={slot_names!r}"
        )
    names = list(slot_names)
    if not names:
        raise ValueError(f"`slot_names` must not be empty. Received: slot_names={slot_names!r}")
    seen: set[str] = set()
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise ValueError(
                f"`slot_names[{i}]` must be a non-empty string. Received: slot_names[{i}]={name!r}"
            )
        if name in seen:
            raise ValueError(
                f"`slot_names` must be unique; {name!r} appears twice. "
                f"Received: slot_names={names!r}"
            )
        seen.add(name)
    return names


def _check_choices(choices_list: Any, slot_names: list[str]) -> list[list[int]]:
    if isinstance(choices_list, str) or not isinstance(choices_list, Sequence):
        raise ValueError(
            "`embedding_size_choices_list` must be a list of lists of sizes. "
            f"Received: embedding_size_choices_list={choices_list!r}"
        )
    if len(choices_list) != len(slot_names):
        raise ValueError(
            "`embedding_size_choices_list` must have one entry per slot "
            f"({len(slot_names)} slot names). "
            f"Received: {len(choices_list)} entries, embedding_size_choices_list={choices_list!r}"
        )
    out = []
    for i, (slot, choices) in enumerate(zip(slot_names, choices_list, strict=True)):
        name = f"embedding_size_choices_list[{i}]"
        sizes = check_int_list(name, choices, positive=False, slot=slot)
        if not sizes:
            raise ValueError(
                f"`{name}` (slot {slot!r}) must not be empty. Received: {name}={choices!r}"
            )
        if not any(sizes):
            raise ValueError(
                f"`{name}` (slot {slot!r}) must have at least one positive size. "
                f"Received: {name}={choices!r}"
            )
        out.append(sizes)
    return out
