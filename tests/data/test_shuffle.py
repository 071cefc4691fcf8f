"""The block shuffle of the training input (``nwsrec.data.shuffle``)."""

import pytest
import tensorflow as tf

from nwsrec.data.shuffle import BlockShuffle, block_size


def _records(count):
    return tf.data.Dataset.range(count).map(tf.strings.as_string)


def _batches(shuffle, count):
    dataset = shuffle.batches(shuffle.blocks(_records(count)))
    return [[int(r) for r in batch.numpy()] for batch in dataset]


@pytest.mark.parametrize(
    ("batch", "wanted", "expected"), [(1024, 32, 32), (1000, 32, 25), (8, 32, 8), (7, 4, 1)]
)
def test_block_is_the_largest_divisor_of_the_batch_within_the_knob(batch, wanted, expected):
    assert block_size(batch, wanted) == expected


def test_batches_are_whole_blocks_of_consecutive_records_from_the_window():
    shuffle = BlockShuffle(batch_size=8, buffer=32, block=4, seed=1)
    batches = _batches(shuffle, 64)
    assert len(batches) == 8
    assert sorted(r for b in batches for r in b) == list(range(64))  # every record once
    for batch in batches:
        for start in (0, 4):
            block = batch[start : start + 4]
            assert block[0] % 4 == 0 and block == list(range(block[0], block[0] + 4))
    for window in range(2):  # a window of 32 records holds its own records only
        inside = {r // 32 for b in batches[window * 4 : window * 4 + 4] for r in b}
        assert inside == {window}
    assert [r for b in batches for r in b] != list(range(64))


def test_block_one_permutes_single_records():
    batches = _batches(BlockShuffle(batch_size=8, buffer=64, block=1, seed=1), 64)
    flat = [r for b in batches for r in b]
    assert sorted(flat) == list(range(64))
    runs = sum(1 for a, b in zip(flat, flat[1:], strict=False) if b == a + 1)
    assert runs < 16  # no longer read in runs


def test_same_seed_same_order_other_seed_other_order():
    make = lambda seed: _batches(BlockShuffle(batch_size=8, buffer=40, block=2, seed=seed), 96)  # noqa: E731
    assert make(3) == make(3)
    assert make(3) != make(4)


def test_no_buffer_keeps_the_stream_order_and_a_partial_window_gives_whole_batches():
    assert _batches(BlockShuffle(batch_size=4, buffer=0, block=2, seed=0), 11) == [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
    ]
    # 44 records, windows of 16 records: the last window holds 12 -> 3 whole batches.
    batches = _batches(BlockShuffle(batch_size=4, buffer=16, block=2, seed=0), 44)
    assert len(batches) == 11 and len({r for b in batches for r in b}) == 44


def test_a_pass_drops_only_its_last_partial_block():
    batches = _batches(BlockShuffle(batch_size=4, buffer=8, block=2, seed=0), 9)
    assert sorted(r for b in batches for r in b) == list(range(8))


def test_keep_filters_records_before_the_blocks():
    keep = lambda r: tf.strings.to_number(r, tf.int64) % 3 != 0  # noqa: E731
    shuffle = BlockShuffle(batch_size=4, buffer=8, block=2, seed=0, keep=keep)
    got = sorted(r for b in _batches(shuffle, 60) for r in b)
    assert got == [k for k in range(60) if k % 3]


def test_window_checkpoint_resumes_exactly(tmp_path):
    shuffle = BlockShuffle(batch_size=4, buffer=12, block=2, seed=7)
    make = lambda: shuffle.batches(shuffle.blocks(_records(200).repeat()))  # noqa: E731
    whole = [b.numpy().tolist() for b in make().take(30)]
    iterator = iter(make())
    first = [next(iterator).numpy().tolist() for _ in range(13)]
    path = tf.train.Checkpoint(iterator=iterator).save(str(tmp_path / "ckpt"))
    resumed = iter(make())
    tf.train.Checkpoint(iterator=resumed).restore(path).assert_consumed()
    rest = [next(resumed).numpy().tolist() for _ in range(17)]
    assert first + rest == whole


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "`batch_size` must be an integer >= 1"),
        ({"block": 3}, "`block` must divide the batch"),
        ({"block": True}, "`block` must be an integer >= 1"),
        ({"buffer": -1}, "`buffer` must be an integer >= 0"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BlockShuffle(**{"batch_size": 8, "buffer": 16, "block": 4, "seed": 0, **kwargs})


def test_window_blocks_are_whole_batches():
    assert BlockShuffle(batch_size=1024, buffer=10000, block=32, seed=0).window_blocks == 320
    assert BlockShuffle(batch_size=8, buffer=50, block=8, seed=0).window_blocks == 7
    assert BlockShuffle(batch_size=8, buffer=0, block=2, seed=0).window_blocks == 4
