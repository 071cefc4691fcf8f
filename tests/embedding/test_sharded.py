import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.distribute.sharded_variable import ShardedVariable

from nwsrec.embedding.optimizers import make_sparse_optimizer
from nwsrec.embedding.sharded import (
    gather_rows,
    gradient_sources,
    is_sharded,
    merge_shard_gradients,
    partitioning_tables,
    shard_offsets,
    shards,
    split_by_shard,
    table_partitioner,
    update_rows,
)

ROWS, DIM = 10, 3


def _whole_and_sharded(sizes=(4, 3, 3), value=None):
    value = np.arange(ROWS * DIM, dtype=np.float32).reshape(ROWS, DIM) if value is None else value
    whole = tf.Variable(value)
    parts, start = [], 0
    for size in sizes:
        parts.append(tf.Variable(value[start : start + size]))
        start += size
    return whole, ShardedVariable(parts)


def test_partitioner_splits_only_tables_created_inside_the_context():
    partitioner = table_partitioner(2)
    shape = tf.TensorShape([ROWS, DIM])
    assert partitioner(shape=shape, dtype=tf.float32) == [1, 1]
    with partitioning_tables():
        assert partitioner(shape=shape, dtype=tf.float32) == [2, 1]
        assert partitioner(shape=tf.TensorShape([1, DIM]), dtype=tf.float32) == [1, 1]
        assert partitioner(shape=tf.TensorShape([]), dtype=tf.float32) == [1]
    assert partitioner(shape=shape, dtype=tf.float32) == [1, 1]


@pytest.mark.parametrize("bad", [0, -1, 2.0, True])
def test_partitioner_needs_a_positive_shard_count(bad):
    with pytest.raises(ValueError, match="`num_shards` must be an integer >= 1"):
        table_partitioner(bad)


def test_offsets_and_shards_of_a_plain_and_a_sharded_variable():
    whole, sharded = _whole_and_sharded()
    assert not is_sharded(whole) and is_sharded(sharded)
    assert shards(whole) == [whole] and len(shards(sharded)) == 3
    assert shard_offsets(whole) == [0, ROWS]
    assert shard_offsets(sharded) == [0, 4, 7, ROWS]


def test_lookup_and_gradient_by_shard_equal_the_whole_table():
    whole, sharded = _whole_and_sharded()
    ids = tf.constant([9, 0, 4, 4, 6, 3], tf.int64)
    weights = tf.random.stateless_normal([6, DIM], seed=[1, 2])
    with tf.GradientTape(persistent=True) as tape:
        whole_rows = gather_rows(whole, ids)
        sharded_rows = gather_rows(sharded, ids)
        whole_loss = tf.reduce_sum(whole_rows * weights)
        sharded_loss = tf.reduce_sum(sharded_rows * weights)
    np.testing.assert_array_equal(whole_rows, sharded_rows)
    whole_grad = tape.gradient(whole_loss, whole)
    shard_grads = tape.gradient(sharded_loss, gradient_sources(sharded))
    assert all(isinstance(g, tf.IndexedSlices) for g in shard_grads)
    # Local row ids per shard: shard 1 holds rows 4..6 as 0..2.
    assert sorted(shard_grads[1].indices.numpy().tolist()) == [0, 0, 2]
    merged = merge_shard_gradients(shard_grads, shard_offsets(sharded))
    np.testing.assert_allclose(
        tf.convert_to_tensor(merged), tf.convert_to_tensor(whole_grad), rtol=1e-6
    )
    assert merged.dense_shape.numpy().tolist() == [ROWS, DIM]


def test_merge_keeps_a_single_gradient_and_skips_absent_shards():
    grad = tf.IndexedSlices(tf.ones([1, DIM]), tf.constant([2], tf.int64), [ROWS, DIM])
    assert merge_shard_gradients([grad], [0, ROWS]) is grad
    assert merge_shard_gradients([None, None], [0, 5, ROWS]) is None
    merged = merge_shard_gradients([None, grad], [0, 5, ROWS])
    assert merged.indices.numpy().tolist() == [7]


@pytest.mark.parametrize(
    "grads, match",
    [
        ([None], r"one gradient per shard \(2\)"),
        ([tf.ones([5, DIM]), None], r"`grads\[0\]` must be a tf.IndexedSlices"),
    ],
)
def test_merge_errors(grads, match):
    with pytest.raises(ValueError, match=match):
        merge_shard_gradients(grads, [0, 5, ROWS])


def test_split_by_shard_gives_local_ids_and_their_rows_in_order():
    ids = tf.constant([8, 1, 5, 3], tf.int64)
    values = tf.reshape(tf.range(8.0), [4, 2])
    parts = split_by_shard(ids, values, [0, 4, ROWS])
    assert [p[0].numpy().tolist() for p in parts] == [[1, 3], [4, 1]]
    assert parts[0][1].numpy().tolist() == [[2.0, 3.0], [6.0, 7.0]]
    assert parts[1][1].numpy().tolist() == [[0.0, 1.0], [4.0, 5.0]]


@pytest.mark.parametrize(
    "optimizer",
    [
        tf.tpu.experimental.embedding.SGD(0.1),
        tf.tpu.experimental.embedding.Adagrad(0.3),
        tf.tpu.experimental.embedding.Adam(0.05),
        tf.tpu.experimental.embedding.FTRL(0.2),
    ],
    ids=["sgd", "adagrad", "adam", "ftrl"],
)
def test_sharded_update_equals_the_whole_table_update_and_leaves_other_rows(optimizer):
    sparse = make_sparse_optimizer(optimizer, "t")
    start = np.random.default_rng(0).normal(size=(ROWS, DIM)).astype(np.float32)
    whole, sharded = _whole_and_sharded(value=start)
    slots_whole, slots_sharded = {}, {}
    for name in sparse.slot_names:
        fill = np.full((ROWS, DIM), sparse.slot_initial_value(name), np.float32)
        slots_whole[name], slots_sharded[name] = _whole_and_sharded(value=fill)
    ids = tf.constant([8, 1, 5], tf.int64)
    grads = tf.constant(np.random.default_rng(1).normal(size=(3, DIM)), tf.float32)
    for _ in range(2):
        update_rows(whole, slots_whole, ids, grads, sparse.apply)
        update_rows(sharded, slots_sharded, ids, grads, sparse.apply)
    after = tf.convert_to_tensor(sharded).numpy()
    np.testing.assert_allclose(after, whole.numpy(), rtol=1e-6, atol=1e-7)
    for name in sparse.slot_names:
        np.testing.assert_allclose(
            tf.convert_to_tensor(slots_sharded[name]), slots_whole[name], rtol=1e-6, atol=1e-7
        )
    untouched = [r for r in range(ROWS) if r not in (1, 5, 8)]
    np.testing.assert_array_equal(after[untouched], start[untouched])
    assert not np.allclose(after[[1, 5, 8]], start[[1, 5, 8]])


def test_update_rows_rejects_slots_split_unlike_the_table():
    _, sharded = _whole_and_sharded()
    _, other = _whole_and_sharded(sizes=(5, 5))
    with pytest.raises(ValueError, match=r"slot `accumulators` must be split like its table"):
        update_rows(
            sharded,
            {"accumulators": other},
            tf.constant([1], tf.int64),
            tf.ones([1, DIM]),
            lambda *args: None,
        )
