import gzip as gzip_module
import os

import numpy as np
import pytest
import tensorflow as tf

from nwsrec.data.one_id import ONE_ID_FILE
from nwsrec.data.writer import (
    ShardedExampleWriter,
    join_features,
    serialize_example,
    serialize_feature,
    shard_file_names,
    write_examples,
)


def _reference(row):
    """The same row built with the protobuf classes."""
    feature = {}
    for name, value in row.items():
        values = np.asarray(value).reshape(-1).tolist()
        if name.startswith("slot_"):
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=values))
        else:
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
    return tf.train.Example(features=tf.train.Features(feature=feature))


def _read(path, compression=""):
    return [
        tf.train.Example.FromString(r.numpy())
        for r in tf.data.TFRecordDataset(path, compression_type=compression)
    ]


@pytest.mark.parametrize(
    "row",
    [
        {"slot_1_0": [3, 4], "slot_20_0": [7], "label": 1.0},
        {"slot_1_0": [], "label": 0.0},
        {"slot_1_0": [0, 127, 128, 16383, 16384, 2**40, 2**63 - 1], "label": 0.5},
        {"slot_1_0": [-1, -(2**63)], "label": 0.0},
        {"slot_2_0": np.array([5, 6], np.int32), "label": np.float32(1.0)},
        {"slot_2_0": 9, "label": 1, "dense": [0.25, -3.5, 1e30]},
        {"slot_2_0": (1, 2), "dense": np.array([[1.0, 2.0]]), "label": [0.0]},
    ],
    ids=["plain", "empty-ids", "varint-widths", "negative-ids", "numpy", "scalars", "shapes"],
)
def test_serialized_example_equals_the_protobuf_built_one(row):
    assert tf.train.Example.FromString(serialize_example(row)) == _reference(row)


def test_serialized_example_parses_with_parse_example():
    data = serialize_example({"slot_5_0": [2**40, 3], "label": 1.0, "dense": [1.5, 2.5]})
    parsed = tf.io.parse_example(
        [data],
        {
            "slot_5_0": tf.io.VarLenFeature(tf.int64),
            "label": tf.io.FixedLenFeature([], tf.float32),
            "dense": tf.io.FixedLenFeature([2], tf.float32),
        },
    )
    assert parsed["slot_5_0"].values.numpy().tolist() == [2**40, 3]
    assert parsed["label"].numpy().tolist() == [1.0]
    assert parsed["dense"].numpy().tolist() == [[1.5, 2.5]]


def test_int64_features_names_further_int_features():
    example = tf.train.Example.FromString(
        serialize_example({"user_id": [42], "label": 0.0}, int64_features={"user_id"})
    )
    assert list(example.features.feature["user_id"].int64_list.value) == [42]


@pytest.mark.parametrize(
    "row, match",
    [
        ({"slot_1_0": [1.5], "label": 0.0}, "row 0.*'slot_1_0'.*integer ids"),
        ({"slot_1_0": ["a"], "label": 0.0}, "row 0.*'slot_1_0'"),
        ({"slot_1_0": "abc", "label": 0.0}, "'slot_1_0'.*expected numbers"),
        ({"slot_1_0": [2**63], "label": 0.0}, "'slot_1_0'.*int64 range"),
        ({"slot_1_0": np.array([1.0]), "label": 0.0}, "'slot_1_0'.*dtype float64"),
        ({"label": [1.0, 0.0]}, "'label'.*exactly one value"),
        ({"label": 0.0, "dense": [float("nan")]}, "'dense'.*finite"),
        ({"label": 0.0, "dense": [1e39]}, "'dense'.*finite float32"),
        ({"label": 0.0, "dense": ["x"]}, "'dense'.*expected floats"),
        ({"": [1]}, "non-empty string feature names"),
        ([1, 2], "must be a mapping"),
    ],
    ids=[
        "float-id",
        "str-id",
        "str-value",
        "id-overflow",
        "float-array",
        "label-two-values",
        "nan",
        "float32-overflow",
        "str-float",
        "empty-name",
        "not-mapping",
    ],
)
def test_bad_values_name_the_row_and_feature(row, match):
    with pytest.raises(ValueError, match=match):
        serialize_example(row, index=0)


def test_rows_go_round_robin_into_shards(tmp_path):
    rows = [{"slot_1_0": [i], "label": float(i)} for i in range(7)]
    paths = write_examples(rows, tmp_path, prefix="train", num_shards=3)
    assert [os.path.basename(p) for p in paths] == shard_file_names("train", 3)
    for shard, path in enumerate(paths):
        ids = [e.features.feature["slot_1_0"].int64_list.value[0] for e in _read(path)]
        assert ids == list(range(shard, 7, 3))
    assert sorted(os.listdir(tmp_path)) == sorted(
        [*(os.path.basename(p) for p in paths), ONE_ID_FILE]
    )


def test_gzip_files_are_gzip_and_read_back(tmp_path):
    rows = [{"slot_1_0": [i], "label": 1.0} for i in range(5)]
    (path,) = write_examples(rows, tmp_path, gzip=True)
    assert path.endswith(".tfrecord.gz")
    with open(path, "rb") as handle:
        assert handle.read(2) == b"\x1f\x8b"
    with gzip_module.open(path) as handle:
        assert len(handle.read()) > 0
    assert len(_read(path, "GZIP")) == 5


def test_a_generator_is_streamed(tmp_path):
    rows = ({"slot_1_0": [i], "label": 0.0} for i in range(4))
    (path,) = write_examples(rows, tmp_path)
    assert len(_read(path)) == 4


def test_a_failed_write_leaves_no_file(tmp_path):
    def rows():
        yield {"slot_1_0": [1], "label": 0.0}
        yield {"slot_1_0": [1.5], "label": 0.0}

    with pytest.raises(ValueError, match="row 1"):
        write_examples(rows(), tmp_path, num_shards=2)
    assert os.listdir(tmp_path) == []


def test_writer_counts_rows_and_refuses_writes_outside_with(tmp_path):
    writer = ShardedExampleWriter(tmp_path, num_shards=2)
    with pytest.raises(ValueError, match="inside a `with` block"):
        writer.write({"label": 0.0})
    with writer:
        writer.write({"label": 0.0})
        writer.write_serialized(serialize_example({"label": 1.0}))
    assert writer.num_rows == 2
    with pytest.raises(ValueError, match="inside a `with` block"):
        writer.write({"label": 0.0})


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_shards": 0}, "`num_shards` must be an integer >= 1"),
        ({"num_shards": True}, "`num_shards` must be an integer >= 1"),
        ({"prefix": "a/b"}, "`prefix` must be a non-empty file name prefix"),
        ({"prefix": ""}, "`prefix` must be a non-empty file name prefix"),
    ],
)
def test_bad_writer_arguments_are_rejected(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        write_examples([], tmp_path, **kwargs)


def test_one_mapping_instead_of_rows_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="`rows` must be an iterable of mappings"):
        write_examples({"slot_1_0": [1], "label": 0.0}, tmp_path)


def test_joined_features_equal_the_serialized_row():
    row = {"slot_1_0": [3, 2**40], "slot_2_0": [], "label": 1.0, "dense": [0.5]}
    joined = join_features([serialize_feature(name, value) for name, value in row.items()])
    assert tf.train.Example.FromString(joined) == tf.train.Example.FromString(
        serialize_example(row)
    )


def test_serialize_feature_int64_flag_and_errors():
    example = tf.train.Example.FromString(
        join_features([serialize_feature("user_id", [7], int64=True)])
    )
    assert list(example.features.feature["user_id"].int64_list.value) == [7]
    with pytest.raises(ValueError, match="`feature`, feature 'slot_1_0'.*integer ids"):
        serialize_feature("slot_1_0", [0.5])
