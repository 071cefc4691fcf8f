"""Table groups: tables of one width and optimizer in one variable, one gather per group."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import nwsrec.features as features
from nwsrec.embedding import (
    EmbeddingTable,
    TableCollection,
    TableGroup,
    TableSpec,
    TableView,
    plan_groups,
)
from nwsrec.embedding.specs import group_names, optimizer_key
from nwsrec.training.checkpoints import restore_in_parts, trackable_tables

E = tf.tpu.experimental.embedding


def _specs(ftrl=None, adagrad=None):
    ftrl = ftrl or E.FTRL(0.1)
    adagrad = adagrad or E.Adagrad(0.2)
    return [
        TableSpec("table_1_0", 10, 1, ftrl, "zeros"),
        TableSpec("table_1_1", 10, 4, adagrad),
        TableSpec("table_2_0", 7, 1, ftrl, "zeros"),
        TableSpec("table_2_1", 7, 4, adagrad),
        TableSpec("table_3_1", 5, 8, adagrad),
    ]


def _ids(rows):
    return tf.ragged.constant(rows, dtype=tf.int64, ragged_rank=1)


BATCH = {
    "table_1_0": [[1, 9, 9], [], [3]],
    "table_1_1": [[1, 9, 9], [], [3]],
    "table_2_0": [[0], [6, 2], []],
    "table_2_1": [[0], [6, 2], []],
    "table_3_1": [[4], [4], [0, 1]],
}


# ----------------------------------------------------------------------- the plan


def test_tables_of_one_width_and_optimizer_share_a_group_in_spec_order():
    plans = plan_groups(_specs())
    assert [(p.name, [m.name for m in p.members], p.offsets, p.rows) for p in plans] == [
        ("ftrl_dim1", ["table_1_0", "table_2_0"], (0, 10), 17),
        ("adagrad_dim4", ["table_1_1", "table_2_1"], (0, 10), 17),
        ("adagrad_dim8", ["table_3_1"], (0,), 5),
    ]


def test_other_hyperparameters_split_a_group_equal_ones_do_not():
    # Equal objects (another Adagrad(0.2)) group; another learning rate does not.
    specs = [
        TableSpec("a", 3, 4, E.Adagrad(0.2)),
        TableSpec("b", 3, 4, E.Adagrad(0.2)),
        TableSpec("c", 3, 4, E.Adagrad(0.5)),
        TableSpec("d", 3, 4, E.Adagrad(0.2, initial_accumulator_value=0.3)),
    ]
    plans = plan_groups(specs)
    assert [(p.name, [m.name for m in p.members]) for p in plans] == [
        ("adagrad_dim4", ["a", "b"]),
        ("adagrad_dim4_1", ["c"]),
        ("adagrad_dim4_2", ["d"]),
    ]
    rate = tf.Variable(0.1)  # callables compare by identity
    schedule = lambda: rate  # noqa: E731
    assert optimizer_key(E.SGD(schedule)) == optimizer_key(E.SGD(schedule))
    assert optimizer_key(E.SGD(schedule)) != optimizer_key(E.SGD(lambda: rate))


def test_ungrouped_plan_is_one_group_per_table_named_as_the_table():
    plans = plan_groups(_specs(), grouped=False)
    assert [p.name for p in plans] == [s.name for s in _specs()]
    assert group_names([(5, 1, E.SGD(0.1))], grouped=False, names=["t"]) == ["t"]
    with pytest.raises(ValueError, match="`names` must name every table"):
        group_names([(5, 1, E.SGD(0.1))], grouped=False)


def test_a_group_holds_at_most_the_cap_or_the_largest_table(monkeypatch):
    import nwsrec.embedding.specs as specs

    monkeypatch.setattr(specs, "GROUP_VALUES_CAP", 100)
    sgd = E.SGD(0.1)
    # 10 values per table (5 x 2), cap 100: ten tables fill a group, the 11th starts another.
    assert group_names([(5, 2, sgd)] * 11) == ["sgd_dim2"] * 10 + ["sgd_dim2_part1"]
    # A table larger than the cap raises it to that table's size (300 values).
    names = group_names([(150, 2, sgd), (100, 2, sgd), (50, 2, sgd), (50, 2, sgd)])
    assert names == ["sgd_dim2", "sgd_dim2_part1", "sgd_dim2_part1", "sgd_dim2_part2"]
    plans = plan_groups([TableSpec(f"t{i}", 60, 1, sgd) for i in range(3)])
    assert [(p.name, p.rows, p.offsets) for p in plans] == [
        ("sgd_dim1", 60, (0,)),
        ("sgd_dim1_part1", 60, (0,)),
        ("sgd_dim1_part2", 60, (0,)),
    ]


def test_duplicate_table_names_and_bad_specs_are_value_errors():
    spec = TableSpec("t", 3, 2, E.SGD(0.1))
    with pytest.raises(ValueError, match="`specs` must have unique table names"):
        plan_groups([spec, spec])
    with pytest.raises(ValueError, match=r"`rows` of table 't' must be an integer >= 1"):
        TableSpec("t", 0, 2, E.SGD(0.1))
    with pytest.raises(ValueError, match="`name` of a table spec must be a Python identifier"):
        TableSpec("a b", 3, 2, E.SGD(0.1))


# ------------------------------------------------------------ lookup and gradients


def _separate_tables(collection):
    """One EmbeddingTable per table with the group's rows: the layout before groups."""
    out = {}
    for name, view in collection.tables.items():
        value = view.variable.numpy()
        out[name] = EmbeddingTable(
            name, view.vocab_size, view.dim, view.optimizer, lambda shape, dtype, v=value: v
        )
    return out


def test_group_lookup_and_training_equal_one_table_per_slice():
    collection = TableCollection(_specs())
    separate = _separate_tables(collection)
    upstream = {
        n: tf.random.stateless_normal([3, v.dim], [1, i])
        for i, (n, v) in enumerate(collection.tables.items())
    }

    @tf.function
    def grouped_step():
        prepared = {n: collection.prepare(n, _ids(rows)) for n, rows in BATCH.items()}
        variables = [g.variable for g in collection.groups.values()]
        with tf.GradientTape() as tape:
            pooled = collection.lookup(prepared)
            loss = tf.add_n([tf.reduce_sum(pooled[n] * upstream[n]) for n in BATCH])
        for group, grad in zip(
            collection.groups.values(), tape.gradient(loss, variables), strict=True
        ):
            group.apply_gradient(grad, check_ids=False)
        return pooled

    @tf.function
    def separate_step():
        tables = list(separate.values())
        with tf.GradientTape() as tape:
            pooled = {n: separate[n].lookup(_ids(rows)) for n, rows in BATCH.items()}
            loss = tf.add_n([tf.reduce_sum(pooled[n] * upstream[n]) for n in BATCH])
        for table, grad in zip(
            tables, tape.gradient(loss, [t.variable for t in tables]), strict=True
        ):
            table.apply_gradient(grad)
        return pooled

    for _ in range(3):
        grouped, alone = grouped_step(), separate_step()
        for name in BATCH:
            np.testing.assert_allclose(
                grouped[name].numpy(), alone[name].numpy(), rtol=1e-5, atol=1e-7
            )
    for name, view in collection.tables.items():
        np.testing.assert_allclose(
            view.variable.numpy(), separate[name].variable.numpy(), rtol=1e-5, atol=1e-7
        )
        for slot, value in view.slot_variables.items():
            np.testing.assert_allclose(
                value.numpy(), separate[name].slot_variables[slot].numpy(), rtol=1e-5, atol=1e-7
            )


def _op_count(function, op_type):
    graph = function.get_concrete_function().graph
    return sum(1 for op in graph.get_operations() if op.type == op_type)


def test_a_step_gathers_and_scatters_once_per_group_not_per_table():
    def counts(grouped):
        collection = TableCollection(_specs(), grouped=grouped)

        @tf.function
        def step():
            prepared = {n: collection.prepare(n, _ids(rows)) for n, rows in BATCH.items()}
            variables = [g.variable for g in collection.groups.values()]
            with tf.GradientTape() as tape:
                pooled = collection.lookup(prepared)
                loss = tf.add_n([tf.reduce_sum(p) for p in pooled.values()])
            for group, grad in zip(
                collection.groups.values(), tape.gradient(loss, variables), strict=True
            ):
                group.apply_gradient(grad, check_ids=False)

        return [_op_count(step, op) for op in ("ResourceGather", "Unique", "ResourceScatterUpdate")]

    # 3 groups: per group 1 lookup gather + (1 + slots) update gathers; FTRL 2 slots,
    # Adagrad 1. Per table (5 tables: 2 FTRL, 3 Adagrad) it is 2 * 4 + 3 * 3.
    assert counts(grouped=True) == [4 + 3 + 3, 3, 3 + 2 + 2]
    assert counts(grouped=False) == [2 * 4 + 3 * 3, 5, 2 * 3 + 3 * 2]


def test_views_show_each_tables_rows_of_its_group():
    collection = TableCollection(_specs())
    group = collection.groups["adagrad_dim4"]
    assert isinstance(group, TableGroup) and isinstance(group, EmbeddingTable)
    whole = group.variable.numpy()
    view = collection.tables["table_2_1"]
    assert isinstance(view, TableView)
    assert (view.vocab_size, view.dim, view.offset, view.group is group) == (7, 4, 10, True)
    np.testing.assert_array_equal(view.variable.numpy(), whole[10:17])
    assert view.variables[1].shape == (7, 4)  # the accumulators' rows
    np.testing.assert_array_equal(
        collection.tables["table_3_1"].variable.numpy(),
        collection.groups["adagrad_dim8"].variable.numpy(),
    )
    # Each member was filled by its own initializer: zeros for the biases.
    assert np.all(collection.groups["ftrl_dim1"].variable.numpy() == 0.0)
    # Lookups through a view read its rows only.
    pooled = view.lookup(_ids([[0, 6], []])).numpy()
    np.testing.assert_allclose(pooled, [whole[10] + whole[16], np.zeros(4)], rtol=1e-6)


def test_an_id_outside_its_table_is_an_error_even_when_the_group_has_that_row():
    collection = TableCollection(_specs())
    # Row 12 exists in the group (17 rows) but not in table_2_1 (7 rows).
    with pytest.raises(tf.errors.InvalidArgumentError, match="table_2_1 must lie in"):
        collection.prepare("table_2_1", _ids([[12]]))


@pytest.mark.parametrize("traced", [False, True])
@pytest.mark.parametrize(
    "batch,table,received",
    [
        # Tables of two sizes in one group: 12 is a row of the group and of table_1_1.
        ({"table_1_1": [[1], [9]], "table_2_1": [[12], [3]]}, "table_2_1", "12"),
        ({"table_1_1": [[10], [-1]], "table_2_1": [[0], [3]]}, "table_1_1", r"10\W+-1"),
        # Tables of one size: checked together, the first with an id outside named.
        ({"t_a": [[0], [4]], "t_b": [[5, 9], []], "t_c": [[7], [1]]}, "t_b", r"5\W+9\W+7"),
    ],
)
def test_a_group_checks_its_tables_ids_at_once_and_names_the_first_outside(
    batch, table, received, traced
):
    specs = _specs() + [TableSpec(n, 5, 4, E.Adagrad(0.2)) for n in ("t_a", "t_b", "t_c")]
    collection = TableCollection(specs)

    def lookup():
        prepared = {n: collection.prepare(n, _ids(rows), check=False) for n, rows in batch.items()}
        return collection.lookup(prepared)

    run = tf.function(lookup, autograph=False) if traced else lookup
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=rf"{table} must lie in .*ids =\W*{received}"
    ):
        run()
    good = {n: [[0], []] for n in batch}
    pooled = collection.lookup(
        {n: collection.prepare(n, _ids(r), check=False) for n, r in good.items()}
    )
    assert set(pooled) == set(batch)


@pytest.mark.parametrize(
    "batch",
    [
        {n: [[1], [0], [4]] for n in BATCH},  # one id per example: passed through on CPU
        BATCH,
    ],
)
def test_lookup_and_gradients_are_the_same_with_the_gpu_machine_forms(batch, monkeypatch):
    import nwsrec.embedding.collection as collection_module
    import nwsrec.embedding.table as table_module

    collection = TableCollection(_specs())
    variables = [g.variable for g in collection.groups.values()]

    def step():
        prepared = {n: collection.prepare(n, _ids(rows), check=False) for n, rows in batch.items()}
        with tf.GradientTape() as tape:
            pooled = collection.lookup(prepared)
            loss = tf.add_n([tf.reduce_sum(p * p) for p in pooled.values()])
        grads = tape.gradient(loss, variables)
        return pooled, [(tf.convert_to_tensor(g.values), g.indices) for g in grads]

    cpu = tf.function(step, autograph=False)()
    monkeypatch.setattr(collection_module, "has_gpu", lambda: True)
    monkeypatch.setattr(table_module, "has_gpu", lambda: True)
    gpu_forms = tf.function(step, autograph=False)()
    for name in batch:
        np.testing.assert_array_equal(cpu[0][name].numpy(), gpu_forms[0][name].numpy())
    for (values, ids), (gpu_values, gpu_ids) in zip(cpu[1], gpu_forms[1], strict=True):
        np.testing.assert_array_equal(values.numpy(), gpu_values.numpy())
        np.testing.assert_array_equal(ids.numpy(), gpu_ids.numpy())


def test_same_seed_same_groups_byte_identical():
    def build():
        tf.keras.utils.set_random_seed(7)
        collection = TableCollection(_specs())
        return {n: g.variable.numpy() for n, g in collection.groups.items()}

    first, second = build(), build()
    for name in first:
        assert first[name].tobytes() == second[name].tobytes()
    assert np.std(first["adagrad_dim4"]) > 0  # random, not a constant fill


def test_rowwise_adagrad_groups_keep_one_accumulator_per_row():
    specs = [TableSpec(f"t{i}", 6, 4, features.AdagradRowwise(0.1)) for i in range(3)]
    collection = TableCollection(specs)
    (group,) = collection.groups.values()
    assert group.slot_variables["accumulators"].shape == (18, 1)
    assert collection.tables["t1"].slot_variables["accumulators"].shape == (6, 1)


# ------------------------------------------------------------------ checkpoints


def test_a_checkpoint_written_before_groups_restores_table_by_table(tmp_path):
    # The layout before groups: one EmbeddingTable per table, keys tables/table_{s}_{i}/...
    old = TableCollection(_specs(), grouped=False)
    for group in old.groups.values():
        for variable in group.variables:
            variable.assign(tf.random.stateless_uniform(variable.shape, [3, len(group.name)]))
    path = tf.train.Checkpoint(tables=trackable_tables(old.tables)).save(str(tmp_path / "c"))
    assert sorted(trackable_tables(old.tables)) == sorted(s.name for s in _specs())

    new = TableCollection(_specs())
    assert sorted(trackable_tables(new.tables)) == ["adagrad_dim4", "adagrad_dim8", "ftrl_dim1"]
    restore_in_parts({"tables": trackable_tables(new.tables)}, path)
    for name, view in new.tables.items():
        for before, after in zip(old.tables[name].variables, view.variables, strict=True):
            np.testing.assert_array_equal(after.numpy(), before.numpy())


def test_a_grouped_checkpoint_into_ungrouped_tables_is_refused_in_one_line(tmp_path):
    grouped = TableCollection(_specs())
    path = tf.train.Checkpoint(tables=trackable_tables(grouped.tables)).save(str(tmp_path / "c"))
    ungrouped = TableCollection(_specs(), grouped=False)
    with pytest.raises(AssertionError) as info:
        restore_in_parts({"tables": trackable_tables(ungrouped.tables)}, path)
    message = str(info.value)
    assert "\n" not in message
    assert "holds tables [adagrad_dim4, adagrad_dim8, ftrl_dim1]" in message
    assert "expects [table_1_0, table_1_1" in message


def test_split_for_serving_gives_each_table_a_variable_with_its_rows():
    collection = TableCollection(_specs())
    prepared = {n: collection.prepare(n, _ids(rows)) for n, rows in BATCH.items()}
    before = collection.lookup(prepared)
    collection.split_for_serving()

    @tf.function
    def serve():
        return collection.lookup(
            {n: collection.prepare(n, _ids(rows)) for n, rows in BATCH.items()}
        )

    after = serve()
    for name in BATCH:
        np.testing.assert_allclose(after[name].numpy(), before[name].numpy(), rtol=1e-6)
    shapes = sorted(tuple(v.shape) for v in serve.get_concrete_function().variables)
    assert shapes == sorted((v.vocab_size, v.dim) for v in collection.tables.values())


def test_a_group_is_filled_table_by_table_in_place_without_a_group_sized_copy():
    # One group (2^26 values, the cap) of 4 x 64 MiB.
    peak = _peak_mib_of_a_group(
        "[TableSpec(f't{i}', 1 << 20, 16, SGD(0.1), 'ones') for i in range(4)]"
    )
    assert peak < 256 * 1.6  # MiB: the group plus about one table, not twice the group


def _peak_mib_of_a_group(specs_source: str) -> float:
    """Peak RSS growth (MiB) of building ``TableCollection(<specs_source>)`` in a fresh
    process (Linux's high-water mark, reset before the build)."""
    import os
    import subprocess
    import sys
    import textwrap

    if not os.path.exists("/proc/self/clear_refs"):
        pytest.skip("needs Linux's HWM reset")
    script = textwrap.dedent(
        f"""
        import nwsrec  # the system allocator, before TensorFlow allocates
        import keras
        import tensorflow as tf
        from nwsrec.embedding import TableCollection, TableSpec

        def kib(field):
            for line in open("/proc/self/status"):
                if line.startswith(field):
                    return int(line.split()[1])

        SGD = tf.tpu.experimental.embedding.SGD
        specs = {specs_source}
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        before = kib("VmRSS")
        collection = TableCollection(specs)
        assert len(collection.groups) == 1
        print((kib("VmHWM") - before) / 1024)
        """
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return float(out.stdout.split()[-1])


@pytest.mark.parametrize("members", [1, 2])
@pytest.mark.parametrize("initializer", ["'ones'", "keras.initializers.RandomUniform(-1, 1)"])
def test_a_large_member_is_filled_in_blocks_not_in_one_member_sized_copy(initializer, members):
    # A group of 256 MiB: one member, or a 192 MiB member and a 64 MiB one. Filled in one
    # piece a member takes the group plus its size (a random draw: 2-3 times that); in
    # blocks of 32 MiB, plus a few blocks.
    if members == 1:
        specs = f"[TableSpec('big', 4 << 20, 16, SGD(0.1), {initializer})]"
    else:
        specs = (
            f"[TableSpec('big', 3 << 20, 16, SGD(0.1), {initializer}), "
            f"TableSpec('small', 1 << 20, 16, SGD(0.1), {initializer})]"
        )
    peak = _peak_mib_of_a_group(specs)
    # Measured: 293 MiB (ones), 358 (uniform: three blocks). One piece would take at least
    # 256 + 192 = 448.
    assert peak < 256 + 5 * 32, peak


def _group_rows(initializer, monkeypatch, block_rows=3):
    """Rows of a 10-row table (then a 2-row one) of width 4 in one group, filled in
    blocks of ``block_rows`` rows."""
    import nwsrec.embedding.collection as collection_module

    monkeypatch.setattr(collection_module, "FILL_BLOCK_BYTES", 4 * 4 * block_rows)
    tf.keras.utils.set_random_seed(11)
    specs = [
        TableSpec("big", 10, 4, E.SGD(0.1), initializer),
        TableSpec("small", 2, 4, E.SGD(0.1), "zeros"),
    ]
    collection = TableCollection(specs)
    return collection.tables["big"].variable.numpy(), collection.tables["small"].variable.numpy()


def test_blocks_of_a_seeded_uniform_are_fresh_draws_of_it_and_deterministic(monkeypatch):
    import keras

    def build():
        return _group_rows(keras.initializers.RandomUniform(-0.5, 0.5, seed=5), monkeypatch)

    (big, small), (again, _) = build(), build()
    assert big.tobytes() == again.tobytes()  # same seed, same rows
    assert np.all(np.abs(big) <= 0.5) and np.all(small == 0)
    blocks = [big[i : i + 3] for i in range(0, 9, 3)]
    # A seeded Keras initializer repeats itself at each call: blocks must not.
    assert not np.array_equal(blocks[0], blocks[1]) and not np.array_equal(blocks[1], blocks[2])
    whole = keras.initializers.RandomUniform(-0.5, 0.5, seed=5)((10, 4)).numpy()
    np.testing.assert_array_equal(big[:3], whole[:3])  # block 0 is the initializer itself


def test_a_group_of_one_large_table_is_filled_in_blocks_too(monkeypatch):
    import keras

    import nwsrec.embedding.collection as collection_module

    monkeypatch.setattr(collection_module, "FILL_BLOCK_BYTES", 4 * 4 * 3)
    init = keras.initializers.RandomUniform(-0.5, 0.5, seed=5)
    collection = TableCollection([TableSpec("only", 10, 4, E.SGD(0.1), init)])
    rows = collection.tables["only"].variable.numpy()
    assert not np.array_equal(rows[:3], rows[3:6])  # fresh draws per block
    np.testing.assert_array_equal(rows[:3], init((10, 4)).numpy()[:3])


def test_a_shape_dependent_initializer_fills_a_member_in_one_call(monkeypatch):
    import keras

    big, _ = _group_rows(keras.initializers.GlorotUniform(seed=2), monkeypatch)
    whole = keras.initializers.GlorotUniform(seed=2)((10, 4)).numpy()
    np.testing.assert_array_equal(big, whole)  # fan-in of the whole table, one draw


def test_block_initializer_rules():
    import keras

    from nwsrec.embedding.table import block_initializer, resolve_initializer

    default = resolve_initializer(None, 16, "t")
    assert block_initializer(default, 3) is default
    ones = keras.initializers.Ones()
    assert block_initializer(ones, 2) is ones
    assert block_initializer(keras.initializers.HeNormal(), 1) is None
    assert block_initializer(lambda shape, dtype=None: tf.zeros(shape, dtype), 1) is None
    seeded = keras.initializers.RandomNormal(seed=9)
    assert block_initializer(seeded, 0) is seeded
    assert block_initializer(seeded, 1).seed != block_initializer(seeded, 2).seed
    with pytest.raises(ValueError, match="`block` must be >= 0"):
        block_initializer(seeded, -1)


@pytest.mark.parametrize(
    "order",
    [
        ["table_1_1", "table_2_1"],  # a whole group
        ["table_1_0", "table_1_1", "table_2_1", "other", "table_3_1"],  # runs and singles
        ["table_2_1", "table_1_1"],  # out of member order: concatenated as they are
        ["other"],
    ],
)
def test_concat_takes_a_run_of_members_by_one_transpose_bit_for_bit(order):
    collection = TableCollection(_specs())
    other = tf.reshape(tf.range(6, dtype=tf.float32), [3, 2])

    def step(fast):
        @tf.function
        def run():
            prepared = {n: collection.prepare(n, _ids(rows)) for n, rows in BATCH.items()}
            variables = [g.variable for g in collection.groups.values()]
            with tf.GradientTape() as tape:
                pooled = collection.lookup(prepared)
                tensors = [other if n == "other" else pooled[n] for n in order]
                x = collection.concat(tensors) if fast else tf.concat(tensors, axis=1)
                weights = tf.reshape(tf.range(tf.size(x[0]), dtype=tf.float32), [-1, 1])
                loss = tf.reduce_sum(tf.sin(tf.matmul(x, weights)))
            grads = tape.gradient(loss, variables)
            return x, [tf.zeros([1]) if g is None else tf.convert_to_tensor(g) for g in grads]

        return run

    fast, plain = step(True), step(False)
    (x_fast, g_fast), (x_plain, g_plain) = fast(), plain()
    np.testing.assert_array_equal(x_fast.numpy(), x_plain.numpy())
    for a, b in zip(g_fast, g_plain, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    if order[:2] == ["table_1_1", "table_2_1"]:  # the whole group: no slice gradient at all
        assert _op_count(fast, "Transpose") >= 2  # forward and its gradient
        assert _op_count(fast, "Pack") < _op_count(plain, "Pack")


def test_concat_of_nothing_is_an_error():
    with pytest.raises(ValueError, match="at least one tensor"):
        TableCollection(_specs()).concat([])
