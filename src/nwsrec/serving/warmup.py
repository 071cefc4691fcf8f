"""TF Serving's warm-up file: requests run when a model version loads, before it serves.

TensorFlow Serving reads ``<version>/assets.extra/tf_serving_warmup_requests`` when it
loads a SavedModel version (SavedModel warm-up): a TFRecord file whose records are
serialized ``tensorflow.serving.PredictionLog`` protos, each of which it runs once
before the version takes traffic. The first real request then finds the functions
instantiated and their kernels ready, instead of paying that (~0.5 s) itself.

The records hold ``PredictionLog.predict_log.request`` (a ``PredictRequest``: the model
spec with the signature name, and one ``TensorProto`` per input). They are written with
TensorFlow's own ``TensorProto`` and the protobuf wire format of TF Serving's
``prediction_log.proto`` / ``predict.proto`` / ``model.proto`` (field numbers below),
so exporting needs neither ``tensorflow-serving-api`` nor a server;
:func:`read_warmup_requests` reads them back and :func:`replay_warmup_requests` runs
them against a loaded SavedModel, as the server does.

Wire layout (field numbers of TF Serving 2.x)::

    PredictionLog   predict_log = 6    (PredictLog)
    PredictLog      request = 1        (PredictRequest)
    PredictRequest  model_spec = 1     (ModelSpec)
                    inputs = 2         (map<string, tensorflow.TensorProto>: key 1, value 2)
    ModelSpec       name = 1, signature_name = 3

Example:
    >>> import numpy as np, tempfile
    >>> path = tempfile.mkdtemp()
    >>> written = write_warmup_requests(
    ...     path, [WarmupRequest("serving_default", {"examples": np.array([b"x"])})], "m")
    >>> [r.signature_name for r in read_warmup_requests(written)]
    ['serving_default']
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2

__all__ = [
    "WARMUP_FILE",
    "WarmupRequest",
    "encode_prediction_log",
    "decode_prediction_log",
    "read_warmup_requests",
    "replay_warmup_requests",
    "write_warmup_requests",
]

logger = logging.getLogger(__name__)

WARMUP_FILE = "tf_serving_warmup_requests"
"""The file name TF Serving looks for under ``<version>/assets.extra/``."""

_PREDICTION_LOG_PREDICT_LOG = 6
_PREDICT_LOG_REQUEST = 1
_REQUEST_MODEL_SPEC = 1
_REQUEST_INPUTS = 2
_MAP_KEY, _MAP_VALUE = 1, 2
_SPEC_NAME, _SPEC_SIGNATURE = 1, 3
_LENGTH_DELIMITED = 2


@dataclasses.dataclass
class WarmupRequest:
    """One warm-up request: a signature and its inputs.

    Attributes:
        signature_name: the SavedModel signature to run (``serving_default``).
        inputs: ``{input name: array}`` (numpy arrays or tensors).
        model_name: the model name of the request's ``ModelSpec`` (when read back).
    """

    signature_name: str
    inputs: Mapping[str, Any]
    model_name: str = ""


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (a string, bytes or an embedded message)."""
    return _varint(number << 3 | _LENGTH_DELIMITED) + _varint(len(payload)) + payload


def encode_prediction_log(request: WarmupRequest, model_name: str) -> bytes:
    """A serialized ``tensorflow.serving.PredictionLog`` holding ``request``."""
    spec = _field(_SPEC_NAME, model_name.encode()) + _field(
        _SPEC_SIGNATURE, request.signature_name.encode()
    )
    body = _field(_REQUEST_MODEL_SPEC, spec)
    for name in sorted(request.inputs):
        tensor = tf.make_tensor_proto(np.asarray(request.inputs[name]))
        entry = _field(_MAP_KEY, name.encode()) + _field(_MAP_VALUE, tensor.SerializeToString())
        body += _field(_REQUEST_INPUTS, entry)
    return _field(_PREDICTION_LOG_PREDICT_LOG, _field(_PREDICT_LOG_REQUEST, body))


def write_warmup_requests(
    version_dir: str, requests: Sequence[WarmupRequest], model_name: str
) -> str:
    """Write ``version_dir/assets.extra/tf_serving_warmup_requests``; returns its path.

    Args:
        version_dir: the SavedModel version directory.
        requests: the requests, in the order the server runs them.
        model_name: the name in each request's ``ModelSpec`` (the server's model name).
    """
    extra = os.path.join(version_dir, "assets.extra")
    os.makedirs(extra, exist_ok=True)
    path = os.path.join(extra, WARMUP_FILE)
    with tf.io.TFRecordWriter(path) as writer:
        for request in requests:
            writer.write(encode_prediction_log(request, model_name))
    return path


def _fields(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(field number, payload) of the length-delimited fields of a message."""
    at = 0
    while at < len(data):
        key, at = _read_varint(data, at)
        if key & 7 != _LENGTH_DELIMITED:
            raise ValueError(
                f"`record` must hold only length-delimited fields of a PredictionLog. "
                f"Received: wire type {key & 7} for field {key >> 3}"
            )
        size, at = _read_varint(data, at)
        yield key >> 3, data[at : at + size]
        at += size


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def decode_prediction_log(record: bytes) -> WarmupRequest:
    """The request of one serialized ``PredictionLog`` with a ``predict_log``.

    Raises:
        ValueError: a record without ``predict_log.request``.
    """
    logs = [p for n, p in _fields(record) if n == _PREDICTION_LOG_PREDICT_LOG]
    requests = [p for log in logs for n, p in _fields(log) if n == _PREDICT_LOG_REQUEST]
    if not requests:
        raise ValueError(
            "`record` must be a PredictionLog with predict_log.request. Received: "
            f"fields {sorted(n for n, _ in _fields(record))}"
        )
    signature, model, inputs = "", "", {}
    for number, payload in _fields(requests[0]):
        if number == _REQUEST_MODEL_SPEC:
            for key, value in _fields(payload):
                if key == _SPEC_NAME:
                    model = value.decode()
                elif key == _SPEC_SIGNATURE:
                    signature = value.decode()
        elif number == _REQUEST_INPUTS:
            entry = dict(_fields(payload))
            proto = tensor_pb2.TensorProto.FromString(entry.get(_MAP_VALUE, b""))
            inputs[entry.get(_MAP_KEY, b"").decode()] = tf.make_ndarray(proto)
    return WarmupRequest(signature or "serving_default", inputs, model)


def read_warmup_requests(path: str) -> list[WarmupRequest]:
    """The requests of a warm-up file (or of ``<version>/assets.extra/`` given a
    version directory), in file order."""
    if os.path.isdir(path):
        path = os.path.join(path, "assets.extra", WARMUP_FILE)
    return [decode_prediction_log(r.numpy()) for r in tf.data.TFRecordDataset(path)]


def replay_warmup_requests(saved_model: Any, version_dir: str) -> float:
    """Run the warm-up requests of ``version_dir`` on a loaded SavedModel, as TF Serving
    does on load; returns the seconds spent (0 without a warm-up file)."""
    path = os.path.join(version_dir, "assets.extra", WARMUP_FILE)
    if not os.path.exists(path):
        return 0.0
    start = time.perf_counter()
    for request in read_warmup_requests(path):
        function = saved_model.signatures[request.signature_name]
        outputs = function(**{k: tf.constant(v) for k, v in request.inputs.items()})
        for value in outputs.values():
            value.numpy()
    seconds = time.perf_counter() - start
    logger.info("ran the warm-up requests of %s in %.3f s", version_dir, seconds)
    return seconds
