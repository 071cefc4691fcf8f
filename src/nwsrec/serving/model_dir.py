"""Rebuild a trained model from its run directory (``params.json`` + checkpoints).

A run directory of ``nwsrec train`` / ``nwsrec search`` holds ``params.json`` (the
resolved params, with ``model_name``) and ``tf.train.Checkpoint`` files. The model is
rebuilt from the registry with those params, its variables are created by one pass over
a dummy batch (no data file is read), and the newest checkpoint's weights are restored
(the optimizer state in the checkpoint is not read).

:meth:`LoadedModel.score_function` is the one scoring ``tf.function`` of a loaded model:
traced once, for every batch size (its input signature leaves the batch dimension
open), without AutoGraph (the forward pass is plain Python over tensors; AutoGraph's
source conversion was ~3/4 of the trace). ``predict_files`` and ``evaluate_files`` use
it, so scoring a model again never traces again.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from nwsrec import registry
from nwsrec.data.pipeline import post_process_example
from nwsrec.files import read_json_object
from nwsrec.training.checkpoints import restore_in_parts, trackable_tables
from nwsrec.training.summaries import PARAMS_FILE

__all__ = ["LoadedModel", "ScoreFunction", "load_model"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class LoadedModel:
    """A model restored from a run directory.

    Attributes:
        model: the ``nwsrec.model.Model`` with the checkpoint's weights.
        params: the run's params (``params.json``).
        model_dir: the run directory.
        checkpoint: the checkpoint path prefix restored.
        step: the global step of the restored weights.
    """

    model: Any
    params: dict[str, Any]
    model_dir: str
    checkpoint: str
    step: int
    _score: ScoreFunction | None = dataclasses.field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def slot_vocab_sizes(self) -> dict[int, int]:
        """``{slot_id: rows of its tables}`` for every slot the model declares."""
        env = self.model.env
        return {int(s): int(env.vocab_size_dict[s]) for s in sorted(env.slot_to_config)}

    def feature_map(self, with_label: bool = False) -> dict[str, Any]:
        """What to parse from each ``tf.train.Example`` (``label`` only when asked)."""
        spec = dict(self.model.feature_map())
        if not with_label:
            spec.pop("label", None)
        return spec

    def feature_specs(self) -> dict[str, Any]:
        """The ``tf.TypeSpec`` of each parsed feature of a batch (batch dimension open):
        ``tf.SparseTensorSpec([None, None])`` for a ``VarLenFeature``, ``tf.TensorSpec([None,
        *shape])`` for a ``FixedLenFeature``."""
        specs: dict[str, Any] = {}
        for name, spec in self.feature_map().items():
            dtype = tf.as_dtype(spec.dtype)
            if isinstance(spec, tf.io.VarLenFeature):
                specs[name] = tf.SparseTensorSpec([None, None], dtype)
            elif isinstance(spec, tf.io.FixedLenFeature):
                specs[name] = tf.TensorSpec([None, *tf.TensorShape(spec.shape).as_list()], dtype)
            else:
                raise ValueError(
                    f"`feature_map()[{name!r}]` must be a tf.io.VarLenFeature or "
                    f"FixedLenFeature to be scored. Received: {type(spec).__name__}"
                )
        return specs

    def score_function(self) -> ScoreFunction:
        """The model's scoring function (one per loaded model; see :class:`ScoreFunction`)."""
        if self._score is None:
            self._score = ScoreFunction(self)
        return self._score

    def prepare(self, features: Mapping[str, Any], oov: bool = True) -> dict[str, Any]:
        """A parsed batch as the model reads it: slices copied, ids modulo
        ``vocab_size_per_slot`` (as in training) and, with ``oov``, every id outside
        ``[0, vocab size)`` mapped to the slot's last row (the out-of-vocabulary row of
        ``nwsrec convert``): never an out-of-range lookup."""
        out = post_process_example(
            features, self.model.env.slot_to_dims, self.params.get("vocab_size_per_slot")
        )
        if oov:
            for slot_id, dims in self.model.env.slot_to_dims.items():
                size = int(self.model.env.vocab_size_dict[slot_id])
                ids = out[f"slot_{slot_id}_0"]
                values = tf.cast(ids.values, tf.int64)
                inside = tf.logical_and(values >= 0, values < size)
                values = tf.where(inside, values, tf.constant(size - 1, tf.int64))
                ids = tf.SparseTensor(ids.indices, values, ids.dense_shape)
                for i in range(len(dims)):
                    out[f"slot_{slot_id}_{i}"] = ids
        return out


class ScoreFunction:
    """A parsed batch -> click probabilities float32 ``[B]``, for one loaded model.

    One ``tf.function`` whose input signature is the model's features with the batch
    dimension open (:meth:`LoadedModel.feature_specs`): traced on the first call, for
    every batch size. Keys of the batch that are not features (``label``, an id) are
    ignored. Built by :meth:`LoadedModel.score_function`.

    Args:
        loaded: the model to score.
    """

    def __init__(self, loaded: LoadedModel) -> None:
        specs = loaded.feature_specs()
        self.names = sorted(specs)

        def score(features: dict[str, Any]) -> tf.Tensor:
            logits, _ = loaded.model.forward(loaded.prepare(features), training=False)
            return tf.sigmoid(tf.cast(tf.reshape(logits, [-1]), tf.float32))

        self.function = tf.function(
            score, input_signature=[{n: specs[n] for n in self.names}], autograph=False
        )

    def __call__(self, batch: Mapping[str, Any]) -> tf.Tensor:
        """The probabilities of one parsed batch."""
        return self.function({n: batch[n] for n in self.names})

    @property
    def tracing_count(self) -> int:
        """How many times the function was traced (1 after any number of calls)."""
        return int(self.function.experimental_get_tracing_count())


def read_params(model_dir: str) -> dict[str, Any]:
    """The ``params.json`` of a run directory.

    Raises:
        FileNotFoundError: naming the directory, when it has no ``params.json``.
        ValueError: naming the file, when it is not a JSON object with ``model_name``.
    """
    path = os.path.join(model_dir, PARAMS_FILE)
    params = read_json_object(
        path,
        f"`--model-dir` must be the directory of a `nwsrec train` or `nwsrec search` "
        f"run (with {PARAMS_FILE}), model_dir={model_dir!r}",
    )
    if not params.get("model_name"):
        raise ValueError(
            f"{path}: must be a JSON object naming `model_name`. Received: an object "
            "without model_name"
        )
    return params


def _dummy_batch(feature_map: Mapping[str, Any]) -> dict[str, Any]:
    """One example: id 0 in every slot, zeros in every fixed-length feature."""
    example = tf.train.Example()
    for name, spec in feature_map.items():
        feature = example.features.feature[name]
        dtype = tf.as_dtype(spec.dtype)
        size = 1
        if isinstance(spec, tf.io.FixedLenFeature):
            for d in tf.TensorShape(spec.shape).as_list():
                size *= int(d)
        if dtype == tf.string:
            feature.bytes_list.value.extend([b""] * size)
        elif dtype.is_integer:
            feature.int64_list.value.extend([0] * size)
        else:
            feature.float_list.value.extend([0.0] * size)
    return tf.io.parse_example(tf.constant([example.SerializeToString()]), dict(feature_map))


def load_model(model_dir: str) -> LoadedModel:
    """Rebuild the model of ``model_dir`` and restore its newest checkpoint.

    Args:
        model_dir: a run directory of ``nwsrec train`` or ``nwsrec search``.

    Returns:
        A :class:`LoadedModel`.

    Raises:
        FileNotFoundError: no ``params.json`` or no checkpoint in ``model_dir``.
        ValueError: a checkpoint that does not match the model the params build.
        LookupError: the params name a model that is not registered.
    """
    model_dir = os.fspath(model_dir)
    params = read_params(model_dir)
    path = tf.train.latest_checkpoint(model_dir)
    if path is None:
        raise FileNotFoundError(
            f"`--model-dir` must hold a checkpoint (train first). Received: "
            f"model_dir={model_dir!r} without one"
        )
    cls = registry.get_class(params["model_name"])
    model = cls(params)
    loaded = LoadedModel(model, params, model_dir, path, 0)
    model.forward(loaded.prepare(_dummy_batch(loaded.feature_map(with_label=True))))
    global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
    objects = {
        "global_step": global_step,
        "dense": list(model.dense_variables()),
        "nws": [list(layer.variables) for layer in model.nws_layers()],
        "tables": trackable_tables(model.tables),
    }
    try:
        restore_in_parts(objects, path)
    except (AssertionError, ValueError) as err:
        raise ValueError(
            f"`--model-dir` must hold checkpoints of the model its {PARAMS_FILE} builds. "
            f"Received: {path!r} that does not match it ({err})"
        ) from None
    loaded.step = int(global_step.numpy())
    logger.info("restored %s at step %d", path, loaded.step)
    return loaded
