"""``CtrModel``: the width-search model on your own data (``nwsrec convert`` output).

Registered as ``ctr``. ``--data-dir DIR`` is required: the model reads
``DIR/vocab.tsv`` (every slot, multi-valued slots pooled by sum), trains on
``DIR/train-*`` and evaluates on ``DIR/test-*`` (``--param train_file_pattern=...`` /
``eval_file_pattern=...`` for other names). When the training records carry the float
list ``dense`` (``nwsrec convert --dense ...``), its length is read from the first
record and the floats, squashed by ``sign(x) * log1p(|x|)`` (``dense_transform``), join
the embeddings at the DNN's input.

The architecture is the built-in tasks' (:class:`nwsrec.search.WidthSearchModel`):
per-slot bias plus a vector of the largest candidate size, a ReLU DNN, the NWS layer
in search mode.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from nwsrec.registry import register
from nwsrec.search.model import TASK_DEFAULTS, WidthSearchModel

__all__ = ["CtrModel", "dense_width"]

DENSE = "dense"


def dense_width(file_pattern: str) -> int:
    """The length of the ``dense`` float list of the first record of ``file_pattern``.

    Returns 0 when the files have no ``dense`` feature (or no record).

    Raises:
        ValueError: a first record that is not a ``tf.train.Example``, naming the file.
    """
    from nwsrec.data.files import detect_compression, list_files

    try:
        files = list_files(file_pattern)
    except ValueError:  # no file
        return 0

    dataset = tf.data.TFRecordDataset(files[0], compression_type=detect_compression(files[0]))
    for record in dataset.take(1):
        example = tf.train.Example()
        try:
            example.ParseFromString(record.numpy())
        except Exception as err:  # noqa: BLE001 - protobuf's DecodeError
            raise ValueError(
                f"`train_file_pattern` must hold tf.train.Example records. Received: "
                f"{files[0]} record 0 is not one ({err})"
            ) from None
        feature = example.features.feature.get(DENSE)
        if feature is None:
            return 0
        return len(feature.float_list.value)
    return 0


@register(name="ctr")
class CtrModel(WidthSearchModel):
    """Every slot of the data's vocab.tsv, plus ``dense`` floats; see the module docstring.

    Args:
        params: :meth:`default_params` with overrides (``data_dir`` set).

    Example:
        >>> CtrModel.default_params()["data_dir"] is None
        True
    """

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        """:data:`nwsrec.search.model.TASK_DEFAULTS` for data nobody tuned them for.

        Length: up to ``epochs`` passes over the training records, stopped on the
        held-out AUC of one training record in ten (``holdout_every``), evaluated once
        per pass; the best pass's weights are restored. The search picks widths on the
        frontier (``--budget`` / ``--max-bytes`` pick another point of it). The
        optimizers and learning rates were chosen on held-out training records of
        MovieLens-100K and the synthetic task (never their test split;
        ``bench/ctr_tuning.py``): sparse Adagrad at 1.0 for the vectors and FTRL at 0.5
        for the biases. The loss is a batch mean, so a row's gradient is small and the
        accumulators' start (0.1) dominates Adagrad's step for many updates: at 0.1 /
        0.05 the synthetic task was still far from trained after 1500 steps.
        """
        return {
            **super().default_params(),
            **TASK_DEFAULTS,
            "data_dir": None,
            "batch_size": 256,
            "train_steps": 2000,
            "checkpoint_every_steps": 1000,
            "log_every_steps": 100,
            "dense_learning_rate": 0.002,
            "vec_optimizer": "adagrad",
            "vec_learning_rate": 1.0,
            "bias_optimizer": "ftrl",
            "bias_learning_rate": 0.5,
            "arch_learning_rate": 0.01,
            "dense_transform": "log1p",
        }

    @classmethod
    def resolve_params(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        """The data paths from ``data_dir`` (which must be set)."""
        if not params.get("data_dir") and not params.get("vocab_file_path"):
            raise FileNotFoundError(
                "`--data-dir` must name a directory of `nwsrec convert` output (vocab.tsv, "
                "train-*, test-*). Received: data_dir=None for model 'ctr'"
            )
        out = super().resolve_params(params)
        transform = out.get("dense_transform")
        if transform not in ("log1p", "none"):
            raise ValueError(
                f"`dense_transform` must be log1p or none. Received: dense_transform={transform!r}"
            )
        return out

    def __init__(self, params: Mapping[str, Any]) -> None:
        pattern = params.get("train_file_pattern")
        self._dense_width = dense_width(os.fspath(pattern)) if pattern else 0
        self._dense_transform = str(params.get("dense_transform") or "log1p")
        super().__init__(params)

    @property
    def dense_width(self) -> int:
        """How many ``dense`` floats each record has (0: none)."""
        return self._dense_width

    def feature_map(self) -> dict[str, Any]:
        """The slots and label, plus ``dense`` as ``FixedLenFeature([n], float32)``."""
        out = super().feature_map()
        if self._dense_width:
            out[DENSE] = tf.io.FixedLenFeature([self._dense_width], tf.float32)
        return out

    def dnn_inputs(self, x: tf.Tensor) -> tf.Tensor:
        """The embeddings, then the (squashed) dense floats."""
        if not self._dense_width:
            return x
        features = self.features
        if features is None:  # logits_fn runs inside a round, which sets the batch
            raise ValueError(
                "`dnn_inputs` must be called from `logits_fn`, inside a round. "
                "Received: features=None"
            )
        dense = tf.cast(features[DENSE], x.dtype)
        if self._dense_transform == "log1p":
            dense = tf.sign(dense) * tf.math.log1p(tf.abs(dense))
        return tf.concat([x, dense], axis=1)
