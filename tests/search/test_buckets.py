import json

import numpy as np
import pytest
import tensorflow as tf

from nwsrec.data.buckets import frequency_buckets
from nwsrec.features import TableMemoryPlan, TableMemoryRow
from nwsrec.layers import MixedEmbedOpComb
from nwsrec.search.buckets import (
    BucketRemap,
    fold_index,
    fold_units,
    parse_unit,
    unit_name,
    units_to_slot_dims,
)
from nwsrec.search.model import WidthSearchModel, check_slot_dims, embedding_parameters

VOCAB = {1: 60, 2: 12}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Slot 1: 1-3 ids per example, Zipf-like (ids >= 50 never seen); slot 2: one id."""
    root = tmp_path_factory.mktemp("bucket_data")
    (root / "vocab.tsv").write_text("".join(f"{s}\t{v}\n" for s, v in VOCAB.items()))
    rng = np.random.default_rng(0)
    for name, n in (("train-0", 400), ("test-0", 64)):
        with tf.io.TFRecordWriter(str(root / name)) as writer:
            for _ in range(n):
                example = tf.train.Example()
                ids1 = np.minimum(rng.zipf(1.3, size=rng.integers(1, 4)) - 1, 49)
                example.features.feature["slot_1_0"].int64_list.value.extend(ids1.tolist())
                example.features.feature["slot_2_0"].int64_list.value.append(int(rng.integers(12)))
                example.features.feature["label"].float_list.value.append(float(rng.random() < 0.3))
                writer.write(example.SerializeToString())
    return root


def _params(data_dir, **overrides):
    params = {
        **WidthSearchModel.default_params(),
        "data_dir": str(data_dir),
        "batch_size": 32,
        "candidate_sizes": [0, 2, 4],
        "id_buckets": [0.2],
        "bucket_slots": [1],
        **overrides,
    }
    return WidthSearchModel.resolve_params(params)


def _batch(model, data_dir):
    dataset = model.create_input_fn(str(data_dir / "train-*"), repeat=False)(
        tf.distribute.InputContext()
    )
    return next(iter(dataset))


def test_unit_names_parse_and_fold_to_slot_dims():
    assert unit_name(3, 0) == "3:0" and unit_name(3) == "3"
    assert parse_unit("12:1") == (12, 1) and parse_unit("12") == (12, None)
    assert units_to_slot_dims({"1:1": 4, "1:0": 16, "2": 8}) == {1: [16, 4], 2: 8}
    for bad in ("a", "1:", "1:x", ":1"):
        with pytest.raises(ValueError, match="a selection unit must be"):
            parse_unit(bad)
    with pytest.raises(ValueError, match="the units of slot 1 must be 1:0 .. 1:k-1"):
        units_to_slot_dims({"1:0": 4, "1:2": 4})


def test_remap_keeps_each_bucket_s_ids_as_their_rows_like_numpy():
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 5, size=40)
    m = frequency_buckets({5: counts}, [0.3, 0.7])
    ids = [rng.integers(0, 40, size=rng.integers(0, 5)).tolist() for _ in range(30)]
    sparse = tf.ragged.constant(ids, dtype=tf.int64).to_sparse()
    per_bucket = []
    for b in range(3):
        remap = BucketRemap(5, b, m.bucket_of(5), m.row_of(5))
        for batch in (sparse, tf.ragged.constant(ids, dtype=tf.int64)):
            got = remap(batch).to_list()
            expected = [[int(m.row_of(5)[i]) for i in row if m.bucket_of(5)[i] == b] for row in ids]
            assert got == expected
        per_bucket.append(got)
    # every id of every example lands in exactly one bucket
    assert [sum(len(p[r]) for p in per_bucket) for r in range(30)] == [len(r) for r in ids]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"slot 5 must lie in \[0, 40\)"):
        BucketRemap(5, 0, m.bucket_of(5), m.row_of(5))(tf.ragged.constant([[40]], tf.int64))


def test_fold_sums_the_blocks_of_a_slot_s_buckets():
    index, width = fold_index([3, 3, 2, 3, 3, 3], [1, 1, 2, 4, 4, 4])
    assert width == 3 + 2 + 3
    x = np.arange(2 * 17, dtype=np.float32).reshape(2, 17)
    got = fold_units(tf.constant(x), index, width).numpy()
    expected = np.concatenate(
        [x[:, 0:3] + x[:, 3:6], x[:, 6:8], x[:, 8:11] + x[:, 11:14] + x[:, 14:17]], axis=1
    )
    np.testing.assert_allclose(got, expected)
    with pytest.raises(ValueError, match="must be consecutive"):
        fold_index([1, 1, 1], [1, 2, 1])


def test_fixed_mode_builds_a_table_per_bucket_of_exactly_those_widths(data_dir):
    model = WidthSearchModel(_params(data_dir, slot_dims={1: [4, 2], 2: 4}))
    m = model.id_buckets
    assert m.slots == [1] and m.num_buckets == 2
    tables = model.tables
    assert {n: (t.vocab_size, t.dim) for n, t in tables.items()} == {
        "table_1_0": (60, 1),  # the bias: one row per id of the slot
        "table_1_1": (m.rows(1)[0], 4),
        "table_1_2": (m.rows(1)[1], 2),
        "table_2_0": (12, 1),
        "table_2_1": (12, 4),
    }
    seen = int((m.counts(1) > 0).sum())
    assert seen <= 50 and m.rows(1)[1] == seen - m.rows(1)[0] + 1  # unseen ids: one row
    assert model.slot_dims == {1: [4, 2], 2: 4}
    expected = 60 + m.rows(1)[0] * 4 + m.rows(1)[1] * 2 + 12 + 12 * 4
    assert embedding_parameters(model) == expected == model.table_memory_plan().num_parameters
    # a bucket at 0 has no table; every bucket at 0 drops the slot and its bias
    model = WidthSearchModel(_params(data_dir, slot_dims={1: [4, 0], 2: 4}))
    assert sorted(model.tables) == ["table_1_0", "table_1_1", "table_2_0", "table_2_1"]
    model = WidthSearchModel(_params(data_dir, slot_dims={1: [0, 0], 2: 4}))
    assert sorted(model.tables) == ["table_2_0", "table_2_1"]
    # an integer for a bucketed slot: every bucket that width
    assert WidthSearchModel(_params(data_dir, slot_dims={1: 2, 2: 4})).slot_dims[1] == [2, 2]


def test_the_pooled_vector_is_the_sum_of_the_buckets_rows_padded(data_dir):
    model = WidthSearchModel(_params(data_dir, slot_dims={1: [4, 2], 2: 4}))
    batch = _batch(model, data_dir)
    pooled = model.lookup(batch)
    m, tables = model.id_buckets, model.tables
    head = tables["table_1_1"].variable.numpy()
    tail = tables["table_1_2"].variable.numpy()
    ids = tf.sparse.to_dense(batch["slot_1_0"], default_value=-1).numpy()
    expected_head = np.zeros((len(ids), 4), np.float32)
    expected_tail = np.zeros((len(ids), 2), np.float32)
    for r, row in enumerate(ids):
        for i in row[row >= 0]:
            if m.bucket_of(1)[i] == 0:
                expected_head[r] += head[m.row_of(1)[i]]
            else:
                expected_tail[r] += tail[m.row_of(1)[i]]
    np.testing.assert_allclose(pooled["slot_1_1"].numpy(), expected_head, rtol=1e-6)
    np.testing.assert_allclose(pooled["slot_1_2"].numpy(), expected_tail, rtol=1e-6)
    # the bias table is looked up with the raw ids
    bias = tables["table_1_0"].variable.numpy()[:, 0]
    expected_bias = [bias[row[row >= 0]].sum() for row in ids]
    np.testing.assert_allclose(pooled["slot_1_0"].numpy()[:, 0], expected_bias, rtol=1e-6)
    # the DNN sees one 4-wide vector for slot 1: head + [tail, 0, 0]
    seen = {}
    dnn = model.layers["dnn"]
    real_call = dnn.call

    def spy(x, *args, **kwargs):
        seen["x"] = x
        return real_call(x, *args, **kwargs)

    dnn.call = spy
    try:
        model.forward_pooled(pooled, batch)
    finally:
        dnn.call = real_call
    x = seen["x"].numpy()
    assert x.shape == (len(ids), 8)
    np.testing.assert_allclose(x[:, :4], expected_head + np.pad(expected_tail, [[0, 0], [0, 2]]))


def test_search_mode_has_one_nws_unit_per_bucket_and_a_flat_op_count(data_dir):
    model = WidthSearchModel(
        _params(data_dir, search=True, id_buckets=[0.2, 0.5], bucket_slots=None)
    )
    (nws,) = model.nws_layers()
    assert nws.slot_names == ["1:0", "1:1", "1:2", "2:0", "2:1", "2:2"]
    assert model.unit_rows() == {
        **{f"1:{b}": r for b, r in enumerate(model.id_buckets.rows(1))},
        **{f"2:{b}": r for b, r in enumerate(model.id_buckets.rows(2))},
    }
    assert model.unit_slot("2:1") == 2 and model.slot_bias_rows() == {1: 60, 2: 12}
    with pytest.raises(LookupError, match="`unit` must be one of the model's units"):
        model.unit_slot("3")
    batch = _batch(model, data_dir)
    logits, _ = model.forward(batch, training=True)
    assert logits.shape == (32,)
    # the DNN input is one block per slot (the buckets summed), of the layout's width
    assert model.layers["dnn"].layers[0].kernel.shape[0] == 2 * model.search_block_width()

    # the NWS layer and the fold: an op count that does not grow with slots x buckets
    def ops(slots, buckets):
        units = [unit_name(s, b) for s in range(slots) for b in range(buckets)]
        layer = MixedEmbedOpComb(units, [[0, 2, 4]] * len(units), 0, 0, seed=1)
        index, width = fold_index([6] * len(units), [parse_unit(u)[0] for u in units])

        @tf.function
        def step(x):
            with tf.GradientTape() as tape:
                y = fold_units(layer(x, training=True), index, width)
                loss = tf.reduce_sum(y * y)
            return tape.gradient(loss, layer.arch_embedding_weights)

        spec = tf.TensorSpec((None, 6 * len(units)), tf.float32)
        return len(step.get_concrete_function(spec).graph.get_operations())

    # (sizes above 1000 weights, where TF writes a zeros constant as Fill, not Const)
    assert ops(150, 3) == ops(400, 3) == ops(200, 6)


def test_unbucketed_model_is_unchanged_and_lists_one_unit_per_slot(data_dir):
    model = WidthSearchModel(_params(data_dir, id_buckets=None, search=True))
    assert model.id_buckets is None
    assert model.unit_rows() == {"1": 60, "2": 12}
    assert model.nws_layers()[0].slot_names == ["1", "2"]
    assert model.table_memory_plan().tables[0].bucket is None


def test_the_plan_lists_the_buckets(data_dir):
    model = WidthSearchModel(_params(data_dir, slot_dims={1: [4, 2], 2: 4}))
    plan = model.table_memory_plan()
    assert [(r.name, r.bucket) for r in plan.tables] == [
        ("table_1_0", None),
        ("table_1_1", 0),
        ("table_1_2", 1),
        ("table_2_0", None),
        ("table_2_1", None),
    ]
    text = plan.format_table()
    lines = {
        line.split()[0]: line.split() for line in text.splitlines() if line.startswith("table_")
    }
    assert text.splitlines()[0].split()[:3] == ["table", "bucket", "rows"]
    assert lines["table_1_2"][:4] == ["table_1_2", "1", str(model.id_buckets.rows(1)[1]), "2"]
    assert lines["table_1_0"][1] == "-"
    assert plan.to_dict()["tables"][1]["bucket"] == 0
    # a plan without buckets prints no bucket column
    plain = TableMemoryPlan.from_rows([TableMemoryRow("t", 1, rows=2, dim=1, copies=1)])
    assert "bucket" not in plain.format_table()
    with pytest.raises(ValueError, match="`bucket` of table t must be None or an integer >= 0"):
        TableMemoryRow("t", 1, rows=2, dim=1, copies=1, bucket=-1)


def test_nwsrec_plan_shows_bucket_tables(data_dir, capsys):
    from nwsrec.cli.main import main

    code = main(
        [
            "plan",
            "--model",
            "movielens",
            "--data-dir",
            str(data_dir),
            "--param",
            "id_buckets=[0.2]",
            "--param",
            "bucket_slots=[1]",
            "--param",
            "candidate_sizes=[0, 2, 4]",
            "--param",
            'slot_dims={"1": [4, 2], "2": 2}',
            "--json",
        ]
    )
    assert code == 0
    tables = json.loads(capsys.readouterr().out)["tables"]
    assert [(t["name"], t["bucket"], t["dim"]) for t in tables][:3] == [
        ("table_1_0", None, 1),
        ("table_1_1", 0, 4),
        ("table_1_2", 1, 2),
    ]


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"slot_dims": {1: [4], 2: 4}}, r"slot 1 must have one size per frequency bucket \(2\)"),
        ({"slot_dims": {1: [4, 3], 2: 4}}, "the bucket sizes of slot 1 must each be one of"),
        ({"slot_dims": {1: [4, 2], 2: [4, 2]}}, "slot 2 has one table .* must be one integer"),
        ({"bucket_slots": [9]}, r"`bucket_slots` must be slots of the model \[1, 2\]"),
        ({"id_buckets": [0.9, 0.5]}, "`id_buckets` must be a non-empty list of increasing"),
        ({"bucket_slots": []}, "`bucket_slots` must be a non-empty list of slot ids"),
    ],
)
def test_bad_bucket_params_are_clear_errors(data_dir, overrides, match):
    from nwsrec.config import SearchConfig

    with pytest.raises(ValueError, match=match):
        params = _params(data_dir, **overrides)
        SearchConfig.from_params(params)
        WidthSearchModel(params)


def test_check_slot_dims_accepts_bucket_lists():
    assert check_slot_dims({"1": [4, 0], "2": 8}, [1, 2], [0, 4, 8], "f") == {1: [4, 0], 2: 8}
    assert check_slot_dims({"1": 4, "2": 8}, [1, 2], [0, 4, 8], "f", buckets={1: 3}) == {
        1: [4, 4, 4],
        2: 8,
    }


def test_a_short_training_moves_only_the_rows_of_each_bucket_s_ids(data_dir, tmp_path):
    from nwsrec.training import Trainer

    params = _params(data_dir, slot_dims={1: [4, 2], 2: 4}, train_steps=3, seed=0)
    trainer = Trainer(lambda: WidthSearchModel(params), params, str(tmp_path), progress=False)
    before = {n: t.variable.numpy().copy() for n, t in trainer.tables.items()}
    trainer.train()
    m = trainer.model.id_buckets
    for name, bucket in (("table_1_1", 0), ("table_1_2", 1)):
        moved = np.flatnonzero(
            np.any(trainer.tables[name].variable.numpy() != before[name], axis=1)
        )
        assert len(moved) > 0
        # only rows of ids that are in this bucket and were seen can move
        seen_rows = set(m.row_of(1)[(m.bucket_of(1) == bucket) & (m.counts(1) > 0)].tolist())
        assert set(moved.tolist()) <= seen_rows
