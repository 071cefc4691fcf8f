"""Scores and metrics of a restored model on TFRecord files: every example, in file order.

Unlike the training pipeline (which drops the last partial batch and may shuffle), the
files matching the pattern are read in sorted order, each record once, the last batch
kept whatever its size: ``scores[k]`` is the click probability of the ``k``-th record.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import tensorflow as tf

from nwsrec.data.files import detect_all, list_files
from nwsrec.files import write_text_atomic
from nwsrec.metrics import exact_auc, log_loss
from nwsrec.serving.model_dir import LoadedModel, ScoreFunction

__all__ = [
    "EvaluateResult",
    "Predictions",
    "graph_rewrites_off",
    "evaluate_files",
    "predict_files",
    "write_predictions",
]

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Predictions:
    """One score per record of ``files``, in file order.

    Attributes:
        scores: click probabilities, float32 ``[N]``.
        labels: the records' labels (float64 ``[N]``), NaN where a record has none.
        ids: the ``id_feature`` of every record (``None`` when not asked).
        files: the files read, in order.
        seconds: time spent reading and scoring.
    """

    scores: np.ndarray
    labels: np.ndarray
    ids: list[Any] | None
    files: list[str]
    seconds: float

    @property
    def examples_per_sec(self) -> float:
        """Records scored per second."""
        return self.scores.size / self.seconds if self.seconds > 0 else float("nan")


@dataclasses.dataclass
class EvaluateResult:
    """Metrics on every record of the files.

    Attributes:
        auc: exact AUC.
        log_loss: mean log loss.
        mean_prediction: mean click probability.
        observed_rate: mean label.
        num_examples: records evaluated (all of them).
        step: global step of the evaluated weights.
    """

    auc: float
    log_loss: float
    mean_prediction: float
    observed_rate: float
    num_examples: int
    step: int

    @property
    def calibration(self) -> float:
        """``mean_prediction / observed_rate`` (1.0 is calibrated; NaN without clicks)."""
        return self.mean_prediction / self.observed_rate if self.observed_rate else math.nan

    def as_dict(self) -> dict[str, float]:
        """Every metric, calibration included."""
        return {**dataclasses.asdict(self), "calibration": self.calibration}


def _id_spec(path: str, compression: str, name: str) -> tf.io.VarLenFeature:
    """The type of feature ``name``, read from the first record of ``path``."""
    for record in tf.data.TFRecordDataset(path, compression_type=compression).take(1):
        example = tf.train.Example.FromString(record.numpy())
        if name not in example.features.feature:
            raise LookupError(
                f"{path}: record 0 must hold the id feature {name!r}. Received: features "
                f"{sorted(example.features.feature)[:20]}"
            )
        kind = example.features.feature[name].WhichOneof("kind")
        dtype = {"int64_list": tf.int64, "float_list": tf.float32}.get(kind, tf.string)
        return tf.io.VarLenFeature(dtype)
    return tf.io.VarLenFeature(tf.int64)


def predict_files(
    loaded: LoadedModel,
    file_pattern: str,
    *,
    batch_size: int = 1024,
    id_feature: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Predictions:
    """Score every record of the files matching ``file_pattern``, in sorted file order.

    Args:
        loaded: a model from :func:`nwsrec.serving.load_model`.
        file_pattern: a glob of TFRecord files (gzip is detected).
        batch_size: records per scoring batch (the last one may be smaller).
        id_feature: a feature to carry through (one value per record; its first value).
        progress: called with the number of records scored after each batch.

    Returns:
        :class:`Predictions`.

    Raises:
        ValueError: a pattern matching no file, or a bad ``batch_size``.
        LookupError: ``id_feature`` missing from the first record.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be an integer >= 1. Received: {batch_size!r}")
    files = list_files(file_pattern)
    compressions = detect_all(files)
    spec = loaded.feature_map()
    spec["label"] = tf.io.FixedLenFeature([], tf.float32, default_value=math.nan)
    if id_feature is not None:
        spec[id_feature] = _id_spec(files[0], compressions[0], id_feature)
    datasets = [
        tf.data.TFRecordDataset(path, compression_type=c)
        for path, c in zip(files, compressions, strict=True)
    ]
    dataset = datasets[0]
    for more in datasets[1:]:
        dataset = dataset.concatenate(more)
    dataset = (
        dataset.batch(batch_size)
        .map(lambda s: tf.io.parse_example(s, spec), num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
    score = score_function(loaded)
    scores: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    ids: list[Any] = []
    start = time.perf_counter()
    done = 0
    for batch in dataset:
        scores.append(score(batch).numpy())
        labels.append(batch["label"].numpy())
        if id_feature is not None:
            dense = tf.sparse.to_dense(batch[id_feature]).numpy()
            column = dense[:, 0] if dense.shape[1] else np.zeros(len(dense), dense.dtype)
            ids.extend(v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in column)
        done += scores[-1].size
        if progress is not None:
            progress(done)
    seconds = time.perf_counter() - start
    return Predictions(
        scores=np.concatenate(scores) if scores else np.zeros(0, np.float32),
        labels=np.concatenate(labels).astype(np.float64) if labels else np.zeros(0),
        ids=ids if id_feature is not None else None,
        files=files,
        seconds=seconds,
    )


@contextlib.contextmanager
def graph_rewrites_off() -> Iterator[None]:
    """TensorFlow's graph rewrites (Grappler) off inside the block, restored after it.

    For a command that scores once (``nwsrec predict``, ``nwsrec evaluate``): Grappler's
    rewrite of the scoring graph (~1,300 ops for the 32-slot synthetic model) made its
    first call ~1 s slower and steady scoring no faster (bench/serving.py's "whole
    command" row). The setting is process-wide while the block runs; a function first
    called inside the block is instantiated without the rewrites (call it there only).
    """
    before = tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False)
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": before})


def score_function(loaded: LoadedModel) -> ScoreFunction:
    """The model's one scoring function (:meth:`LoadedModel.score_function`): a parsed
    batch -> click probabilities float32 ``[B]``, traced once per loaded model."""
    return loaded.score_function()


def evaluate_files(
    loaded: LoadedModel, file_pattern: str, *, batch_size: int = 1024
) -> EvaluateResult:
    """AUC, log loss and calibration on every record of the files.

    Raises:
        ValueError: a record without label, or a pattern matching no file / no record.
    """
    predictions = predict_files(loaded, file_pattern, batch_size=batch_size)
    labels = predictions.labels
    if labels.size == 0:
        raise ValueError(f"`--files` must hold at least one record. Received: {file_pattern!r}")
    missing = np.flatnonzero(np.isnan(labels))
    if missing.size:
        raise ValueError(
            f"every record must have a `label` to evaluate; record {int(missing[0])} of "
            f"{file_pattern!r} (in file order) has none. Received: {missing.size} unlabeled"
        )
    p = predictions.scores.astype(np.float64)
    return EvaluateResult(
        auc=exact_auc(labels, p),
        log_loss=log_loss(labels, p),
        mean_prediction=float(p.mean()),
        observed_rate=float(labels.mean()),
        num_examples=int(labels.size),
        step=loaded.step,
    )


def write_predictions(predictions: Predictions, path: str, id_name: str | None = None) -> str:
    """Write the scores as TSV: a header, then one line per record in file order.

    Columns: ``id_name`` (when the predictions carry ids), ``score`` (``%.9g``), and
    ``label`` when every record has one. Written atomically.
    """
    with_label = predictions.labels.size > 0 and not np.isnan(predictions.labels).any()
    header = ([id_name or "id"] if predictions.ids is not None else []) + ["score"]
    header += ["label"] if with_label else []
    lines = ["\t".join(header)]
    for k, score in enumerate(predictions.scores.tolist()):
        row = [] if predictions.ids is None else [str(predictions.ids[k])]
        row.append(f"{score:.9g}")
        if with_label:
            row.append(f"{predictions.labels[k]:g}")
        lines.append("\t".join(row))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path
