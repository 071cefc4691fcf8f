import logging
import os
import re

import numpy as np
import pytest
import tensorflow as tf

from nwsrec.data.files import detect_compression, shard_files
from nwsrec.data.pipeline import InputFn, RecordSplit, make_input_fn, post_process_example
from nwsrec.data.scan import DataFileError, FileProblem, check_files
from nwsrec.data.writer import serialize_example, write_examples

FEATURE_MAP = {
    "slot_1_0": tf.io.VarLenFeature(tf.int64),
    "slot_2_0": tf.io.VarLenFeature(tf.int64),
    "label": tf.io.FixedLenFeature([], tf.float32),
}
SLOT_TO_DIMS = {1: [1, 4], 2: [8]}


def _rows(start, count):
    """Example k: slot_1_0 = [k, k + 1000], slot_2_0 = [-k], label = k."""
    return [
        {"slot_1_0": [k, k + 1000], "slot_2_0": [-k], "label": float(k)}
        for k in range(start, start + count)
    ]


def _write_files(directory, counts, gzip=False):
    """One file per count, named f0.tfrecord ..., with consecutive example ids."""
    paths, start = [], 0
    for index, count in enumerate(counts):
        (path,) = write_examples(_rows(start, count), directory, prefix=f"f{index}", gzip=gzip)
        paths.append(path)
        start += count
    return paths


def _input_fn(pattern, repeat=False, feature_map=FEATURE_MAP, split=None, **params):
    return make_input_fn(
        pattern,
        feature_map=feature_map,
        slot_to_dims=SLOT_TO_DIMS,
        params={"batch_size": 1, **params},
        repeat=repeat,
        split=split,
    )


def _labels(dataset, batches=None):
    dataset = dataset if batches is None else dataset.take(batches)
    return [int(v) for batch in dataset for v in batch["label"].numpy()]


def _context(pipeline_id, num_pipelines, replicas=1):
    return tf.distribute.InputContext(
        num_input_pipelines=num_pipelines,
        input_pipeline_id=pipeline_id,
        num_replicas_in_sync=replicas,
    )


# ------------------------------------------------------------------------ sharding


@pytest.mark.parametrize("num_pipelines", [2, 3])
def test_pipelines_together_read_every_file_once_and_no_record_twice(tmp_path, num_pipelines):
    paths = _write_files(tmp_path, [3, 5, 2, 4, 6, 1, 3])
    labels, files = [], []
    for pipeline in range(num_pipelines):
        input_fn = _input_fn(str(tmp_path / "*.tfrecord"))
        labels += _labels(input_fn(_context(pipeline, num_pipelines)))
        assert input_fn.files_read == paths[pipeline::num_pipelines]
        files += input_fn.files_read
    assert sorted(files) == paths
    assert sorted(labels) == list(range(24))


def test_files_are_listed_sorted_and_read_in_order(tmp_path):
    _write_files(tmp_path, [2, 2, 2])
    assert _labels(_input_fn(str(tmp_path / "*"))(None)) == [0, 1, 2, 3, 4, 5]


def test_cycle_length_interleaves_files_one_record_at_a_time(tmp_path):
    _write_files(tmp_path, [3, 3])
    input_fn = _input_fn(str(tmp_path / "*"), cycle_length=2)
    assert _labels(input_fn(None)) == [0, 3, 1, 4, 2, 5]


def test_parallel_knobs_read_the_same_records(tmp_path):
    _write_files(tmp_path, [5, 4, 6])
    input_fn = _input_fn(
        str(tmp_path / "*"),
        cycle_length=2,
        num_parallel_calls=2,
        parse_num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=False,
    )
    assert sorted(_labels(input_fn(None))) == list(range(15))


def test_shard_files_is_dataset_shard_on_the_file_list():
    files = [f"f{i}" for i in range(7)]
    expected = list(tf.data.Dataset.from_tensor_slices(files).shard(3, 1).as_numpy_iterator())
    assert shard_files(files, 1, 3) == [f.decode() for f in expected]


# ------------------------------------------------------------------------ batching


def test_batches_drop_the_remainder(tmp_path):
    _write_files(tmp_path, [10])
    batches = list(_input_fn(str(tmp_path / "*"), batch_size=4)(None))
    assert [b["label"].shape[0] for b in batches] == [4, 4]
    assert [b["slot_1_0"].dense_shape[0].numpy() for b in batches] == [4, 4]


def test_each_repeated_pass_drops_its_own_remainder(tmp_path):
    _write_files(tmp_path, [10])
    input_fn = _input_fn(str(tmp_path / "*"), repeat=True, batch_size=4)
    assert _labels(input_fn(None), batches=4) == list(range(8)) * 2


def test_input_context_splits_the_global_batch_over_replicas(tmp_path):
    _write_files(tmp_path, [12])
    input_fn = _input_fn(str(tmp_path / "*"), batch_size=8)
    batch = next(iter(input_fn(_context(0, 1, replicas=2))))
    assert batch["label"].shape[0] == 4


class _FakeTPUContext:
    def __init__(self, index, count):
        self.deployment = ("/job:worker/task:0/device:CPU:0", index, count, 1)

    def current_input_fn_deployment(self):
        return self.deployment


def test_monolith_params_mapping_gives_shard_batch_and_knobs(tmp_path):
    _write_files(tmp_path, [4, 4, 4, 4])
    input_fn = _input_fn(str(tmp_path / "*"), batch_size=1000)
    params = {
        "batch_size": 2,
        "cycle_length": 2,
        "shard_skip_file_number": [0, 1],
        "context": _FakeTPUContext(1, 2),
    }
    # pipeline 1 of 2 has files 1 and 3; it skips file 1; batches of 2.
    assert _labels(input_fn(params)) == [12, 13, 14, 15]
    assert input_fn.files_read == [str(tmp_path / "f3-00000-of-00001.tfrecord")]
    # Without the skip it reads both files of its shard, two at a time (cycle_length=2).
    assert _labels(input_fn({**params, "shard_skip_file_number": None})) == [
        4,
        12,
        5,
        13,
        6,
        14,
        7,
        15,
    ]


def test_monolith_params_mapping_without_context_is_one_pipeline(tmp_path):
    _write_files(tmp_path, [3, 3])
    input_fn = _input_fn(str(tmp_path / "*"))
    assert _labels(input_fn({"batch_size": 3})) == [0, 1, 2, 3, 4, 5]


# ------------------------------------------------------------------------ resuming


def test_skip_leaves_out_the_first_files_of_the_shard(tmp_path):
    _write_files(tmp_path, [2, 2, 2, 2, 2])
    input_fn = _input_fn(str(tmp_path / "*"), shard_skip_file_number=[1, 2])
    # pipeline 0: files 0, 2, 4 -> skips file 0; pipeline 1: files 1, 3 -> skips both.
    assert _labels(input_fn(_context(0, 2))) == [4, 5, 8, 9]
    assert _labels(input_fn(_context(1, 2))) == []
    assert [os.path.basename(p)[:2] for p in input_fn.files_read] == ["f2", "f4"]


def test_skip_holds_for_the_first_pass_only(tmp_path):
    _write_files(tmp_path, [2, 2])
    input_fn = _input_fn(str(tmp_path / "*"), repeat=True, shard_skip_file_number={0: 1})
    assert _labels(input_fn(None), batches=6) == [2, 3, 0, 1, 2, 3]


def test_skip_past_the_end_of_a_shard_names_the_files(tmp_path):
    _write_files(tmp_path, [1, 1, 1])
    input_fn = _input_fn(str(tmp_path / "*"), shard_skip_file_number=[0, 2])
    with pytest.raises(
        ValueError,
        match=r"shard_skip_file_number\[1\]` must be at most the 1 "
        r"files.*f1-00000-of-00001.tfrecord.*=2 \(file_pattern=",
    ):
        input_fn(_context(1, 2))


@pytest.mark.parametrize(
    "skip, match",
    [
        ([1], "one entry per input pipeline"),
        ([0, -1], r"shard_skip_file_number\[1\]` must be an integer >= 0"),
        ("1", "must be None, a list"),
    ],
)
def test_bad_skip_counts_are_rejected(tmp_path, skip, match):
    _write_files(tmp_path, [1, 1])
    with pytest.raises(ValueError, match=match):
        _input_fn(str(tmp_path / "*"), shard_skip_file_number=skip)(_context(1, 2))


@pytest.mark.parametrize("skip", [None, {0: 1}], ids=["no-skip", "skip"])
def test_iterator_checkpoint_resumes_at_the_same_batch(tmp_path, skip):
    _write_files(tmp_path, [5, 5])
    input_fn = _input_fn(
        str(tmp_path / "*"), repeat=True, batch_size=2, shard_skip_file_number=skip
    )
    iterator = iter(input_fn(None))
    assert next(iterator)["label"].numpy().tolist() == ([5, 6] if skip else [0, 1])
    checkpoint = tf.train.Checkpoint(iterator=iterator)
    path = checkpoint.save(str(tmp_path / "ckpt" / "it"))
    expected = [next(iterator)["label"].numpy().tolist() for _ in range(6)]
    checkpoint.restore(path)
    assert [next(iterator)["label"].numpy().tolist() for _ in range(6)] == expected


# ------------------------------------------------------------------------ post-processing


@pytest.mark.parametrize("vocab", [7, 8, 1], ids=["floormod", "power-of-two", "one"])
def test_ids_are_taken_modulo_a_fixed_vocab_size(tmp_path, vocab):
    _write_files(tmp_path, [3])
    input_fn = _input_fn(str(tmp_path / "*"), batch_size=3, vocab_size_per_slot=vocab)
    batch = next(iter(input_fn(None)))
    ids = [0, 1000, 1, 1001, 2, 1002]
    assert batch["slot_1_0"].values.numpy().tolist() == [i % vocab for i in ids]
    # Python's % is a floor modulo: never negative, as floormod.
    assert batch["slot_2_0"].values.numpy().tolist() == [i % vocab for i in (0, -1, -2)]


def test_power_of_two_modulo_equals_floormod_on_any_int64():
    values = tf.constant([0, 1, -1, 2**62 + 5, -(2**63), 2**63 - 1, -12345], tf.int64)
    ids = tf.SparseTensor([[i, 0] for i in range(7)], values, [7, 1])
    for size in (1, 2, 1024, 2**40):
        out = post_process_example({"slot_1_0": ids}, {1: [4]}, size)["slot_1_0"].values
        assert out.numpy().tolist() == tf.math.floormod(values, size).numpy().tolist()


def test_ids_are_unchanged_without_a_fixed_vocab_size(tmp_path):
    _write_files(tmp_path, [2])
    batch = next(iter(_input_fn(str(tmp_path / "*"), batch_size=2)(None)))
    assert batch["slot_1_0"].values.numpy().tolist() == [0, 1000, 1, 1001]
    assert batch["slot_2_0"].values.numpy().tolist() == [0, -1]


def test_slot_zero_is_copied_to_every_further_slice(tmp_path):
    _write_files(tmp_path, [2])
    input_fn = make_input_fn(
        str(tmp_path / "*"),
        feature_map=FEATURE_MAP,
        slot_to_dims={1: [1, 4, 16], 2: [8]},
        params={"batch_size": 2, "vocab_size_per_slot": 9},
        repeat=False,
    )
    batch = next(iter(input_fn(None)))
    assert sorted(batch) == ["label", "slot_1_0", "slot_1_1", "slot_1_2", "slot_2_0"]
    for name in ("slot_1_1", "slot_1_2"):
        assert batch[name].values.numpy().tolist() == [0, 1000 % 9, 1, 1001 % 9]
        assert batch[name].indices.numpy().tolist() == batch["slot_1_0"].indices.numpy().tolist()


def test_other_features_of_the_feature_map_pass_through(tmp_path):
    write_examples([{"slot_1_0": [1], "slot_2_0": [], "label": 1.0, "dense": [0.5, 2.0]}], tmp_path)
    feature_map = {**FEATURE_MAP, "dense": tf.io.FixedLenFeature([2], tf.float32)}
    batch = next(iter(_input_fn(str(tmp_path / "*"), feature_map=feature_map)(None)))
    assert batch["dense"].numpy().tolist() == [[0.5, 2.0]]
    assert batch["slot_2_0"].values.numpy().tolist() == []


def test_post_process_example_needs_every_slot():
    with pytest.raises(LookupError, match="`features` must contain 'slot_3_0' for slot 3"):
        post_process_example({"slot_1_0": None}, {3: [4]})


# ------------------------------------------------------------------------ compression


def test_gzip_files_are_detected_and_read(tmp_path):
    paths = _write_files(tmp_path, [3, 3], gzip=True)
    assert [detect_compression(p) for p in paths] == ["GZIP", "GZIP"]
    assert _labels(_input_fn(str(tmp_path / "*"))(None)) == list(range(6))
    assert _labels(_input_fn(str(tmp_path / "*"), compression_type="gzip")(None)) == list(range(6))


def test_gzip_and_plain_files_mix_in_one_pattern(tmp_path):
    write_examples(_rows(0, 2), tmp_path, prefix="a", gzip=True)
    write_examples(_rows(2, 2), tmp_path, prefix="b")
    assert _labels(_input_fn(str(tmp_path / "*"))(None)) == [0, 1, 2, 3]


# ------------------------------------------------------------------------ argument errors


def test_a_pattern_matching_no_file_is_named(tmp_path):
    input_fn = _input_fn(str(tmp_path / "nothing-*.tfrecord"))
    with pytest.raises(ValueError, match=r"`file_pattern` must match at least one file.*nothing-"):
        input_fn(None)


def test_fewer_files_than_pipelines_names_the_pattern(tmp_path):
    _write_files(tmp_path, [1, 1])
    input_fn = _input_fn(str(tmp_path / "*"))
    with pytest.raises(ValueError, match=r"2 files for 3 pipelines.*f0-00000.*file_pattern="):
        input_fn(_context(0, 3))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"cycle_length": 0}, "`cycle_length` must be an integer >= 1"),
        ({"num_parallel_calls": 0}, "`num_parallel_calls` must be None"),
        ({"parse_num_parallel_calls": 1.5}, "`parse_num_parallel_calls` must be None"),
        ({"compression_type": "BZ2"}, "`compression_type` must be one of"),
        ({"vocab_size_per_slot": 0}, "`vocab_size_per_slot` must be None or an integer"),
        ({"deterministic": "yes"}, "`deterministic` must be a bool"),
        ({"skip_corrupt_files": 1}, "`skip_corrupt_files` must be a bool"),
        ({"batch_size": 0}, "`batch_size` must be an integer >= 1"),
    ],
)
def test_bad_knobs_are_rejected_when_the_input_fn_is_made(tmp_path, params, match):
    with pytest.raises(ValueError, match=match):
        _input_fn(str(tmp_path / "*"), **params)


def test_a_global_batch_must_divide_over_the_replicas(tmp_path):
    _write_files(tmp_path, [4])
    with pytest.raises(ValueError, match="divisible by the 3 replicas.*batch_size=8"):
        _input_fn(str(tmp_path / "*"), batch_size=8)(_context(0, 1, replicas=3))


def test_an_unknown_input_fn_argument_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="InputContext, a params mapping or None"):
        _input_fn(str(tmp_path / "*"))(42)


@pytest.mark.parametrize(
    "feature_map, slot_to_dims, match",
    [
        ({"label": FEATURE_MAP["label"]}, {1: [4]}, r"`feature_map\['slot_1_0'\]` must be"),
        ({"slot_1_0": tf.io.VarLenFeature(tf.float32)}, {1: [4]}, r"VarLenFeature\(tf.int64\)"),
        ({**FEATURE_MAP, "slot_1_1": FEATURE_MAP["slot_1_0"]}, {1: [1, 4]}, "must not contain"),
        ({}, {}, "non-empty mapping"),
        (FEATURE_MAP, {1: 4}, "lists of dims"),
    ],
)
def test_a_feature_map_that_does_not_fit_the_slots_is_rejected(feature_map, slot_to_dims, match):
    with pytest.raises(ValueError, match=match):
        make_input_fn(
            "x", feature_map=feature_map, slot_to_dims=slot_to_dims, params={"batch_size": 1}
        )


# ------------------------------------------------------------------------ data errors


def _flip_byte(path, offset):
    data = bytearray(open(path, "rb").read())
    data[offset] ^= 0xFF
    with open(path, "wb") as handle:
        handle.write(bytes(data))


def _truncate(path, drop):
    data = open(path, "rb").read()
    with open(path, "wb") as handle:
        handle.write(data[:-drop])


def _write_raw(path, records):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)


def _record_offset(path, index):
    """Byte offset of record ``index`` (12 bytes of header, payload, 4 bytes of CRC)."""
    offset = 0
    for record in list(tf.data.TFRecordDataset(str(path)))[:index]:
        offset += 16 + len(record.numpy())
    return offset


@pytest.fixture
def good_files(tmp_path):
    return _write_files(tmp_path, [4, 4])


def _make_bad(tmp_path, kind):
    """A file named h-<kind>.tfrecord (read after the good f*.tfrecord) bad at record 3."""
    path = tmp_path / f"h-{kind}.tfrecord"
    records = [serialize_example(row) for row in _rows(100, 5)]
    if kind == "not_example":
        records[3] = b"this is not a tf.train.Example"
    if kind == "binary":  # TF cannot even decode its error message: UnicodeDecodeError
        records[3] = b"\xff\xfe\x00\x01 binary \x80"
    if kind == "missing":
        records[3] = serialize_example({"slot_1_0": [1], "slot_2_0": [2]})
    if kind == "mistyped":
        records[3] = serialize_example(
            {"slot_1_0": [1], "slot_2_0": [2], "label": [1]}, int64_features={"label"}
        )
    _write_raw(path, records)
    if kind == "crc":
        _flip_byte(path, _record_offset(path, 3) + 14)
    if kind == "truncated":
        _truncate(path, 7)
    return str(path)


DATA_ERRORS = [
    ("crc", "corrupt", 3, tf.errors.DataLossError, "is corrupt"),
    ("truncated", "corrupt", 4, tf.errors.DataLossError, "truncated"),
    ("not_example", "not_example", 3, tf.errors.InvalidArgumentError, "not a tf.train.Example"),
    ("binary", "not_example", 3, UnicodeDecodeError, "not a tf.train.Example.*binary bytes"),
    ("missing", "feature", 3, tf.errors.InvalidArgumentError, "label.*could not be found"),
    ("mistyped", "feature", 3, tf.errors.InvalidArgumentError, "label.*type"),
]


@pytest.mark.parametrize(
    "case, kind, record, raised, words", DATA_ERRORS, ids=[c[0] for c in DATA_ERRORS]
)
def test_the_dataset_iterated_alone_names_the_file_record_and_problem(
    tmp_path, good_files, case, kind, record, raised, words
):
    # As a user of Model.create_input_fn iterates it: no trainer, no naming_errors().
    bad = _make_bad(tmp_path, case)
    input_fn = _input_fn(str(tmp_path / "*.tfrecord"), batch_size=2)
    with pytest.raises(DataFileError) as info:
        _labels(input_fn(None))
    error = info.value
    assert isinstance(error.__cause__, raised)  # TensorFlow's own error, as the cause
    assert input_fn.diagnose(error.__cause__).problem == error.problem
    assert (error.problem.path, error.problem.kind, error.problem.record) == (bad, kind, record)
    message = str(error)
    assert f"{bad}: record {record}" in message
    assert "file_pattern=" in message
    assert re.search(words, message), message


@pytest.mark.parametrize(
    "case, kind, record, raised, words", DATA_ERRORS, ids=[c[0] for c in DATA_ERRORS]
)
def test_check_files_raises_before_reading_naming_the_file(
    tmp_path, good_files, case, kind, record, raised, words
):
    bad = _make_bad(tmp_path, case)
    input_fn = _input_fn(str(tmp_path / "*.tfrecord"), check_files=True)
    with pytest.raises(DataFileError, match=rf"{bad}: record {record} .*{words}"):
        input_fn(None)


def test_diagnose_returns_errors_that_are_not_in_the_data(tmp_path, good_files):
    input_fn = _input_fn(str(tmp_path / "*.tfrecord"))
    _labels(input_fn(None))
    other = ValueError("not a data error")
    assert input_fn.diagnose(other) is other
    op_error = tf.errors.InternalError(None, None, "out of memory")
    assert input_fn.diagnose(op_error) is op_error


def test_skip_corrupt_files_logs_counts_and_leaves_out_bad_files(tmp_path, good_files, caplog):
    bad = [
        _make_bad(tmp_path, "crc"),
        _make_bad(tmp_path, "not_example"),
        _make_bad(tmp_path, "truncated"),
    ]
    input_fn = _input_fn(str(tmp_path / "*.tfrecord"), skip_corrupt_files=True)
    with caplog.at_level(logging.WARNING, logger="nwsrec.data.pipeline"):
        assert _labels(input_fn(None)) == list(range(8))
        assert _labels(input_fn(None)) == list(range(8))  # a second call scans nothing new
    assert input_fn.num_corrupt_files == 3
    assert sorted(p.path for p in input_fn.corrupt_files) == sorted(bad)
    warned = [r.getMessage() for r in caplog.records if "skipping corrupt file" in r.getMessage()]
    assert len(warned) == 3
    assert all(any(path in line for line in warned) for path in bad)
    assert input_fn.files_read == good_files


def test_skip_corrupt_files_still_raises_for_features_that_do_not_match(tmp_path, good_files):
    bad = _make_bad(tmp_path, "mistyped")
    input_fn = _input_fn(str(tmp_path / "*.tfrecord"), skip_corrupt_files=True, check_files=True)
    with pytest.raises(DataFileError, match=rf"{bad}: record 3 does not match the feature map"):
        input_fn(None)
    assert input_fn.num_corrupt_files == 0


def test_check_files_reports_each_bad_file_once(tmp_path, good_files):
    crc, missing = _make_bad(tmp_path, "crc"), _make_bad(tmp_path, "missing")
    problems = check_files(str(tmp_path / "*.tfrecord"), feature_map=FEATURE_MAP)
    assert [(p.path, p.kind, p.record) for p in problems] == [
        (crc, "corrupt", 3),
        (missing, "feature", 3),
    ]
    # Without a feature map only the records are checked.
    assert [p.path for p in check_files(str(tmp_path / "*.tfrecord"))] == [crc]
    assert (
        len(check_files(str(tmp_path / "*.tfrecord"), feature_map=FEATURE_MAP, stop_at_first=True))
        == 1
    )


def test_a_gzip_file_read_as_plain_is_reported_with_a_hint(tmp_path):
    (path,) = write_examples(_rows(0, 3), tmp_path, gzip=True)
    (problem,) = check_files([path], compression_type="")
    assert problem.kind == "corrupt" and "compression_type" in problem.detail


def test_file_problem_describes_itself():
    problem = FileProblem("/d/a.tfrecord", "not_example", 7, "Could not parse")
    assert (
        problem.describe() == "/d/a.tfrecord: record 7 is not a tf.train.Example: Could not parse"
    )
    assert problem.is_corrupt


# ------------------------------------------------------------------------ with a Model


def test_model_create_input_fn_gives_every_slice_of_its_slots(tmp_path):
    from nwsrec.features import FeatureColumnV1, FeatureSlot
    from nwsrec.model import Model

    class TwoSlots(Model):
        def logits_fn(self):
            a = FeatureColumnV1(FeatureSlot(self.env, 1, has_bias=True), "slot_1_0")
            b = FeatureColumnV1(FeatureSlot(self.env, 2), "slot_2_0")
            parts = [a.get_bias(), a.add_vector(4), b.add_vector(2)]
            return tf.reduce_sum(tf.concat(parts, axis=1), axis=1)

    vocab = tmp_path / "vocab.tsv"
    vocab.write_text("slot\tcount\n1\t50\n2\t50\n")
    data = tmp_path / "data"
    _write_files(data, [6])
    model = TwoSlots(
        {
            **Model.default_params(),
            "vocab_file_path": str(vocab),
            "vocab_size_per_slot": 5,
            "batch_size": 4,
        }
    )
    input_fn = model.create_input_fn(str(data / "*"), repeat=False)
    assert isinstance(input_fn, InputFn)
    (batch,) = list(input_fn(tf.distribute.InputContext()))
    assert sorted(batch) == ["label", "slot_1_0", "slot_1_1", "slot_2_0"]
    assert np.all(batch["slot_1_1"].values.numpy() < 5)


def test_naming_errors_reraises_data_errors_naming_the_file(tmp_path, good_files):
    bad = _make_bad(tmp_path, "truncated")
    input_fn = _input_fn(str(tmp_path / "*.tfrecord"), batch_size=2)
    with pytest.raises(DataFileError, match=rf"{bad}: record 4 is corrupt") as info:
        with input_fn.naming_errors():
            _labels(input_fn(None))
    assert isinstance(info.value.__cause__, tf.errors.DataLossError)


def test_naming_errors_lets_other_errors_through(tmp_path, good_files):
    input_fn = _input_fn(str(tmp_path / "*.tfrecord"))
    _labels(input_fn(None))
    with pytest.raises(tf.errors.InternalError, match="not the data"):
        with input_fn.naming_errors():
            raise tf.errors.InternalError(None, None, "not the data")
    with pytest.raises(KeyError):
        with input_fn.naming_errors():
            raise KeyError("x")


# ------------------------------------------------------------------------ record split


def _split_fn(pattern, every, held_out, repeat=False, **params):
    return _input_fn(pattern, repeat, split=RecordSplit(every, held_out=held_out), **params)


def test_record_split_parts_are_disjoint_cover_every_record_and_hold_one_in_k(tmp_path):
    _write_files(tmp_path, [400, 300, 300])
    pattern = str(tmp_path / "*.tfrecord")
    held = _labels(_split_fn(pattern, 5, True)(None))
    kept = _labels(_split_fn(pattern, 5, False)(None))
    assert not set(held) & set(kept)
    assert sorted(held + kept) == list(range(1000))
    # Binomial(1000, 1/5): mean 200, sd 12.6; 5 sd either side.
    assert 137 <= len(held) <= 263


def test_record_split_is_the_same_on_every_pass_shard_and_batch_size(tmp_path):
    _write_files(tmp_path, [50, 70, 30, 50])
    pattern = str(tmp_path / "*.tfrecord")
    held = set(_labels(_split_fn(pattern, 4, True)(None)))
    by_shard = []
    for pipeline in range(2):
        by_shard += _labels(_split_fn(pattern, 4, True)(_context(pipeline, 2)))
    assert set(by_shard) == held
    two_passes = _labels(_split_fn(pattern, 4, True, repeat=True)(None), 2 * len(held))
    assert two_passes == sorted(held) * 2
    batched = _split_fn(pattern, 4, True, batch_size=3)(None)
    assert set(_labels(batched)) <= held


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"every": 1}, "every.*>= 2"),
        ({"every": 2.5}, "every.*integer"),
        ({"every": True}, "every.*integer"),
        ({"every": 3, "held_out": "yes"}, "held_out.*bool"),
    ],
)
def test_record_split_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RecordSplit(**kwargs)


def test_input_fn_rejects_a_split_that_is_not_a_record_split(tmp_path):
    with pytest.raises(ValueError, match="split.*RecordSplit"):
        make_input_fn(
            str(tmp_path / "*"),
            feature_map=FEATURE_MAP,
            slot_to_dims=SLOT_TO_DIMS,
            params={"batch_size": 1},
            split=5,
        )
