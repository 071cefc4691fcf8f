"""The seeded training order of the input pipeline (``shuffle``) and its checkpoint."""

import numpy as np
import pytest
import tensorflow as tf

from nwsrec.config import PipelineConfig
from nwsrec.data.pipeline import RecordSplit, make_input_fn
from nwsrec.data.writer import write_examples

FEATURE_MAP = {
    "slot_1_0": tf.io.VarLenFeature(tf.int64),
    "label": tf.io.FixedLenFeature([], tf.float32),
}
SLOT_TO_DIMS = {1: [1, 4]}
RECORDS = 240  # 4 files of 60; batch 8 -> 30 batches per pass, no remainder


@pytest.fixture(scope="module")
def pattern(tmp_path_factory):
    directory = tmp_path_factory.mktemp("shuffle")
    for index in range(4):
        rows = [{"slot_1_0": [k], "label": float(k)} for k in range(index * 60, index * 60 + 60)]
        write_examples(rows, str(directory), prefix=f"f{index}")
    return str(directory / "f*.tfrecord")


def _input_fn(pattern, repeat=True, shuffle=True, split=None, **params):
    return make_input_fn(
        pattern,
        feature_map=FEATURE_MAP,
        slot_to_dims=SLOT_TO_DIMS,
        params={"batch_size": 8, **params},
        repeat=repeat,
        split=split,
        shuffle=shuffle,
    )


def _labels(dataset, batches):
    return [int(v) for batch in dataset.take(batches) for v in batch["label"].numpy()]


def test_training_input_is_shuffled_and_passes_read_every_record(pattern):
    labels = _labels(_input_fn(pattern, shuffle_buffer=120)(None), 90)  # three passes
    counts = np.bincount(labels, minlength=RECORDS)
    # One buffer over the stream of passes: a record can slip across a pass boundary,
    # by at most the buffer, never out of the stream.
    assert counts.sum() == 3 * RECORDS and counts.min() >= 2 and counts.max() <= 4
    assert sorted(labels[: RECORDS - 64]) != labels[: RECORDS - 64]
    passes = [labels[i * RECORDS : (i + 1) * RECORDS] for i in range(3)]
    assert passes[0] != passes[1] and passes[1] != passes[2]  # a new order per pass
    assert len({k // 60 for k in passes[0][:16]}) > 1  # a window mixes two files


def test_same_seed_same_order_other_seed_other_order(pattern):
    a = _labels(_input_fn(pattern, shuffle_seed=3)(None), 40)
    b = _labels(_input_fn(pattern, shuffle_seed=3)(None), 40)
    c = _labels(_input_fn(pattern, shuffle_seed=4)(None), 40)
    assert a == b
    assert a != c
    # Without shuffle_seed the trainer's `seed` seeds the order.
    d = _labels(_input_fn(pattern, seed=3)(None), 40)
    assert d == a


def test_file_order_alone_keeps_records_of_a_file_together(pattern):
    labels = _labels(_input_fn(pattern, shuffle_buffer=0)(None), 60)
    for one in (labels[:RECORDS], labels[RECORDS:]):
        files = [one[i * 60] // 60 for i in range(4)]
        assert sorted(files) == [0, 1, 2, 3]
        for i, f in enumerate(files):  # each file read whole, in its own order
            assert one[i * 60 : (i + 1) * 60] == list(range(f * 60, f * 60 + 60))
    both = _labels(_input_fn(pattern, shuffle_buffer=0, shuffle_files=False)(None), 30)
    assert both == list(range(RECORDS))


def test_evaluation_reads_in_order(pattern):
    assert _labels(_input_fn(pattern, repeat=False, shuffle=False)(None), 30) == list(
        range(RECORDS)
    )
    unshuffled = _labels(_input_fn(pattern, shuffle=False)(None), 60)
    assert unshuffled == list(range(RECORDS)) * 2


def test_iterator_checkpoint_resumes_the_shuffled_order_exactly(pattern, tmp_path):
    # Stop inside the second pass: the buffer, the file order and the seed generators
    # of every pass must come back.
    whole = _labels(_input_fn(pattern, shuffle_buffer=50)(None), 80)
    iterator = iter(_input_fn(pattern, shuffle_buffer=50)(None))
    first = [int(v) for _ in range(37) for v in next(iterator)["label"].numpy()]
    checkpoint = tf.train.Checkpoint(iterator=iterator)
    path = checkpoint.save(str(tmp_path / "ckpt"))
    resumed = iter(_input_fn(pattern, shuffle_buffer=50)(None))
    tf.train.Checkpoint(iterator=resumed).restore(path).assert_consumed()
    rest = [int(v) for _ in range(43) for v in next(resumed)["label"].numpy()]
    assert first + rest == whole


def test_record_split_holds_the_same_records_out_in_any_order(pattern):
    train, held = RecordSplit(every=4, held_out=False), RecordSplit(every=4, held_out=True)
    ordered = _labels(
        _input_fn(pattern, repeat=False, shuffle=False, split=train, batch_size=1)(None), 300
    )
    held_out = _labels(
        _input_fn(pattern, repeat=False, shuffle=False, split=held, batch_size=1)(None), 300
    )
    assert sorted(ordered + held_out) == list(range(RECORDS)) and held_out
    shuffled = _labels(_input_fn(pattern, split=train, batch_size=1)(None), 3 * len(ordered))
    assert shuffled != ordered * 3
    assert set(shuffled) <= set(ordered)  # never a held-out record
    assert len(set(shuffled)) > 0.9 * len(ordered)


def test_bad_shuffle_knobs_name_the_key():
    with pytest.raises(ValueError, match="`shuffle_buffer` must be an integer >= 0"):
        PipelineConfig.from_params({"shuffle_buffer": -1})
    with pytest.raises(ValueError, match="`shuffle_block` must be an integer >= 1"):
        PipelineConfig.from_params({"shuffle_block": 0})
    with pytest.raises(ValueError, match="`shuffle_files` must be a bool"):
        PipelineConfig(shuffle_files="yes")
    with pytest.raises(ValueError, match="`shuffle_seed` must be None or an integer"):
        PipelineConfig(shuffle_seed=1.5)


def test_batches_are_blocks_of_consecutive_records_and_block_one_mixes_records(pattern):
    labels = _labels(_input_fn(pattern, shuffle_block=4, shuffle_buffer=120)(None), 30)
    blocks = [labels[i : i + 4] for i in range(0, len(labels), 4)]
    assert all(b == list(range(b[0], b[0] + 4)) for b in blocks)
    single = _labels(_input_fn(pattern, shuffle_block=1, shuffle_buffer=120)(None), 30)
    runs = sum(1 for a, b in zip(single, single[1:], strict=False) if b == a + 1)
    assert sorted(single) == list(range(RECORDS)) and runs < 40


def test_a_shuffled_input_without_a_full_batch_ends(pattern):
    assert _labels(_input_fn(pattern, batch_size=500)(None), 5) == []
