"""Serving: a trained model directory -> scores, metrics and a TensorFlow SavedModel.

- :func:`load_model` (``model_dir``): rebuild a run's model from its ``params.json``
  and the registry, and restore its newest checkpoint (weights only);
  :class:`ScoreFunction`, its one scoring function (traced once, any batch size).
- :func:`predict_files` / :func:`evaluate_files` (``predict``): one score per example
  of the files, in file order, every example (no dropped last batch); AUC, log loss and
  calibration (``nwsrec predict``, ``nwsrec evaluate``).
- :func:`export_saved_model` (``export``): a SavedModel in TF Serving's layout
  (``DIR/<version>/``) with ``serving_default`` on serialized ``tf.Example`` strings and
  ``predict_raw`` on raw feature tensors (``nwsrec export``).

This part sits above ``training`` and ``search`` (it restores their checkpoints) and
below ``cli``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nwsrec.serving.export import ExportResult, export_saved_model
    from nwsrec.serving.model_dir import LoadedModel, ScoreFunction, load_model
    from nwsrec.serving.predict import (
        EvaluateResult,
        Predictions,
        evaluate_files,
        predict_files,
        write_predictions,
    )

_EXPORTS = {
    "ExportResult": "nwsrec.serving.export",
    "export_saved_model": "nwsrec.serving.export",
    "LoadedModel": "nwsrec.serving.model_dir",
    "load_model": "nwsrec.serving.model_dir",
    "ScoreFunction": "nwsrec.serving.model_dir",
    "EvaluateResult": "nwsrec.serving.predict",
    "Predictions": "nwsrec.serving.predict",
    "evaluate_files": "nwsrec.serving.predict",
    "predict_files": "nwsrec.serving.predict",
    "write_predictions": "nwsrec.serving.predict",
}

__all__ = [
    "EvaluateResult",
    "ExportResult",
    "LoadedModel",
    "Predictions",
    "ScoreFunction",
    "evaluate_files",
    "export_saved_model",
    "load_model",
    "predict_files",
    "write_predictions",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nwsrec.serving' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
