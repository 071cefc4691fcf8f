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
model, step, slot widths and vocab sizes. ``assets.extra/tf_serving_warmup_requests``
(:mod:`nwsrec.serving.warmup`) holds warm-up requests that TF Serving runs when it loads
the version: each signature at batches of 1 and 64 (made-up records: id ``k`` modulo the
slot's vocab, zeros elsewhere), so the first real request is not the one that pays for
instantiating the functions.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from typing import Any

import numpy as np
import tensorflow as tf

from nwsrec.serving.model_dir import LoadedModel, load_model
from nwsrec.serving.warmup import WarmupRequest, write_warmup_requests

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
        warmup_requests: the requests of ``assets.extra/tf_serving_warmup_requests``.
    """

    path: str
    version: int
    bytes_on_disk: int
    signatures: list[str]
    slot_dims: dict[int, list[int]]
    num_variables: int
    step: int
    warmup_requests: int = 0


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


WARMUP_BATCHES = (1, 64)
"""Batch sizes of the warm-up requests written for each signature."""


def _warmup_value(spec: Any, slot_rows: int | None, k: int) -> list[Any]:
    dtype = tf.as_dtype(spec.dtype)
    size = 1
    if isinstance(spec, tf.io.FixedLenFeature):
        size = int(np.prod(tf.TensorShape(spec.shape).as_list(), dtype=np.int64))
    if slot_rows is not None:
        return [k % slot_rows]
    if dtype == tf.string:
        return [b""] * size
    return [0] * size


def _warmup_requests(loaded: LoadedModel, raw_names: list[str] | None) -> list[WarmupRequest]:
    """Requests for each signature at each of ``WARMUP_BATCHES``: record ``k`` has id
    ``k`` modulo the slot's rows in every slot and zeros in every other feature."""
    spec = loaded.feature_map()
    rows = {f"slot_{s}_0": n for s, n in loaded.slot_vocab_sizes.items()}
    requests = []
    for batch in WARMUP_BATCHES:
        records = []
        for k in range(batch):
            example = tf.train.Example()
            for name, feature in spec.items():
                values = _warmup_value(feature, rows.get(name), k)
                entry = example.features.feature[name]
                dtype = tf.as_dtype(feature.dtype)
                if dtype == tf.string:
                    entry.bytes_list.value.extend(values)
                elif dtype.is_integer:
                    entry.int64_list.value.extend(values)
                else:
                    entry.float_list.value.extend(values)
            records.append(example.SerializeToString())
        requests.append(
            WarmupRequest(SERVING_SIGNATURE, {"examples": np.array(records, dtype=object)})
        )
        if raw_names is not None:
            inputs = {}
            for name in raw_names:
                feature = spec[name]
                values = [_warmup_value(feature, rows.get(name), k) for k in range(batch)]
                array = np.array(values, dtype=tf.as_dtype(feature.dtype).as_numpy_dtype)
                if isinstance(feature, tf.io.FixedLenFeature):
                    array = array.reshape([batch, *tf.TensorShape(feature.shape).as_list()])
                inputs[name] = array
            requests.append(WarmupRequest(RAW_SIGNATURE, inputs))
    return requests


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

    # autograph=False: the forward pass is plain Python over tensors (AutoGraph's source
    # conversion was ~3/4 of the trace).
    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string, name="examples")], autograph=False
    )
    def serve_examples(examples: tf.Tensor) -> dict[str, tf.Tensor]:
        return outputs(tf.io.parse_example(examples, spec))

    signatures = {SERVING_SIGNATURE: serve_examples.get_concrete_function()}
    raw_specs = _raw_specs(loaded)
    if raw_specs is not None:
        names = list(raw_specs)

        @tf.function(input_signature=[raw_specs[n] for n in names], autograph=False)
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
    warmup = _warmup_requests(loaded, list(raw_specs) if raw_specs is not None else None)
    write_warmup_requests(path, warmup, os.path.basename(os.path.normpath(out_dir)))
    extra = os.path.join(path, "assets.extra")
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
        warmup_requests=len(warmup),
    )
    logger.info("exported %s (%d bytes)", path, result.bytes_on_disk)
    return result
