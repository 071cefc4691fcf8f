"""nwsrec.training.gradients: the tape watches every group once and gradients go home."""

import keras
import numpy as np
import tensorflow as tf

from nwsrec.embedding import EmbeddingTable
from nwsrec.training.gradients import GradientRouting, as_indexed_slices, table_parameter


def _setup():
    dense = keras.Variable(np.ones((2, 1), np.float32), name="w")
    arch = keras.Variable(np.zeros((3,), np.float32), name="arch")
    tables = {
        "table_1_0": EmbeddingTable(
            "table_1_0", 5, 2, tf.tpu.experimental.embedding.SGD(0.1), "zeros"
        ),
        "table_2_0": EmbeddingTable(
            "table_2_0", 4, 2, tf.tpu.experimental.embedding.SGD(0.1), "zeros"
        ),
    }
    return dense, arch, tables


def test_split_routes_each_gradient_to_its_group_in_order():
    dense, arch, tables = _setup()
    routing = GradientRouting([dense], [arch], tables)
    assert len(routing.watched) == 4  # dense, arch, one source per unsharded table
    ids = tf.SparseTensor([[0, 0], [1, 0]], tf.constant([3, 1], tf.int64), [2, 1])
    with tf.GradientTape() as tape:
        e = tables["table_1_0"].lookup(ids)  # table_2_0 not in the batch
        loss = tf.reduce_sum(e @ dense) + tf.reduce_sum(arch * [1.0, 2.0, 3.0])
    routed = routing.split(tape.gradient(loss, routing.watched))
    assert [v is dense for _, v in routed.dense] == [True]
    np.testing.assert_allclose(routed.arch[0][0], [1.0, 2.0, 3.0])
    assert [name for name, _ in routed.tables] == ["table_1_0"]  # no gradient: left out
    grad = as_indexed_slices(routed.tables[0][1])
    dense_grad = tf.math.unsorted_segment_sum(grad.values, grad.indices, 5).numpy()
    np.testing.assert_allclose(dense_grad[[1, 3]], np.ones((2, 2)))
    np.testing.assert_allclose(dense_grad[[0, 2, 4]], 0.0)


def test_table_variables_are_what_lookups_read():
    _, _, tables = _setup()
    routing = GradientRouting([], [], tables)
    assert routing.table_variables == [table_parameter(t) for t in tables.values()]


def test_a_dense_gradient_becomes_slices_over_every_row():
    slices = as_indexed_slices(tf.ones((3, 2)))
    assert slices.indices.numpy().tolist() == [0, 1, 2]
