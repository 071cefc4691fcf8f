"""A trained model as a TensorFlow SavedModel in TF Serving's layout.

``export_saved_model(model_dir, out_dir)`` writes ``out_dir/<version>/`` (``saved_model.pb``
and ``variables/``), which ``tensorflow_model_server --model_base_path=out_dir`` serves:

- ``serving_default``: ``examples`` (string ``[B]``, serialized ``tf.train.Example`` as
  ``nwsrec convert`` writes them; ``label`` not needed) -> ``probabilities`` (float32
  ``[B]``, the click probabilities) and ``logits``.
- ``predict_raw``: one int64 ``[B, L]`` tensor ``slot_{s}_0`` per slot, each row the
  record's ids padded with ``-1`` (any negative value is padding), plus every other
  fixed-length feature of the model as a float/int tensor ``[B, ...]`` -> the same outputs.

An id outside a slot's table (``>= vocab size``; for ``serving_default`` also a negative
one) reads the table's last row, the out-of-vocabulary row of ``nwsrec convert``: never an
error at serving time. Only what the forward pass reads is saved: the tables at their
trained widths (a width-0 slot has none) and the dense weights, no optimizer state. The
SavedModel needs TensorFlow only, not nwsrec. ``assets.extra/nwsrec.json`` records the
model, step, slot widths and vocab sizes (TF Serving ignores ``assets.extra``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from typing import Any

import tensorflow as tf

from nwsrec.serving.model_dir import LoadedModel, load_model

__all__ = ["ExportResult", "export_saved_model", "directory_bytes"]

logger = logging.getLogger(__name__)

SERVING_SIGNATURE = "serving_default"
RAW_SIGNATURE = "predict_raw"


@dataclasses.dataclass
class ExportResult:
    """What :func:`export_saved_model` wrote.

    Attributes:
        path: the version directory (``out_dir/<version>``).
        version: the version number.
        bytes_on_disk: total size of the files under ``path``.
        signatures: the signature names.
        slot_dims: ``{slot_id: [dim of each table]}`` of the slots kept.
        num_variables: the variables saved.
        step: the global step of the weights.
    """

    path: str
    version: int
    bytes_on_disk: int
    signatures: list[str]
    slot_dims: dict[int, list[int]]
    num_variables: int
    step: int


def directory_bytes(path: str) -> int:
    """Total size in bytes of the files under ``path``."""
    total = 0
    for root, _, names in os.walk(path):
        for name in names:
            total += os.path.getsize(os.path.join(root, name))
    return total


def _next_version(out_dir: str) -> int:
    if not os.path.isdir(out_dir):
        return 1
    found = [int(n) for n in os.listdir(out_dir) if re.fullmatch(r"\d+", n)]
    return max(found, default=0) + 1


def _raw_specs(loaded: LoadedModel) -> dict[str, tf.TensorSpec] | None:
    specs: dict[str, tf.TensorSpec] = {}
    for name, spec in loaded.feature_map().items():
        if isinstance(spec, tf.io.VarLenFeature):
            if tf.as_dtype(spec.dtype) != tf.int64:
                return None
            specs[name] = tf.TensorSpec([None, None], tf.int64, name=name)
        elif isinstance(spec, tf.io.FixedLenFeature):
            shape = [None, *tf.TensorShape(spec.shape).as_list()]
            specs[name] = tf.TensorSpec(shape, tf.as_dtype(spec.dtype), name=name)
        else:
            return None
    return specs


def export_saved_model(
    model_dir: str | LoadedModel,
    out_dir: str,
    *,
    version: int | None = None,
    overwrite: bool = False,
) -> ExportResult:
    """Export the newest checkpoint of ``model_dir`` as ``out_dir/<version>/``.

    Args:
        model_dir: a run directory (or a model already loaded from one).
        out_dir: the model base path (TF Serving's ``--model_base_path``).
        version: the version directory; default one more than the largest there (1).
        overwrite: replace an existing ``out_dir/<version>``.

    Returns:
        An :class:`ExportResult`.

    Raises:
        FileExistsError: ``out_dir/<version>`` exists and ``overwrite`` is False.
        FileNotFoundError, ValueError: as :func:`nwsrec.serving.load_model`.
    """
    loaded = model_dir if isinstance(model_dir, LoadedModel) else load_model(model_dir)
    out_dir = os.fspath(out_dir)
    if version is None:
        version = _next_version(out_dir)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ValueError(f"`version` must be an integer >= 0. Received: version={version!r}")
    path = os.path.join(out_dir, str(version))
    if os.path.exists(path):
        if not overwrite:
            raise FileExistsError(
                f"`--out` must not hold version {version} already (pass --overwrite or "
                f"another --version). Received: {path!r} exists"
            )
        import shutil

        shutil.rmtree(path)

    spec = loaded.feature_map()
    model = loaded.model
    split = getattr(model, "split_tables_for_serving", None)
    if split is not None:
        split()  # one variable per table in the SavedModel, not the table groups

    def outputs(features: dict[str, Any]) -> dict[str, tf.Tensor]:
        logits, _ = model.forward(loaded.prepare(features), training=False)
        logits = tf.cast(tf.reshape(logits, [-1]), tf.float32)
        return {"probabilities": tf.sigmoid(logits), "logits": logits}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(examples: tf.Tensor) -> dict[str, tf.Tensor]:
        return outputs(tf.io.parse_example(examples, spec))

    signatures = {SERVING_SIGNATURE: serve_examples.get_concrete_function()}
    raw_specs = _raw_specs(loaded)
    if raw_specs is not None:
        names = list(raw_specs)

        @tf.function(input_signature=[raw_specs[n] for n in names])
        def serve_raw(*tensors: tf.Tensor) -> dict[str, tf.Tensor]:
            features = {}
            for name, tensor in zip(names, tensors, strict=True):
                if isinstance(spec[name], tf.io.VarLenFeature):
                    where = tf.where(tensor >= 0)  # -1 (any negative) is padding
                    features[name] = tf.SparseTensor(
                        where, tf.gather_nd(tensor, where), tf.shape(tensor, out_type=tf.int64)
                    )
                else:
                    features[name] = tensor
            return outputs(features)

        signatures[RAW_SIGNATURE] = serve_raw.get_concrete_function()
    else:
        logger.warning("no %s signature: a feature is not int64 / fixed-length", RAW_SIGNATURE)

    variables: dict[int, tf.Variable] = {}
    for concrete in signatures.values():
        for variable in concrete.variables:
            variables.setdefault(id(variable), variable)
    root = tf.Module(name="nwsrec_serving")
    root.saved_variables = list(variables.values())
    root.serve_examples = serve_examples
    if raw_specs is not None:
        root.serve_raw = signatures[RAW_SIGNATURE]
    tf.saved_model.save(root, path, signatures=signatures)

    slot_dims = {int(s): [int(d) for d in dims] for s, dims in model.env.slot_to_dims.items()}
    info = {
        "model_name": loaded.params.get("model_name"),
        "step": loaded.step,
        "signatures": sorted(signatures),
        "slot_dims": {str(s): d for s, d in slot_dims.items()},
        "vocab_sizes": {str(s): n for s, n in loaded.slot_vocab_sizes.items()},
        "oov": "an id outside [0, vocab size) reads the slot's last row",
    }
    extra = os.path.join(path, "assets.extra")
    os.makedirs(extra, exist_ok=True)
    with open(os.path.join(extra, "nwsrec.json"), "w", encoding="utf-8") as handle:
        json.dump(info, handle, indent=2, sort_keys=True)
    result = ExportResult(
        path=path,
        version=version,
        bytes_on_disk=directory_bytes(path),
        signatures=sorted(signatures),
        slot_dims=slot_dims,
        num_variables=len(variables),
        step=loaded.step,
    )
    logger.info("exported %s (%d bytes)", path, result.bytes_on_disk)
    return result
