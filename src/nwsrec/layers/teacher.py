"""``TeacherEmbeddingTransform``: per-slot linear maps from a teacher's embedding widths.

Used by :class:`nwsrec.layers.MixedEmbedOpComb` for distillation: the teacher model's
embedding of slot ``i`` (``t_i`` dims) is mapped to the student's block of slot ``i``
(``m_i`` dims, the sum of the slot's candidate sizes) so the two can be compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from nwsrec.layers._checks import check_int_list, is_int

__all__ = ["TeacherEmbeddingTransform"]


@keras.saving.register_keras_serializable(package="nwsrec")
class TeacherEmbeddingTransform(keras.layers.Layer):
    """Per-slot linear maps of a teacher embedding, with one shared flat weight.

    For slot ``i`` with teacher width ``t_i`` and student width ``m_i``, and the teacher
    input ``T = [T_0 | T_1 | ...]`` (``T_i`` of shape ``[batch, t_i]``)::

        out_i = T_i @ W_i + b_i        W_i: [t_i, m_i],  b_i: [m_i]
        out   = [out_0 | out_1 | ...]  shape [batch, sum_i m_i]

    As in the original, all ``W_i`` live in one weight ``teacher_embedding_transform_weight``
    of shape ``[sum_i m_i * t_i, 1]`` (slot ``i``'s part, in slot order, is ``W_i`` in
    row-major order), initialised from a truncated normal with stddev 0.15; the biases
    live in ``teacher_embedding_transform_bias`` of ``sum_i m_i`` zeros.

    The maps are computed with a fixed number of operations whatever the number of
    slots: every ``W_i`` is zero-padded to ``[max_i t_i, max_i m_i]``, the slots go
    through one batched matrix product, and one gather keeps the valid columns. When all
    slots have the same widths the gathers are skipped.

    Args:
        max_choice_per_embedding: ``m_i`` per slot, the student width (positive ints).
        teacher_embedding_sizes_list: ``t_i`` per slot, the teacher width (positive ints),
            same length as ``max_choice_per_embedding``.
        seed: integer seed of the weight initializer, or ``None`` (default).
        **kwargs: base ``keras.layers.Layer`` arguments (``name``, ``dtype``, ...).

    Example:
        ```python
        transform = TeacherEmbeddingTransform([24, 8], [16, 4])
        out = transform(keras.random.normal((32, 20)))  # [32, 32]
        ```

    References:
        Hinton et al., "Distilling the Knowledge in a Neural Network", 2015.
    """

    def __init__(
        self,
        max_choice_per_embedding: Sequence[int],
        teacher_embedding_sizes_list: Sequence[int],
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_choice_per_embedding = check_int_list(
            "max_choice_per_embedding", max_choice_per_embedding, positive=True
        )
        self.teacher_embedding_sizes_list = check_int_list(
            "teacher_embedding_sizes_list", teacher_embedding_sizes_list, positive=True
        )
        if not self.max_choice_per_embedding:
            raise ValueError(
                "`max_choice_per_embedding` must not be empty. "
                f"Received: max_choice_per_embedding={max_choice_per_embedding!r}"
            )
        if len(self.max_choice_per_embedding) != len(self.teacher_embedding_sizes_list):
            raise ValueError(
                "`teacher_embedding_sizes_list` must have one entry per slot "
                f"({len(self.max_choice_per_embedding)} slots in `max_choice_per_embedding`). "
                f"Received: teacher_embedding_sizes_list={teacher_embedding_sizes_list!r}"
            )
        if seed is not None and not is_int(seed):
            raise ValueError(f"`seed` must be an integer or None. Received: seed={seed!r}")
        self.seed = None if seed is None else int(seed)
        self._init_index_arrays()

    def _init_index_arrays(self) -> None:
        m = np.asarray(self.max_choice_per_embedding, dtype=np.int64)
        t = np.asarray(self.teacher_embedding_sizes_list, dtype=np.int64)
        num_slots, max_m, max_t = len(m), int(m.max()), int(t.max())
        self._num_slots, self._max_m, self._max_t = num_slots, max_m, max_t
        self.output_width = int(m.sum())
        self.input_width = int(t.sum())
        self.num_weight_values = int((m * t).sum())
        self._uniform = bool((m == max_m).all() and (t == max_t).all())

        rows = np.arange(max_t)[None, :]  # [1, max_t]
        cols = np.arange(max_m)[None, :]  # [1, max_m]
        # Padded teacher columns: slot s, row r -> input column t_off[s] + r (0 when padded;
        # the padded rows of the weight are zero, so the value read there does not matter).
        t_off = np.concatenate([[0], np.cumsum(t)[:-1]])
        valid_t = rows < t[:, None]
        self._teacher_index = np.where(valid_t, t_off[:, None] + rows, 0).astype(np.int32)
        # Padded weight: [S, max_t, max_m] from the flat weight, index num_weight_values
        # (one past the end) for zero padding.
        w_off = np.concatenate([[0], np.cumsum(m * t)[:-1]])
        valid_w = valid_t[:, :, None] & (cols < m[:, None])[:, None, :]
        flat_pos = w_off[:, None, None] + rows[:, :, None] * m[:, None, None] + cols[:, None, :]
        self._weight_index = np.where(valid_w, flat_pos, self.num_weight_values).astype(np.int32)
        # Output columns: slot s, column c -> position s * max_m + c of the padded output.
        valid_m = cols < m[:, None]
        self._output_index = (np.arange(num_slots)[:, None] * max_m + cols)[valid_m].astype(
            np.int32
        )

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        check_teacher_shape(input_shape, self.input_width, "input_shape")
        self.teacher_embedding_transform_weight = self.add_weight(
            name="teacher_embedding_transform_weight",
            shape=(self.num_weight_values, 1),
            initializer=keras.initializers.TruncatedNormal(stddev=0.15, seed=self.seed),
        )
        self.teacher_embedding_transform_bias = self.add_weight(
            name="teacher_embedding_transform_bias",
            shape=(self.output_width,),
            initializer="zeros",
        )

    def slot_weight_matrices(self) -> list[np.ndarray]:
        """Return each slot's ``W_i`` (``[t_i, m_i]``) as NumPy arrays, for reports and tests."""
        flat = ops.convert_to_numpy(self.teacher_embedding_transform_weight)[:, 0]
        out, offset = [], 0
        for m, t in zip(
            self.max_choice_per_embedding, self.teacher_embedding_sizes_list, strict=True
        ):
            out.append(flat[offset : offset + m * t].reshape(t, m))
            offset += m * t
        return out

    def call(self, inputs: Any) -> Any:
        check_teacher_shape(tuple(inputs.shape), self.input_width, "inputs.shape")
        flat = ops.reshape(self.teacher_embedding_transform_weight, (-1,))
        if self._uniform:
            weight = ops.reshape(flat, (self._num_slots, self._max_t, self._max_m))
            teacher = ops.reshape(inputs, (-1, self._num_slots, self._max_t))
        else:
            flat = ops.concatenate([flat, ops.zeros((1,), dtype=flat.dtype)], axis=0)
            weight = ops.take(flat, self._weight_index, axis=0)
            teacher = ops.take(inputs, self._teacher_index, axis=1)
        out = ops.einsum("bsk,skm->bsm", teacher, weight)
        out = ops.reshape(out, (-1, self._num_slots * self._max_m))
        if not self._uniform:
            out = ops.take(out, self._output_index, axis=1)
        return out + self.teacher_embedding_transform_bias

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, int]:
        check_teacher_shape(input_shape, self.input_width, "input_shape")
        return (input_shape[0], self.output_width)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "max_choice_per_embedding": list(self.max_choice_per_embedding),
                "teacher_embedding_sizes_list": list(self.teacher_embedding_sizes_list),
                "seed": self.seed,
            }
        )
        return config


def check_teacher_shape(shape: Sequence[int | None], width: int, name: str) -> None:
    """Raise ``ValueError`` unless ``shape`` is ``[batch, width]``."""
    shape = tuple(shape)
    if len(shape) != 2:
        raise ValueError(
            f"The teacher embedding must have rank 2 ([batch, {width}]). Received: {name}={shape}"
        )
    if shape[-1] != width:
        raise ValueError(
            "The teacher embedding width must be the sum of `teacher_embedding_sizes_list` "
            f"({width}). Received: {name}={shape}"
        )
