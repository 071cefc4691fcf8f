import threading

import numpy as np
import pytest
import tensorflow as tf

from nwsrec.training.collectives import all_reduce_indexed_slices


class ThreadReplica:
    """A replica context of ``replicas`` threads: all_gather concatenates every thread's."""

    def __init__(self, rank, shared):
        self.rank = rank
        self.shared = shared
        self.num_replicas_in_sync = len(shared["slots"])

    def all_gather(self, value, axis):
        assert axis == 0
        self.shared["slots"][self.rank] = value
        self.shared["barrier"].wait()
        out = tf.concat(list(self.shared["slots"]), axis=0)
        self.shared["barrier"].wait()
        return out


def _slices(ids, dim, rows, seed):
    values = np.random.default_rng(seed).normal(size=(len(ids), dim)).astype(np.float32)
    return tf.IndexedSlices(tf.constant(values), tf.constant(ids, tf.int64), [rows, dim])


def _run_replicas(per_replica_grads):
    shared = {"slots": [None] * len(per_replica_grads)}
    # A replica that fails breaks the barrier (and a lost one times it out), so the others
    # never wait forever; daemon threads cannot keep the process alive at exit.
    shared["barrier"] = threading.Barrier(len(per_replica_grads), timeout=30)
    results = [None] * len(per_replica_grads)
    errors = []

    def run(rank):
        try:
            results[rank] = all_reduce_indexed_slices(
                ThreadReplica(rank, shared), per_replica_grads[rank]
            )
        except BaseException as err:  # re-raised in the test's thread below
            errors.append(err)
            shared["barrier"].abort()

    threads = [
        threading.Thread(target=run, args=(r,), daemon=True) for r in range(len(per_replica_grads))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a replica thread hung"
    if errors:
        raise errors[0]
    return results


def test_sparse_gradients_of_different_lengths_sum_across_replicas():
    replica_0 = [_slices([1, 4, 4], 3, 6, 0), _slices([0], 1, 5, 1)]
    replica_1 = [_slices([4, 2], 3, 6, 2), _slices([3, 0, 2, 2], 1, 5, 3)]
    results = _run_replicas([replica_0, replica_1])
    for t in range(2):
        expected = tf.convert_to_tensor(replica_0[t]) + tf.convert_to_tensor(replica_1[t])
        for rank in range(2):
            got = results[rank][t]
            assert isinstance(got, tf.IndexedSlices)
            np.testing.assert_allclose(tf.convert_to_tensor(got), expected, rtol=1e-6)
        # Every replica holds the same gathered rows: replica 0's, then replica 1's.
        np.testing.assert_array_equal(results[0][t].indices, results[1][t].indices)
    assert results[0][0].indices.numpy().tolist() == [1, 4, 4, 4, 2]


def test_a_replica_with_no_rows_of_a_table_still_takes_part():
    replica_0 = [_slices([], 2, 4, 0)]
    replica_1 = [_slices([3], 2, 4, 1)]
    results = _run_replicas([replica_0, replica_1])
    assert results[0][0].indices.numpy().tolist() == [3] == results[1][0].indices.numpy().tolist()


def test_dense_gradients_are_rejected():
    with pytest.raises(ValueError, match=r"`grads\[0\]` must be a tf.IndexedSlices"):
        all_reduce_indexed_slices(None, [tf.ones([2, 2])])
