"""The seed's ``sum_pooling`` helper (``nwsrec.features.pooling``)."""

import numpy as np
import pytest
import tensorflow as tf

from nwsrec.features import Env, FeatureColumnV1, FeatureSlot
from nwsrec.features.pooling import sum_pooling


def _pool(env):
    """Pools slots 1 and 11 several times; returns what it produced."""
    fc = {s: FeatureColumnV1(FeatureSlot(env, s), f"slot_{s}_0") for s in (1, 11)}
    input_map, total = {}, []
    out = [
        sum_pooling(fc, input_map, [11, 1], 4, total),
        sum_pooling(fc, input_map, [11], 4, total),
        sum_pooling(fc, input_map, [1], 2, total, add_into_embeddings=False),
        sum_pooling(fc, input_map, [1], 2, total),
    ]
    return {"input_map": input_map, "total": total, "out": out}


def test_sum_pooling_names_repeated_slots_exactly_and_collects_embeddings():
    env = Env({1: 10, 11: 10})
    record = _pool(env)
    env.finalize()
    assert env.slot_to_dims == {1: [4, 2, 2], 11: [4, 4]}
    # The seed counted keys by substring, so "11_1" also counted for slot 1.
    assert list(record["input_map"]) == [11, 1, "11_1", "1_1", "1_2"]
    assert [dim for _, dim in record["total"]] == [4, 4, 4, 2]  # third call not added
    assert record["input_map"]["1_1"] is record["out"][2]


def test_sum_pooling_returns_the_sum_or_the_single_embedding():
    env = Env({1: 10, 11: 10})
    _pool(env)
    env.finalize()
    values = {"slot_1_0": 1.0, "slot_1_1": 2.0, "slot_1_2": 3.0, "slot_11_0": 10.0}
    values["slot_11_1"] = 20.0
    dims = {"slot_1_0": 4, "slot_1_1": 2, "slot_1_2": 2, "slot_11_0": 4, "slot_11_1": 4}
    env.begin_round({k: tf.fill([2, dims[k]], v) for k, v in values.items()})
    record = _pool(env)
    env.end_round()
    first, second, third, fourth = (t.numpy() for t in record["out"])
    assert np.all(first == 11.0) and first.shape == (2, 4)  # slot 11 + slot 1
    assert np.all(second == 20.0) and np.all(third == 2.0) and np.all(fourth == 3.0)


def test_sum_pooling_errors():
    with pytest.raises(ValueError, match="`features` must name at least one column"):
        sum_pooling({}, {}, [], 4, [])
    with pytest.raises(
        LookupError, match="`features` must name keys of `fc_dict`. Received: key=5"
    ):
        sum_pooling({}, {}, [5], 4, [])
