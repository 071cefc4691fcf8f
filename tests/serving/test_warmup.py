"""TF Serving's warm-up file (``nwsrec.serving.warmup``): the PredictionLog records."""

import numpy as np
import pytest
import tensorflow as tf

from nwsrec.serving.warmup import (
    WARMUP_FILE,
    WarmupRequest,
    decode_prediction_log,
    encode_prediction_log,
    read_warmup_requests,
    write_warmup_requests,
)

INPUTS = {
    "slot_1_0": np.array([[1, -1], [2, 3]], np.int64),
    # Serialized records can end in a zero byte (object arrays keep it); a length over
    # 127 is a 2-byte varint.
    "examples": np.array([b"ab\x00", b"c" * 300], dtype=object),
    "dense": np.zeros([2, 3], np.float32),
}


def test_requests_read_back_in_order_with_their_tensors(tmp_path):
    requests = [WarmupRequest("predict_raw", INPUTS), WarmupRequest("serving_default", {})]
    path = write_warmup_requests(str(tmp_path), requests, "ctr")
    assert path == str(tmp_path / "assets.extra" / WARMUP_FILE)
    got = read_warmup_requests(str(tmp_path))  # the version directory
    assert [r.signature_name for r in got] == ["predict_raw", "serving_default"]
    assert {r.model_name for r in got} == {"ctr"}
    assert sorted(got[0].inputs) == sorted(INPUTS)
    for name, value in INPUTS.items():
        assert got[0].inputs[name].dtype == value.dtype
        assert got[0].inputs[name].tolist() == value.tolist()
    records = list(tf.data.TFRecordDataset(path))  # a plain TFRecord file
    assert len(records) == 2


def test_a_record_that_is_not_a_predict_log_is_refused():
    with pytest.raises(ValueError, match="must be a PredictionLog with predict_log.request"):
        decode_prediction_log(b"\x12\x00")  # classify_log (field 2), empty


def test_the_encoding_is_tf_servings_prediction_log():
    apis = pytest.importorskip("tensorflow_serving.apis.prediction_log_pb2")
    from tensorflow_serving.apis import model_pb2, predict_pb2

    data = encode_prediction_log(WarmupRequest("serving_default", INPUTS), "ctr")
    log = apis.PredictionLog.FromString(data)
    assert log.WhichOneof("log_type") == "predict_log"
    request = log.predict_log.request
    assert request.model_spec.name == "ctr"
    assert request.model_spec.signature_name == "serving_default"
    for name, value in INPUTS.items():
        assert tf.make_ndarray(request.inputs[name]).tolist() == value.tolist()
    official = apis.PredictionLog(
        predict_log=apis.PredictLog(
            request=predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name="m", signature_name="s"),
                inputs={"examples": tf.make_tensor_proto([b"q"])},
            )
        )
    )
    ours = encode_prediction_log(WarmupRequest("s", {"examples": np.array([b"q"])}), "m")
    assert ours == official.SerializeToString()
