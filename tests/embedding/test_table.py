"""EmbeddingTable: pooling, sparse gradients, checkpoints, strategies and error paths."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import nwsrec.embedding as embedding
from nwsrec.embedding import EmbeddingTable

E = tf.tpu.experimental.embedding
VOCAB, DIM = 20, 4
EXAMPLES = [[3, 7, 7], [], [19], [0, 3], []]


def _weights(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(VOCAB, DIM)).astype(np.float32)


def _const(w: np.ndarray):
    return lambda shape, dtype: tf.constant(w, dtype=dtype)


def _numpy_pool(w: np.ndarray, examples) -> np.ndarray:
    out = np.zeros((len(examples), w.shape[1]), np.float32)
    for b, example in enumerate(examples):
        for row in example:
            out[b] += w[row]
    return out


def _parsed_ids(examples, tmp_path, dtype=tf.int64) -> tf.SparseTensor:
    """Ids as the input pipeline gives them: parse_example of a real TFRecord file."""
    path = str(tmp_path / "ids.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for example in examples:
            feature = {"slot_1_0": tf.train.Feature(int64_list=tf.train.Int64List(value=example))}
            writer.write(
                tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
            )
    serialized = next(iter(tf.data.TFRecordDataset(path).batch(len(examples))))
    ids = tf.io.parse_example(serialized, {"slot_1_0": tf.io.VarLenFeature(tf.int64)})["slot_1_0"]
    return tf.SparseTensor(ids.indices, tf.cast(ids.values, dtype), ids.dense_shape)


def test_every_public_name_is_importable():
    assert embedding.__all__
    for name in embedding.__all__:
        assert getattr(embedding, name) is not None, name


# ---------------------------------------------------------------- lookup
@pytest.mark.parametrize("dtype", [tf.int64, tf.int32], ids=["int64", "int32"])
def test_lookup_of_parsed_sparse_ids_sums_rows_and_gives_zeros_for_empty_examples(dtype, tmp_path):
    w = _weights()
    table = EmbeddingTable("t", VOCAB, DIM, E.SGD(0.1), initializer=_const(w))
    pooled = table.lookup(_parsed_ids(EXAMPLES, tmp_path, dtype))
    np.testing.assert_allclose(pooled.numpy(), _numpy_pool(w, EXAMPLES), rtol=1e-6)
    np.testing.assert_array_equal(pooled.numpy()[[1, 4]], 0.0)


def test_lookup_of_ragged_ids_in_tf_function_sums_rows():
    w = _weights()
    table = EmbeddingTable("t", VOCAB, DIM, E.SGD(0.1), initializer=_const(w))
    ids = tf.ragged.constant(EXAMPLES, dtype=tf.int64, ragged_rank=1)
    pooled = tf.function(table.lookup)(ids)
    assert pooled.shape == (len(EXAMPLES), DIM)
    np.testing.assert_allclose(pooled.numpy(), _numpy_pool(w, EXAMPLES), rtol=1e-6)


def test_lookup_of_a_batch_without_ids_is_zeros():
    table = EmbeddingTable("t", VOCAB, DIM, E.SGD(0.1))
    ids = tf.ragged.constant([[], [], []], dtype=tf.int64, ragged_rank=1)
    np.testing.assert_array_equal(table.lookup(ids).numpy(), np.zeros((3, DIM)))


def test_lookup_matches_tpu_embedding_for_serving_on_the_same_weights(tmp_path):
    w = _weights(3)
    config = E.TableConfig(VOCAB, DIM, combiner="sum", name="t", optimizer=E.Adagrad(0.1))
    serving = E.TPUEmbeddingForServing(
        {"slot_1_0": E.FeatureConfig(table=config, name="slot_1_0")}, optimizer=E.Adagrad(0.1)
    )
    serving.build()
    serving.embedding_tables[config].assign(w)
    table = EmbeddingTable("t", VOCAB, DIM, config.optimizer, initializer=_const(w))
    ids = _parsed_ids(EXAMPLES, tmp_path)
    expected = serving({"slot_1_0": ids})["slot_1_0"]
    np.testing.assert_allclose(table.lookup(ids).numpy(), expected.numpy(), rtol=1e-6)


def test_gradient_is_indexed_slices_over_looked_up_rows():
    table = EmbeddingTable("t", VOCAB, DIM, E.SGD(0.1))
    ids = tf.ragged.constant(EXAMPLES, dtype=tf.int64, ragged_rank=1)
    upstream = np.random.default_rng(1).normal(size=(len(EXAMPLES), DIM)).astype(np.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(table.lookup(ids) * upstream)
    grad = tape.gradient(loss, table.variable)
    assert isinstance(grad, tf.IndexedSlices)
    assert grad.values.shape[0] == sum(len(e) for e in EXAMPLES)
    assert list(grad.dense_shape.numpy()) == [VOCAB, DIM]
    dense = np.zeros((VOCAB, DIM), np.float32)
    np.add.at(dense, grad.indices.numpy(), grad.values.numpy())
    expected = np.zeros((VOCAB, DIM), np.float32)
    for b, example in enumerate(EXAMPLES):
        for row in example:
            expected[row] += upstream[b]
    np.testing.assert_allclose(dense, expected, rtol=1e-6)


def test_training_step_graph_never_reads_the_whole_table():
    table = EmbeddingTable("t", VOCAB, DIM, E.FTRL(0.1))

    @tf.function
    def step(ids):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(table.lookup(ids))
        table.apply_gradient(tape.gradient(loss, table.variable))

    spec = tf.RaggedTensorSpec([None, None], tf.int64, ragged_rank=1)
    graph = step.get_concrete_function(spec).graph
    op_types = {op.type for op in graph.get_operations()}
    assert {"ResourceGather", "ResourceScatterUpdate"} <= op_types
    assert "ReadVariableOp" not in op_types  # a full [vocab, dim] read would show up here


# ---------------------------------------------------------------- apply_gradient
def test_duplicate_ids_are_summed_before_the_update():
    table = EmbeddingTable("t", VOCAB, DIM, E.Adagrad(1.0, initial_accumulator_value=1.0), "zeros")
    grad = tf.IndexedSlices(
        tf.constant([[1.0] * DIM, [2.0] * DIM]), tf.constant([5, 5]), tf.constant([VOCAB, DIM])
    )
    table.apply_gradient(grad)
    # Summed: a = 1 + 3**2 = 10, w = -3 / sqrt(10); applied one by one it would differ.
    np.testing.assert_allclose(table.slot_variables["accumulators"].numpy()[5], 10.0)
    np.testing.assert_allclose(table.variable.numpy()[5], -3.0 / math.sqrt(10.0), rtol=1e-6)


def test_none_gradient_updates_nothing():
    table = EmbeddingTable("t", VOCAB, DIM, E.Adam(0.1))
    before = [v.numpy().copy() for v in table.variables]
    table.apply_gradient(None)
    for value, variable in zip(before, table.variables, strict=True):
        np.testing.assert_array_equal(value, variable.numpy())


def test_gradient_without_ids_updates_nothing():
    table = EmbeddingTable("t", VOCAB, DIM, E.FTRL(0.1))
    before = [v.numpy().copy() for v in table.variables]
    grad = tf.IndexedSlices(
        tf.zeros([0, DIM]), tf.zeros([0], tf.int64), tf.constant([VOCAB, DIM], tf.int64)
    )
    tf.function(table.apply_gradient)(grad)
    for value, variable in zip(before, table.variables, strict=True):
        np.testing.assert_array_equal(value, variable.numpy())


def test_dense_gradient_is_rejected():
    table = EmbeddingTable("table_3_0", VOCAB, DIM, E.SGD(0.1))
    with pytest.raises(ValueError, match=r"`grad` of table 'table_3_0' must be a tf.IndexedSlices"):
        table.apply_gradient(tf.zeros([VOCAB, DIM]))


def test_gradient_of_the_wrong_width_is_rejected():
    table = EmbeddingTable("t", VOCAB, DIM, E.SGD(0.1))
    grad = tf.IndexedSlices(tf.ones([1, DIM + 1]), tf.constant([1]), tf.constant([VOCAB, DIM + 1]))
    with pytest.raises(ValueError, match=r"`grad.values` of table 't' must have shape \[n, 4\]"):
        table.apply_gradient(grad)


@pytest.mark.parametrize("bad_id", [-1, VOCAB], ids=["negative", "vocab_size"])
def test_out_of_range_gradient_ids_are_an_error_naming_the_table(bad_id):
    table = EmbeddingTable("table_9_1", VOCAB, DIM, E.Adam(0.1))
    grad = tf.IndexedSlices(tf.ones([1, DIM]), tf.constant([bad_id]), tf.constant([VOCAB, DIM]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"table table_9_1 must lie in"):
        table.apply_gradient(grad)


# ---------------------------------------------------------------- lookup errors
@pytest.mark.parametrize("bad_id", [-3, VOCAB, VOCAB + 100], ids=["negative", "edge", "far"])
@pytest.mark.parametrize("in_function", [False, True], ids=["eager", "tf_function"])
def test_out_of_range_lookup_ids_are_an_error_naming_the_table(bad_id, in_function):
    table = EmbeddingTable("table_2_0", VOCAB, DIM, E.SGD(0.1))
    lookup = tf.function(table.lookup) if in_function else table.lookup
    ids = tf.ragged.constant([[1], [bad_id]], dtype=tf.int64, ragged_rank=1)
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=r"`ids` of table table_2_0 must lie in \[0, 20\)"
    ):
        lookup(ids)


@pytest.mark.parametrize(
    "ids, match",
    [
        (tf.constant([[1, 2]], tf.int64), "must be a tf.SparseTensor or tf.RaggedTensor"),
        (np.array([[1, 2]]), "must be a tf.SparseTensor or tf.RaggedTensor"),
        (tf.ragged.constant([[1.0, 2.0]]), "must be int32 or int64"),
        (tf.sparse.from_dense(tf.constant([[[1]]], tf.int64)), "must be a SparseTensor of rank 2"),
        (tf.ragged.constant([[[1], [2]]], dtype=tf.int64), r"must be a RaggedTensor \[B, None\]"),
    ],
    ids=["dense", "numpy", "float", "sparse_rank3", "ragged_rank2"],
)
def test_lookup_of_unsupported_ids_is_rejected(ids, match):
    table = EmbeddingTable("t", VOCAB, DIM, E.SGD(0.1))
    with pytest.raises(ValueError, match=rf"`ids` of table 't' {match}"):
        table.lookup(ids)


# ---------------------------------------------------------------- construction
def test_variables_slots_and_parameter_copies():
    table = EmbeddingTable("table_4_1", VOCAB, DIM, E.FTRL(0.1, initial_accumulator_value=0.25))
    assert [v.name for v in table.variables] == [
        "table_4_1/embeddings:0",
        "table_4_1/accumulators:0",
        "table_4_1/linears:0",
    ]
    assert table.trainable_variables == (table.variable,)
    assert all(v.shape == (VOCAB, DIM) for v in table.variables)
    np.testing.assert_array_equal(table.slot_variables["accumulators"].numpy(), 0.25)
    np.testing.assert_array_equal(table.slot_variables["linears"].numpy(), 0.0)
    assert table.parameter_copies == 3
    assert (table.vocab_size, table.dim, type(table.optimizer)) == (VOCAB, DIM, E.FTRL)


def test_default_initializer_is_truncated_normal_with_stddev_one_over_sqrt_dim():
    tf.random.set_seed(7)
    dim = 16
    table = EmbeddingTable("t", 2000, dim, E.SGD(0.1))
    values = table.variable.numpy().ravel()
    n, sigma = values.size, 1.0 / math.sqrt(dim)
    # A normal truncated at 2 sigma has stddev 0.8796 sigma; the sample stddev's standard
    # error is about stddev / sqrt(2n), its mean's stddev / sqrt(n): allow 5 of each.
    expected_std = 0.8796 * sigma
    assert abs(values.std() - expected_std) < 5 * expected_std / math.sqrt(2 * n)
    assert abs(values.mean()) < 5 * expected_std / math.sqrt(n)
    assert np.abs(values).max() <= 2 * sigma + 1e-6


@pytest.mark.parametrize(
    "initializer, check",
    [
        (keras.initializers.Constant(0.5), lambda w: np.all(w == 0.5)),
        ("ones", lambda w: np.all(w == 1.0)),
        (
            keras.initializers.RandomUniform(-0.001, 0.001, seed=3),
            lambda w: np.abs(w).max() <= 0.001 and w.std() > 0,
        ),
        (lambda shape, dtype: tf.fill(shape, 2.0), lambda w: np.all(w == 2.0)),
    ],
    ids=["keras_constant", "keras_name", "keras_uniform", "callable"],
)
def test_initializers_fill_the_table(initializer, check):
    table = EmbeddingTable("t", VOCAB, DIM, E.SGD(0.1), initializer=initializer)
    assert check(table.variable.numpy())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": "table 3"}, r"`name` of an embedding table must be a Python identifier"),
        ({"name": 3}, r"`name` of an embedding table must be a Python identifier"),
        ({"vocab_size": 0}, r"`vocab_size` of table 't' must be an integer >= 1"),
        ({"vocab_size": 10.0}, r"`vocab_size` of table 't' must be an integer >= 1"),
        ({"vocab_size": True}, r"`vocab_size` of table 't' must be an integer >= 1"),
        ({"dim": -2}, r"`dim` of table 't' must be an integer >= 1"),
        ({"initializer": 0.1}, r"`initializer` of table 't' must be callable"),
        ({"initializer": "no_such_init"}, r"`initializer` of table 't' must name a Keras"),
        (
            {"initializer": lambda shape, dtype: tf.zeros([3, 3])},
            r"`initializer` of table 't' must return a tensor of shape \[20, 4\]",
        ),
        ({"optimizer": keras.optimizers.Adam()}, r"`optimizer` of table 't' must be one of"),
        ({"optimizer": E.SGD(0.1, clipvalue=1.0)}, r"`clipvalue` of the optimizer of table 't'"),
    ],
    ids=[
        "name_with_space",
        "name_not_a_string",
        "vocab_size_zero",
        "vocab_size_float",
        "vocab_size_bool",
        "dim_negative",
        "initializer_not_callable",
        "initializer_unknown_name",
        "initializer_wrong_shape",
        "keras_optimizer",
        "unsupported_option",
    ],
)
def test_bad_constructor_arguments_are_rejected(kwargs, match):
    arguments = {"name": "t", "vocab_size": VOCAB, "dim": DIM, "optimizer": E.SGD(0.1)}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=match):
        EmbeddingTable(**arguments)


def test_table_first_built_while_tracing_a_tf_function_is_created_once():
    holder = {}

    @tf.function
    def forward(ids):
        if "table" not in holder:
            holder["table"] = EmbeddingTable("t", VOCAB, DIM, E.Adagrad(0.1), "ones")
        table = holder["table"]
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(table.lookup(ids))
        table.apply_gradient(tape.gradient(loss, table.variable))
        return loss

    ids = tf.ragged.constant([[1, 2]], dtype=tf.int64, ragged_rank=1)
    forward(ids)
    forward(ids)
    row = holder["table"].variable.numpy()[1]
    # Two Adagrad steps with g = 1 from w = 1, a = 0.1.
    expected = 1.0 - 0.1 / math.sqrt(1.1) - 0.1 / math.sqrt(2.1)
    np.testing.assert_allclose(row, expected, rtol=1e-6)


# ---------------------------------------------------------------- checkpoints
def _train_steps(table, steps):
    @tf.function
    def step(ids):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(table.lookup(ids) - 1.0))
        table.apply_gradient(tape.gradient(loss, table.variable))

    for ids in steps:
        step(tf.ragged.constant(ids, dtype=tf.int64, ragged_rank=1))


@pytest.mark.parametrize(
    "make_optimizer",
    [lambda: E.Adam(0.05), lambda: E.FTRL(0.1, l1_regularization_strength=0.001)],
    ids=["adam", "ftrl"],
)
def test_checkpoint_round_trip_restores_table_and_optimizer_slots(make_optimizer, tmp_path):
    trained = EmbeddingTable("t", VOCAB, DIM, make_optimizer(), initializer=_const(_weights(1)))
    _train_steps(trained, [[[1, 2, 2], [5]], [[2, 9]]])
    path = tf.train.Checkpoint(table=trained).save(str(tmp_path / "ckpt"))

    restored = EmbeddingTable("t", VOCAB, DIM, make_optimizer(), initializer=_const(_weights(2)))
    tf.train.Checkpoint(table=restored).restore(path).assert_consumed()
    for a, b in zip(trained.variables, restored.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    # Training on from the restored state continues exactly where the saved run was.
    _train_steps(trained, [[[2, 5]]])
    _train_steps(restored, [[[2, 5]]])
    for a, b in zip(trained.variables, restored.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


# ---------------------------------------------------------------- tf.distribute
STRATEGY_STEPS = [[[1, 2, 2], [5], []], [[2, 9], [], [1]]]


def _strategy_run(strategy, make_optimizer):
    with strategy.scope():
        table = EmbeddingTable("t", VOCAB, DIM, make_optimizer(), initializer=_const(_weights()))

    def replica_step(ids):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(table.lookup(ids) - 1.0))
        table.apply_gradient(tape.gradient(loss, table.variable))
        return loss

    @tf.function
    def step(ids):
        return strategy.run(replica_step, args=(ids,))

    for ids in STRATEGY_STEPS:
        step(tf.ragged.constant(ids, dtype=tf.int64, ragged_rank=1))
    return table


@pytest.mark.parametrize(
    "make_strategy",
    [
        lambda: tf.distribute.MirroredStrategy(["/cpu:0"]),
        lambda: tf.distribute.OneDeviceStrategy("/cpu:0"),
    ],
    ids=["mirrored", "one_device"],
)
@pytest.mark.parametrize(
    "make_optimizer", [lambda: E.Adagrad(0.1), lambda: E.Adam(0.1)], ids=["adagrad", "adam"]
)
def test_update_in_replica_context_equals_update_without_strategy(make_strategy, make_optimizer):
    plain = EmbeddingTable("t", VOCAB, DIM, make_optimizer(), initializer=_const(_weights()))
    _train_steps(plain, STRATEGY_STEPS)
    distributed = _strategy_run(make_strategy(), make_optimizer)
    assert not np.array_equal(plain.variable.numpy(), _weights())
    for a, b in zip(plain.variables, distributed.variables, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7)


def test_update_in_cross_replica_context_updates_the_mirrored_table():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        table = EmbeddingTable("t", VOCAB, DIM, E.SGD(0.5), "zeros")
        table.apply_gradient(
            tf.IndexedSlices(tf.ones([2, DIM]), tf.constant([4, 4]), tf.constant([VOCAB, DIM]))
        )
    np.testing.assert_array_equal(table.variable.numpy()[4], -1.0)
    np.testing.assert_array_equal(table.variable.numpy()[3], 0.0)


def test_table_created_outside_the_strategy_scope_is_rejected_on_update():
    table = EmbeddingTable("table_5_0", VOCAB, DIM, E.SGD(0.1))
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    grad = tf.IndexedSlices(tf.ones([1, DIM]), tf.constant([1]), tf.constant([VOCAB, DIM]))
    with pytest.raises(ValueError, match=r"table 'table_5_0' must be created inside the scope"):
        strategy.run(table.apply_gradient, args=(grad,))


_TWO_REPLICAS = textwrap.dedent(
    """
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    from nwsrec.embedding import EmbeddingTable

    E = tf.tpu.experimental.embedding
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        table = EmbeddingTable("t", 6, 2, E.Adagrad(1.0, initial_accumulator_value=1.0), "zeros")

    @tf.function
    def step():
        def fn():
            # The trainer's already-reduced gradient: the same on every replica.
            grad = tf.IndexedSlices(tf.fill([2, 2], 1.5), tf.constant([3, 3]), [6, 2])
            table.apply_gradient(grad)
        strategy.run(fn)

    step()
    copies = [v.numpy() for v in table.variable.values]
    accumulators = [v.numpy() for v in table.slot_variables["accumulators"].values]
    assert len(copies) == 2, copies
    expected = -3.0 / np.sqrt(10.0)
    for w, a in zip(copies, accumulators):
        np.testing.assert_allclose(w[3], expected, rtol=1e-6)
        np.testing.assert_array_equal(np.delete(w, 3, axis=0), 0.0)
        np.testing.assert_allclose(a[3], 10.0)
    print("OK")
    """
)


def test_two_replica_mirrored_update_reaches_every_local_copy_once():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, "-c", _TWO_REPLICAS], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0 and result.stdout.strip().endswith("OK"), result.stderr[-3000:]


def test_check_ids_false_skips_the_range_check_and_true_keeps_it():
    table = EmbeddingTable("t", VOCAB, DIM, E.Adagrad(0.1))
    grad = tf.IndexedSlices(tf.ones([2, DIM]), tf.constant([1, 4], tf.int64))
    for check, expected in ((True, True), (False, False)):
        fn = tf.function(lambda g, check=check: table.apply_gradient(g, check_ids=check))
        ops = {op.type for op in fn.get_concrete_function(grad).graph.get_operations()}
        assert ("All" in ops) is expected  # the reduce_all of the range check
    bad = tf.IndexedSlices(tf.ones([1, DIM]), tf.constant([VOCAB + 3], tf.int64))
    with pytest.raises(tf.errors.InvalidArgumentError, match="must lie in"):
        table.apply_gradient(bad)


def test_sum_pool_and_its_gradient_equal_unsorted_segment_sum_without_the_negative_mask():
    from nwsrec.embedding.table import sum_pool

    rows = tf.constant(np.random.default_rng(3).normal(size=(7, DIM)), tf.float32)
    examples = tf.constant([0, 0, 2, 3, 3, 3, 5])
    upstream = tf.constant(np.random.default_rng(4).normal(size=(6, DIM)), tf.float32)
    results = []
    for pool in (sum_pool, tf.math.unsorted_segment_sum):
        with tf.GradientTape() as tape:
            tape.watch(rows)
            pooled = pool(rows, examples, 6)
            loss = tf.reduce_sum(pooled * upstream)
        results.append((pooled.numpy(), tape.gradient(loss, rows).numpy()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])

    @tf.function
    def grad_graph(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(sum_pool(x, examples, 6))
        return tape.gradient(loss, x)

    ops = {op.type for op in grad_graph.get_concrete_function(rows).graph.get_operations()}
    assert "GatherV2" in ops and "SelectV2" not in ops


@pytest.mark.parametrize("width", [1, 3, 16, 40])
@pytest.mark.parametrize("rows,segments", [(0, 4), (9, 1), (300, 7), (300, 500)])
def test_segment_sum_rows_is_bit_identical_to_unsorted_segment_sum(width, rows, segments):
    from nwsrec.embedding.table import segment_sum_rows

    rng = np.random.default_rng(rows + width)
    # Magnitudes over six decades: a different order of the additions would show.
    values = rng.normal(size=(rows, width)) * 10.0 ** rng.integers(-3, 3, size=(rows, 1))
    values = tf.constant(values, tf.float32)
    ids = tf.constant(rng.integers(0, segments, rows), tf.int32)
    expected = tf.math.unsorted_segment_sum(values, ids, segments).numpy()
    for run in (lambda f: f(), lambda f: tf.function(f, autograph=False)()):
        got = run(lambda: segment_sum_rows(values, ids, tf.constant(segments))).numpy()
        assert got.shape == expected.shape
        np.testing.assert_array_equal(got.view(np.int32), expected.view(np.int32))


def test_wide_rows_are_summed_by_a_sparse_matmul_on_cpu():
    from nwsrec.embedding.table import segment_sum_rows

    @tf.function
    def pool(x, ids):
        return segment_sum_rows(x, ids, 4), segment_sum_rows(x[:, :1], ids, 4)

    graph = pool.get_concrete_function(
        tf.TensorSpec([None, 16], tf.float32), tf.TensorSpec([None], tf.int64)
    ).graph
    ops = [op.type for op in graph.get_operations()]
    if tf.config.list_logical_devices("GPU"):
        assert ops.count("UnsortedSegmentSum") == 2
    else:
        assert ops.count("SparseTensorDenseMatMul") == 1
        assert ops.count("UnsortedSegmentSum") == 1  # one-wide rows


@pytest.mark.parametrize(
    "segments,num_segments,passes",
    [
        ([0, 1, 2, 3], 4, True),  # one row per segment, in order: passed through
        ([0, 1, 2], 4, False),  # an empty last segment
        ([1, 0, 2, 3], 4, False),  # out of order
        ([0, 0, 2, 3], 4, False),  # two rows in one segment
        ([], 0, True),
    ],
)
def test_pool_or_pass_equals_sum_pool_and_passes_rows_where_each_segment_has_one(
    segments, num_segments, passes
):
    from nwsrec.embedding.table import one_row_each, pool_or_pass, sum_pool

    rng = np.random.default_rng(len(segments))
    rows = tf.constant(rng.normal(size=(len(segments), DIM)), tf.float32)
    upstream = tf.constant(rng.normal(size=(num_segments, DIM)), tf.float32)
    ids = tf.constant(segments, tf.int64)

    def pool_and_grad(pool):
        with tf.GradientTape() as tape:
            tape.watch(rows)
            pooled = pool(rows)
            loss = tf.reduce_sum(pooled * upstream)
        return pooled, tape.gradient(loss, rows)

    one_each = one_row_each(ids, num_segments)
    assert bool(one_each) == passes
    expected = pool_and_grad(lambda x: sum_pool(x, ids, num_segments))
    for run in (lambda f: f(), lambda f: tf.function(f, autograph=False)()):
        got = run(lambda: pool_and_grad(lambda x: pool_or_pass(x, ids, num_segments, one_each)))
        for g, e in zip(got, expected, strict=True):
            np.testing.assert_array_equal(g.numpy(), e.numpy())


def test_prepared_ids_are_shared_by_tables_of_one_vocab_size_and_refused_by_others():
    ids = tf.ragged.constant(EXAMPLES, dtype=tf.int64, ragged_rank=1)
    bias = EmbeddingTable("b", VOCAB, 1, E.SGD(0.1))
    vector = EmbeddingTable("v", VOCAB, DIM, E.SGD(0.1))
    prepared = bias.prepare(ids)
    np.testing.assert_array_equal(vector.lookup(prepared).numpy(), vector.lookup(ids).numpy())
    np.testing.assert_array_equal(bias.lookup(prepared).numpy(), bias.lookup(ids).numpy())
    other = EmbeddingTable("o", VOCAB + 1, DIM, E.SGD(0.1))
    with pytest.raises(ValueError, match=f"prepared for {VOCAB + 1} rows"):
        other.lookup(prepared)
