"""The record of one-id slots (``one_id_slots.json``) and the pipeline's fixed-id parse."""

import json
import logging
import os

import numpy as np
import pytest
import tensorflow as tf

from nwsrec.data.convert import convert_csv
from nwsrec.data.files import list_files
from nwsrec.data.one_id import (
    ONE_ID_FILE,
    one_id_features,
    one_id_sparse,
    record_one_id_features,
)
from nwsrec.data.pipeline import make_input_fn
from nwsrec.data.scan import DataFileError
from nwsrec.data.synthetic import SyntheticConfig, generate_synthetic
from nwsrec.data.writer import ShardedExampleWriter, serialize_example, write_examples

FEATURE_MAP = {
    "slot_1_0": tf.io.VarLenFeature(tf.int64),
    "slot_2_0": tf.io.VarLenFeature(tf.int64),
    "slot_3_0": tf.io.VarLenFeature(tf.int64),
    "label": tf.io.FixedLenFeature([], tf.float32),
}
SLOT_TO_DIMS = {1: [4], 2: [1, 8], 3: [4]}


def _rows(count):
    """slot_1 and slot_3: one id per row; slot_2: two ids in every third row."""
    return [
        {
            "slot_1_0": [k % 7],
            "slot_2_0": [k, k + 100] if k % 3 == 0 else [k],
            "slot_3_0": [5 * k],
            "label": float(k % 2),
        }
        for k in range(count)
    ]


def _recorded(directory):
    with open(os.path.join(directory, ONE_ID_FILE)) as handle:
        files = json.load(handle)["files"]
    return {name: entry["features"] for name, entry in files.items()}


def _batches(pattern, **params):
    input_fn = make_input_fn(
        pattern,
        feature_map=FEATURE_MAP,
        slot_to_dims=SLOT_TO_DIMS,
        params={"batch_size": 4, **params},
        repeat=False,
    )
    return input_fn, list(input_fn())


def _flat(batch):
    return {
        name: [t.numpy() for t in tf.nest.flatten(value, expand_composites=True)]
        for name, value in batch.items()
    }


# ------------------------------------------------------------------------- the record


def test_writer_records_the_slots_with_one_id_in_every_row(tmp_path):
    paths = write_examples(_rows(12), tmp_path, prefix="train", num_shards=2)
    assert _recorded(tmp_path) == {os.path.basename(p): ["slot_1_0", "slot_3_0"] for p in paths}
    assert one_id_features(paths) == {"slot_1_0", "slot_3_0"}


def test_serialized_records_record_nothing_unless_declared(tmp_path):
    record = serialize_example({"slot_1_0": [1], "label": 0.0})
    with ShardedExampleWriter(tmp_path, prefix="raw") as writer:
        writer.write_serialized(record)
    assert one_id_features(writer.paths) == frozenset()
    with ShardedExampleWriter(tmp_path, prefix="declared", one_id_features=["slot_1_0"]) as writer:
        writer.write_serialized(record)
    assert one_id_features(writer.paths) == {"slot_1_0"}


def test_a_declared_feature_with_two_ids_names_the_row(tmp_path):
    with (
        pytest.raises(ValueError, match=r"row 1: `slot_1_0` must hold exactly one id"),
        ShardedExampleWriter(tmp_path, one_id_features=["slot_1_0"]) as writer,
    ):
        writer.write({"slot_1_0": [1], "label": 0.0})
        writer.write({"slot_1_0": [1, 2], "label": 0.0})
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tfrecord")]  # nothing half-written


def test_a_changed_file_loses_its_entry_and_a_rewrite_retracts_it(tmp_path):
    (path,) = write_examples(_rows(3), tmp_path, prefix="train")
    assert one_id_features([path]) == {"slot_1_0", "slot_3_0"}
    with open(path, "ab") as handle:  # changed behind the writer's back
        handle.write(b"\0")
    assert one_id_features([path]) == frozenset()
    # The writer rewrites the file with lists everywhere: its old entry must not survive.
    rows = [{"slot_1_0": [1, 2], "slot_3_0": [3, 4], "label": 0.0}]
    write_examples(rows, tmp_path, prefix="train")
    assert one_id_features([path]) == frozenset()
    assert _recorded(tmp_path) == {os.path.basename(path): []}


def test_files_of_several_directories_need_every_entry(tmp_path):
    a = write_examples(_rows(3), tmp_path / "a", prefix="train")
    b = write_examples([{"slot_1_0": [1], "slot_3_0": [], "label": 0.0}], tmp_path / "b")
    assert one_id_features(a + b) == {"slot_1_0"}
    c = tmp_path / "c.tfrecord"
    c.write_bytes(b"")
    assert one_id_features([*a, str(c)]) == frozenset()
    assert one_id_features([]) == frozenset()


def test_a_bad_record_file_is_ignored_with_a_warning(tmp_path, caplog):
    paths = write_examples(_rows(3), tmp_path, prefix="train")
    (tmp_path / ONE_ID_FILE).write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="nwsrec.data.one_id"):
        assert one_id_features(paths) == frozenset()
    assert ONE_ID_FILE in caplog.text


def test_list_files_leaves_the_record_out(tmp_path):
    paths = write_examples(_rows(3), tmp_path, prefix="train")
    assert list_files(str(tmp_path / "*")) == paths


def test_one_id_sparse_equals_the_variable_length_parse():
    records = [serialize_example({"slot_1_0": [v]}) for v in (4, -3, 1 << 40)]
    lists = tf.io.parse_example(records, {"slot_1_0": tf.io.VarLenFeature(tf.int64)})
    fixed = tf.io.parse_example(records, {"slot_1_0": tf.io.FixedLenFeature([1], tf.int64)})
    got, want = one_id_sparse(fixed["slot_1_0"]), lists["slot_1_0"]
    for a, b in zip(
        tf.nest.flatten(got, expand_composites=True),
        tf.nest.flatten(want, expand_composites=True),
        strict=True,
    ):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a.numpy(), b.numpy())


# ------------------------------------------------------------------------- writers


def test_convert_records_single_valued_columns_only(tmp_path):
    csv = tmp_path / "train.csv"
    csv.write_text("user,genres,city,clicked\nann,a|b,x,1\nbob,b,,0\ncid,c,y,1\n")
    result = convert_csv(
        csv,
        tmp_path / "out",
        slots={"user": 1, "genres": 2, "city": 3},
        multi={"genres": "|"},
        label="clicked",
    )
    # genres has two ids in a row, city none in another: only user is one id per row.
    assert one_id_features(result.files) == {"slot_1_0"}


def test_convert_with_a_test_split_records_each_split(tmp_path):
    csv = tmp_path / "train.csv"
    csv.write_text("user,clicked\n" + "".join(f"u{k},{k % 2}\n" for k in range(40)))
    result = convert_csv(
        csv, tmp_path / "out", slots={"user": 1}, label="clicked", test_fraction=0.25, seed=1
    )
    for split in ("train", "test"):
        assert one_id_features(result.files_per_input[split]) == {"slot_1_0"}


def test_synthetic_data_records_every_slot(tmp_path):
    config = SyntheticConfig(
        num_train=64, num_test=32, vocab_size=10, num_files=2, pair_ranks=(1, 1), num_noise_slots=1
    )
    truth = generate_synthetic(tmp_path, config)
    files = list_files(str(tmp_path / "*.tfrecord"))
    assert len(truth.slots) == config.num_slots
    assert one_id_features(files) == {f"slot_{s}_0" for s in truth.slots}


# ------------------------------------------------------------------------- the pipeline


def test_fixed_id_parse_gives_the_same_batches_as_lists(tmp_path, caplog):
    write_examples(_rows(22), tmp_path, prefix="train", num_shards=2)
    pattern = str(tmp_path / "train-*")
    with caplog.at_level(logging.INFO, logger="nwsrec.data.pipeline"):
        _, fixed = _batches(pattern)
    assert "2 of 3 slots parse as one id per record" in caplog.text
    _, lists = _batches(pattern, one_id_parse=False)
    assert len(fixed) == len(lists) == 5
    for a, b in zip(fixed, lists, strict=True):
        assert a.keys() == b.keys()
        fa, fb = _flat(a), _flat(b)
        for name in fa:
            for x, y in zip(fa[name], fb[name], strict=True):
                assert x.dtype == y.dtype and x.shape == y.shape, name
                np.testing.assert_array_equal(x, y, err_msg=name)


def test_the_last_partial_batch_parses_as_one_id_too(tmp_path):
    write_examples(_rows(6), tmp_path, prefix="train")
    input_fn, _ = _batches(str(tmp_path / "train-*"))
    batches = list(input_fn.keeping_remainder()())
    assert [b["label"].shape[0] for b in batches] == [4, 2]
    assert batches[1]["slot_3_0"].dense_shape.numpy().tolist() == [2, 1]
    assert batches[1]["slot_3_0"].values.numpy().tolist() == [20, 25]


def test_a_record_that_breaks_its_record_is_named(tmp_path):
    rows = _rows(9)
    rows[6]["slot_3_0"] = [1, 2]
    (path,) = write_examples(rows, tmp_path, prefix="train")
    record_one_id_features([path], ["slot_1_0", "slot_3_0"])  # a record that lies
    _, good = _batches(str(tmp_path / "train-*"), one_id_parse=False)
    assert len(good) == 2  # parsed as lists, the file is fine
    with pytest.raises(DataFileError) as caught:
        _batches(str(tmp_path / "train-*"))
    message = str(caught.value)
    assert f"{path}: record 6" in message
    assert "slot_3_0" in message and ONE_ID_FILE in message and "one_id_parse=False" in message


def test_a_missing_one_id_feature_is_named(tmp_path):
    rows = _rows(5)
    del rows[3]["slot_1_0"]
    (path,) = write_examples(rows, tmp_path, prefix="train")
    record_one_id_features([path], ["slot_1_0"])
    with pytest.raises(DataFileError, match=rf"{path}: record 3 .*slot_1_0"):
        _batches(str(tmp_path / "train-*"), check_files=True)


def test_files_without_a_record_parse_as_lists(tmp_path, caplog):
    record = serialize_example({"slot_1_0": [1], "slot_2_0": [2], "slot_3_0": [3], "label": 1.0})
    with ShardedExampleWriter(tmp_path, prefix="raw") as writer:
        for _ in range(4):
            writer.write_serialized(record)
    with caplog.at_level(logging.INFO, logger="nwsrec.data.pipeline"):
        _, batches = _batches(str(tmp_path / "raw-*"))
    assert "parse as one id" not in caplog.text
    assert batches[0]["slot_1_0"].values.numpy().tolist() == [1, 1, 1, 1]
    caplog.clear()
    (tmp_path / "other").mkdir()
    other = str(tmp_path / "other" / "part.tfrecord")
    with tf.io.TFRecordWriter(other) as writer:  # another tool: no record beside
        for _ in range(4):
            writer.write(record)
    with caplog.at_level(logging.INFO, logger="nwsrec.data.pipeline"):
        _batches(other)
    assert f"no {ONE_ID_FILE} beside the input files" in caplog.text
    assert "nwsrec datasets index" in caplog.text


# ------------------------------------------------------------------------- the index


def test_index_records_the_one_id_slots_of_files_from_another_tool(tmp_path, caplog):
    from nwsrec.data.one_id_index import index_one_id_slots

    records = [serialize_example(row) for row in _rows(9)]
    paths = []
    for name, part in (("a.tfrecord", records[:5]), ("b.tfrecord", records[5:])):
        with tf.io.TFRecordWriter(str(tmp_path / name)) as writer:  # no record written
            for record in part:
                writer.write(record)
        paths.append(str(tmp_path / name))
    (tmp_path / "junk.tfrecord").write_bytes(b"not a tfrecord file")
    assert one_id_features(paths) == frozenset()
    with caplog.at_level(logging.WARNING, logger="nwsrec.data.one_id_index"):
        found = index_one_id_slots(str(tmp_path / "*.tfrecord"))
    assert "junk.tfrecord: not indexed" in caplog.text
    # a.tfrecord holds rows 0-4: row 0 and row 3 have two ids in slot_2_0; b holds 5-8
    # (row 6 has two).
    assert found == {
        paths[0]: ["slot_1_0", "slot_3_0"],
        paths[1]: ["slot_1_0", "slot_3_0"],
        str(tmp_path / "junk.tfrecord"): [],
    }
    assert one_id_features(paths) == {"slot_1_0", "slot_3_0"}
    _, batches = _batches(str(tmp_path / "[ab].tfrecord"))
    assert [b["slot_3_0"].values.numpy().tolist() for b in batches] == [
        [0, 5, 10, 15],
        [20, 25, 30, 35],
    ]


def test_index_of_a_slot_missing_in_one_record_leaves_it_out(tmp_path):
    from nwsrec.data.one_id_index import one_id_slots_of_file

    rows = _rows(3)
    del rows[2]["slot_1_0"]
    with tf.io.TFRecordWriter(str(tmp_path / "a.tfrecord"), "GZIP") as writer:
        for row in rows:
            writer.write(serialize_example(row))
    assert one_id_slots_of_file(str(tmp_path / "a.tfrecord")) == ["slot_3_0"]


def test_datasets_index_command(tmp_path, capsys):
    from nwsrec.cli.main import main

    (path,) = write_examples(_rows(4), tmp_path, prefix="train")
    os.remove(tmp_path / ONE_ID_FILE)
    assert main(["datasets", "index", str(tmp_path / "train-*")]) == 0
    out = capsys.readouterr().out
    assert f"{path}: 2 one-id slots (slot_1_0, slot_3_0)" in out
    assert "1 files indexed in one_id_slots.json; 2 slots hold one id" in out
    assert one_id_features([path]) == {"slot_1_0", "slot_3_0"}


def test_files_under_a_url_are_not_recorded(tmp_path, caplog):
    from nwsrec.data.one_id import record_one_id_per_file

    with caplog.at_level(logging.INFO, logger="nwsrec.data.one_id"):
        record_one_id_per_file({"gs://bucket/data/part-0.tfrecord": ["slot_1_0"]})
    assert "gs://bucket/data: not a local directory" in caplog.text
    assert not os.path.exists("gs:")
