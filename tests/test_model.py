import logging

import keras
import numpy as np
import pytest
import tensorflow as tf

from nwsrec.embedding import EmbeddingTable, TableView
from nwsrec.features import AdagradRowwise, FeatureColumnV1, FeatureSlot, TableMemoryPlan
from nwsrec.layers import MixedEmbedOpComb
from nwsrec.model import Model

E = tf.tpu.experimental.embedding

VOCAB = "slot\tcount\n1\t100\n2\t50\n3\t7\n9\t0\n11\t30\n"


def _params(tmp_path, vocab=VOCAB, **overrides):
    path = tmp_path / "vocab.tsv"
    path.write_text(vocab)
    params = Model.default_params()
    params.update(vocab_file_path=str(path), **overrides)
    return params


class PlanModel(Model):
    """slot 1: bias (FTRL) + dim-4 vector (Adagrad); slot 2: dim-12 (SGD); slot 3: dim-8 (Adam)."""

    def logits_fn(self):
        fc1 = FeatureColumnV1(FeatureSlot(self.env, 1, has_bias=True), "slot_1_0")
        bias = fc1.get_bias()
        v1 = fc1.add_vector(4)
        slot2 = FeatureSlot(self.env, 2, default_vec_optimizer=E.SGD(learning_rate=0.1))
        v2 = FeatureColumnV1(slot2, "slot_2_0").add_vector(12)
        fc3 = FeatureColumnV1(FeatureSlot(self.env, 3), "slot_3_0")
        v3 = fc3.add_vector(8, optimizer=E.Adam(learning_rate=0.01))
        dense = self.keras_layer("out", lambda: keras.layers.Dense(1))
        return dense(tf.concat([v1, v2, v3], axis=1))[:, 0] + bias[:, 0]


class RecordingModel(Model):
    """Records what logits_fn sees; one slot (2, dim 3) plus a dense input feature."""

    def __init__(self, params):
        self.seen = []
        self.factory_calls = 0
        super().__init__(params)

    def feature_map(self):
        return {**super().feature_map(), "dense": tf.io.FixedLenFeature([3], tf.float32)}

    def _make_dense(self):
        self.factory_calls += 1
        return keras.layers.Dense(1, kernel_initializer="ones", bias_initializer="zeros")

    def logits_fn(self):
        self.seen.append({"features": self.features, "training": self.training})
        emb = FeatureColumnV1(FeatureSlot(self.env, 2), "slot_2_0").add_vector(3)
        dense = self.keras_layer("dense", self._make_dense)
        self.add_loss(tf.reduce_sum(emb))
        return dense(tf.concat([emb, self.features["dense"]], axis=1))[:, 0]


def _sparse(rows, dtype=tf.int64):
    """A [B, max_len] SparseTensor of ids from a list of id lists."""
    indices = [[b, j] for b, ids in enumerate(rows) for j in range(len(ids))]
    values = [i for ids in rows for i in ids]
    width = max((len(ids) for ids in rows), default=0)
    return tf.sparse.SparseTensor(
        tf.constant(indices, tf.int64, shape=[len(indices), 2]),
        tf.constant(values, dtype, shape=[len(values)]),
        [len(rows), width],
    )


# --------------------------------------------------------------------- construction


def test_constructor_discovers_slots_and_finalizes(tmp_path):
    model = PlanModel(_params(tmp_path))
    assert model.env.is_finalized()
    assert model.env.slot_to_dims == {1: [1, 4], 2: [12], 3: [8]}
    assert model.vocab_size_dict[2] == 50
    assert model.params["batch_size"] == Model.default_params()["batch_size"]


def test_discovery_sees_a_dummy_batch_of_one_from_feature_map(tmp_path):
    model = RecordingModel(_params(tmp_path))
    (seen,) = model.seen
    assert seen["training"] is False
    assert seen["features"]["dense"].shape == (1, 3)
    assert float(tf.reduce_sum(tf.abs(seen["features"]["dense"]))) == 0.0
    assert seen["features"]["label"].shape == (1,)
    assert model.features is None  # cleared after the round


def test_keras_layers_are_built_once_during_discovery(tmp_path):
    model = RecordingModel(_params(tmp_path))
    assert model.factory_calls == 1
    assert list(model.layers) == ["dense"]
    assert [tuple(v.shape) for v in model.dense_variables()] == [(6, 1), (1,)]


def test_default_feature_map_lists_slot_ids_and_label(tmp_path):
    model = PlanModel(_params(tmp_path))
    feature_map = model.feature_map()
    assert sorted(feature_map) == ["label", "slot_1_0", "slot_2_0", "slot_3_0"]
    assert isinstance(feature_map["slot_1_0"], tf.io.VarLenFeature)
    assert feature_map["slot_1_0"].dtype == tf.int64
    assert feature_map["label"] == tf.io.FixedLenFeature([], tf.float32)


def test_default_params_construct_a_model_once_given_a_vocab(tmp_path):
    params = Model.default_params()
    for key in (
        "batch_size",
        "vocab_file_path",
        "vocab_size_per_slot",
        "use_gradient_accumulation",
    ):
        assert key in params
    assert params["use_gradient_accumulation"] is False
    model = PlanModel(_params(tmp_path, vocab_size_per_slot=64))
    assert dict(model.vocab_size_dict) == {1: 64, 2: 64, 3: 64, 9: 64, 11: 64}


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"drop": "vocab_file_path"}, LookupError, r"`params` must contain .*without \['vocab_"),
        ({"drop": "use_gradient_accumulation"}, LookupError, "without"),
        ({"use_gradient_accumulation": "no"}, ValueError, "`use_gradient_accumulation` must"),
        ({"vocab_file_path": None}, ValueError, "must name the vocab-size TSV"),
        ({"vocab_size_per_slot": 0}, ValueError, "`vocab_size_per_slot` must be None or"),
    ],
    ids=["no-vocab-path", "no-accumulation", "accumulation-not-bool", "vocab-none", "size-0"],
)
def test_constructor_validates_params(tmp_path, change, error, match):
    params = _params(tmp_path)
    drop = change.pop("drop", None)
    if drop:
        del params[drop]
    params.update(change)
    with pytest.raises(error, match=match):
        PlanModel(params)


def test_params_must_be_a_mapping():
    with pytest.raises(ValueError, match="`params` must be a mapping"):
        PlanModel([("vocab_file_path", "x")])


def test_missing_vocab_file_is_file_not_found(tmp_path):
    params = _params(tmp_path)
    params["vocab_file_path"] = str(tmp_path / "missing.tsv")
    with pytest.raises(FileNotFoundError):
        PlanModel(params)


def test_init_slot_to_dims_runs_once(tmp_path):
    model = PlanModel(_params(tmp_path))
    with pytest.raises(ValueError, match="`init_slot_to_dims` must run once"):
        model.init_slot_to_dims()


def test_logits_of_wrong_rank_fail_at_construction(tmp_path):
    class Bad(Model):
        def logits_fn(self):
            emb = FeatureColumnV1(FeatureSlot(self.env, 2), "slot_2_0").add_vector(2)
            return emb  # [B, 2], not [B]

    with pytest.raises(ValueError, match=r"logits of shape \[B\]. Received: shape=\(1, 2\)"):
        Bad(_params(tmp_path))


def test_logits_fn_must_be_written():
    with pytest.raises(NotImplementedError, match="must implement logits_fn"):
        Model.logits_fn(object.__new__(Model))


def test_slot_declared_twice_in_logits_fn_fails_at_construction(tmp_path):
    class Twice(Model):
        def logits_fn(self):
            FeatureSlot(self.env, 2)
            FeatureSlot(self.env, 2)

    with pytest.raises(ValueError, match="slot 2 must be declared once per round"):
        Twice(_params(tmp_path))


# ------------------------------------------------------------------ keras_layer & loss


def test_keras_layer_returns_the_same_layer_and_validates(tmp_path):
    model = PlanModel(_params(tmp_path))
    layer = model.layers["out"]
    assert model.keras_layer("out", lambda: pytest.fail("factory called twice")) is layer
    with pytest.raises(ValueError, match="`factory` of layer 'x' must return a keras.layers"):
        model.keras_layer("x", lambda: tf.Variable(1.0))
    with pytest.raises(ValueError, match="`factory` of layer 'y' must be a no-argument callable"):
        model.keras_layer("y", keras.layers.Dense(1))
    with pytest.raises(ValueError, match="`factory` of layer 'z' must be a no-argument callable"):
        model.keras_layer("z", None)
    with pytest.raises(ValueError, match="`name` must be a non-empty string"):
        model.keras_layer("", lambda: keras.layers.Dense(1))


def test_add_loss_outside_a_round_is_an_error(tmp_path):
    model = PlanModel(_params(tmp_path))
    with pytest.raises(ValueError, match="`add_loss` must be called inside logits_fn"):
        model.add_loss(tf.constant(1.0))


def test_nws_layers_are_the_memoized_mixed_embed_op_combs(tmp_path):
    class Searching(Model):
        def logits_fn(self):
            emb = FeatureColumnV1(FeatureSlot(self.env, 2), "slot_2_0").add_vector(12)
            nws = self.keras_layer(
                "nws",
                lambda: MixedEmbedOpComb(["2"], [[0, 4, 8]], warmup_steps=0, pretraining_steps=0),
            )
            dense = self.keras_layer("dense", lambda: keras.layers.Dense(1))
            return dense(nws(emb))[:, 0]

    model = Searching(_params(tmp_path))
    assert model.nws_layers() == [model.layers["nws"]]
    assert PlanModel(_params(tmp_path)).nws_layers() == []
    nws_weights = {id(v) for v in model.layers["nws"].trainable_weights}
    assert nws_weights and nws_weights <= {id(v) for v in model.dense_variables()}


# ------------------------------------------------------------------------ configs


def test_feature_and_table_configs_carry_slice_settings(tmp_path):
    model = PlanModel(_params(tmp_path))
    features, tables = model.create_feature_and_table_config_dict()
    assert sorted(tables) == ["table_1_0", "table_1_1", "table_2_0", "table_3_0"]
    assert sorted(features) == ["slot_1_0", "slot_1_1", "slot_2_0", "slot_3_0"]
    slices = {s.table_name: s for s in model.env.feature_slices()}
    for name, table in tables.items():
        assert isinstance(table, E.TableConfig)
        assert table.combiner == "sum" and table.name == name
        assert table.optimizer is slices[name].optimizer
        assert table.initializer is slices[name].initializer
        assert table.dim == slices[name].dim
        feature = features[slices[name].feature_name]
        assert isinstance(feature, E.FeatureConfig) and feature.table is table
    assert (tables["table_1_0"].vocabulary_size, tables["table_1_0"].dim) == (100, 1)
    assert isinstance(tables["table_1_0"].optimizer, E.FTRL)
    assert isinstance(tables["table_1_1"].optimizer, E.Adagrad)
    assert isinstance(tables["table_2_0"].optimizer, E.SGD)
    assert isinstance(tables["table_3_0"].optimizer, E.Adam)
    assert tables["table_3_0"].vocabulary_size == 7


class MissingSlotModel(Model):
    def logits_fn(self):
        FeatureColumnV1(FeatureSlot(self.env, 2), "slot_2_0").add_vector(2)
        return tf.reduce_sum(FeatureColumnV1(FeatureSlot(self.env, 5), "slot_5_0").add_vector(2), 1)


class EmptyVocabSlotModel(Model):
    def logits_fn(self):
        return tf.reduce_sum(FeatureColumnV1(FeatureSlot(self.env, 9), "slot_9_0").add_vector(2), 1)


def test_slot_missing_from_the_vocab_is_a_lookup_error_naming_it(tmp_path):
    model = MissingSlotModel(_params(tmp_path))
    with pytest.raises(LookupError, match=r"slot 5 must be listed in the vocab file .*vocab.tsv"):
        model.create_feature_and_table_config_dict()
    with pytest.raises(LookupError, match="slot 5 must be listed in the vocab file"):
        model.table_memory_plan()


def test_slot_with_zero_vocab_cannot_get_a_table(tmp_path):
    model = EmptyVocabSlotModel(_params(tmp_path))
    with pytest.raises(ValueError, match="vocab size of slot 9 must be >= 1"):
        model.create_feature_and_table_config_dict()


# --------------------------------------------------------------------- memory plan


def test_memory_plan_matches_hand_computation(tmp_path, caplog):
    model = PlanModel(_params(tmp_path))
    with caplog.at_level(logging.INFO, logger="nwsrec.embedding.slot_tables"):
        plan = model.table_memory_plan()
    assert isinstance(plan, TableMemoryPlan)
    rows = [(t.name, t.rows, t.dim, t.padded_dim, t.optimizer, t.copies) for t in plan.tables]
    assert rows == [
        ("table_1_0", 100, 1, 8, "FTRL", 3),
        ("table_1_1", 100, 4, 8, "Adagrad", 2),
        ("table_2_0", 50, 12, 16, "SGD", 1),
        ("table_3_0", 7, 8, 8, "Adam", 3),
    ]
    # raw: 100*1*4*3 + 100*4*4*2 + 50*12*4*1 + 7*8*4*3
    assert plan.raw_bytes == 1200 + 3200 + 2400 + 672 == 7472
    # padded: 100*8*4*3 + 100*8*4*2 + 50*16*4*1 + 7*8*4*3
    assert plan.padded_bytes == 9600 + 6400 + 3200 + 672 == 19872
    # padded, all at 3 copies: 100*8*4*3 + 100*8*4*3 + 50*16*4*3 + 7*8*4*3
    assert plan.padded_max_copies_bytes == 9600 + 9600 + 9600 + 672 == 29472
    assert "7472 B" in caplog.text and "29472 B" in caplog.text


def test_memory_plan_with_gradient_accumulation_adds_a_copy_per_table(tmp_path):
    plan = PlanModel(_params(tmp_path, use_gradient_accumulation=True)).table_memory_plan()
    assert [t.copies for t in plan.tables] == [4, 3, 2, 4]
    # raw: 100*1*4*4 + 100*4*4*3 + 50*12*4*2 + 7*8*4*4
    assert plan.raw_bytes == 1600 + 4800 + 4800 + 896 == 12096
    # padded: 100*8*4*4 + 100*8*4*3 + 50*16*4*2 + 7*8*4*4
    assert plan.padded_bytes == 12800 + 9600 + 6400 + 896 == 29696
    # padded, all at 4 copies
    assert plan.padded_max_copies_bytes == 12800 + 12800 + 12800 + 896 == 39296


def test_memory_plan_with_dims_override(tmp_path):
    model = PlanModel(_params(tmp_path))
    # slot 1 vectors at width 9 (bias kept), slot 2 dropped, slot 3 as [8, 3]: the extra
    # slice takes slot 3's default vector optimizer (Adagrad, 2 copies).
    plan = model.table_memory_plan({1: 9, 2: 0, 3: [8, 3]})
    rows = [(t.name, t.dim, t.copies) for t in plan.tables]
    assert rows == [
        ("table_1_0", 1, 3),
        ("table_1_1", 9, 2),
        ("table_3_0", 8, 3),
        ("table_3_1", 3, 2),
    ]
    # 100*1*4*3 + 100*9*4*2 + 7*8*4*3 + 7*3*4*2
    assert plan.raw_bytes == 1200 + 7200 + 672 + 168
    assert model.table_memory_plan().raw_bytes == 7472  # the model itself is unchanged


@pytest.mark.parametrize(
    ("override", "error", "match"),
    [
        ({4: 8}, LookupError, r"must name slots the model declares. Received: slot_id=4"),
        ({1: -1}, ValueError, r"`dims_override\[1\]` must be a non-negative integer"),
        ({1: [4, "8"]}, ValueError, r"`dims_override\[1\]` must be"),
        ({1: "8"}, ValueError, r"`dims_override\[1\]` must be"),
        ([(1, 8)], ValueError, "`dims_override` must be a mapping"),
    ],
)
def test_memory_plan_override_errors(tmp_path, override, error, match):
    with pytest.raises(error, match=match):
        PlanModel(_params(tmp_path)).table_memory_plan(override)


# ------------------------------------------------------- forward, lookup, tables


def _batch():
    return {
        "slot_2_0": _sparse([[1, 2], [7], []]),
        "dense": tf.constant([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]),
        "label": tf.constant([1.0, 0.0, 1.0]),
    }


def test_tables_one_per_slice_with_vocab_rows_and_slice_dim(tmp_path):
    model = PlanModel(_params(tmp_path))
    tables = model.tables
    assert sorted(tables) == ["table_1_0", "table_1_1", "table_2_0", "table_3_0"]
    assert model.tables["table_2_0"] is tables["table_2_0"]  # built once
    slices = {s.table_name: s for s in model.env.feature_slices()}
    for name, table in tables.items():
        assert isinstance(table, TableView) and isinstance(table.group, EmbeddingTable)
        assert table.optimizer is slices[name].optimizer  # the slice's own optimizer
        assert (table.vocab_size, table.dim) == (
            model.vocab_size_dict[slices[name].slot_id],
            slices[name].dim,
        )
    assert tuple(tables["table_1_1"].variable.shape) == (100, 4)
    assert tuple(tables["table_2_0"].variable.shape) == (50, 12)
    bias = tables["table_1_0"].variable.numpy()
    assert bias.shape == (100, 1) and np.all(bias == 0.0)  # bias initializer: zeros


def test_forward_runs_logits_fn_on_the_pooled_embeddings(tmp_path):
    model = RecordingModel(_params(tmp_path))
    batch = _batch()
    logits, losses = model.forward(batch, training=True)
    pooled = model.lookup(batch)["slot_2_0"]
    weight = model.tables["table_2_0"].variable.numpy()
    expected_pooled = np.stack([weight[1] + weight[2], weight[7], np.zeros(3)])
    np.testing.assert_allclose(pooled.numpy(), expected_pooled, rtol=1e-6)
    # Dense(1) with ones kernel: sum of the pooled embedding and the dense features
    expected = expected_pooled.sum(axis=1) + batch["dense"].numpy().sum(axis=1)
    np.testing.assert_allclose(logits.numpy(), expected, rtol=1e-5)
    assert len(losses) == 1
    np.testing.assert_allclose(losses[0].numpy(), expected_pooled.sum(), rtol=1e-5)
    assert model.seen[-1]["training"] is True and model.seen[-1]["features"] is batch
    assert model.features is None and model.training is False


def test_forward_keeps_layers_and_weights_across_rounds(tmp_path):
    model = RecordingModel(_params(tmp_path))
    before = [id(v) for v in model.dense_variables()]
    for _ in range(3):
        model.forward(_batch(), training=False)
    assert model.factory_calls == 1
    assert [id(v) for v in model.dense_variables()] == before


def test_forward_inside_tf_function(tmp_path):
    model = RecordingModel(_params(tmp_path))
    batch = _batch()

    @tf.function
    def step(features):
        logits, losses = model.forward(features, training=True)
        return logits, tf.add_n(losses)

    logits, loss = step(batch)
    eager_logits, eager_losses = model.forward(batch, training=True)
    np.testing.assert_allclose(logits.numpy(), eager_logits.numpy(), rtol=1e-6)
    np.testing.assert_allclose(loss.numpy(), eager_losses[0].numpy(), rtol=1e-6)


def test_forward_falls_back_to_slice_zero_ids(tmp_path):
    model = PlanModel(_params(tmp_path))
    batch = {f"slot_{s}_0": _sparse([[1], [2, 3]]) for s in (1, 2, 3)}
    pooled = model.lookup(batch)
    assert sorted(pooled) == ["slot_1_0", "slot_1_1", "slot_2_0", "slot_3_0"]
    assert pooled["slot_1_1"].shape == (2, 4)
    logits, losses = model.forward(batch)
    assert logits.shape == (2,) and losses == []


def test_forward_errors(tmp_path):
    model = RecordingModel(_params(tmp_path))
    with pytest.raises(LookupError, match=r"must hold the ids of slot 2 as 'slot_2_0'"):
        model.forward({"dense": tf.zeros([1, 3])})
    with pytest.raises(ValueError, match="`training` must be a Python bool"):
        model.forward(_batch(), training=tf.constant(True))
    with pytest.raises(ValueError, match="`features` must be a mapping"):
        model.lookup([1, 2])


def test_round_that_changes_dims_is_an_error_naming_the_slot(tmp_path):
    class Growing(Model):
        width = 2

        def logits_fn(self):
            emb = FeatureColumnV1(FeatureSlot(self.env, 2), "slot_2_0").add_vector(self.width)
            Growing.width += 1
            return tf.reduce_sum(emb, axis=1)

    model = Growing(_params(tmp_path))
    with pytest.raises(ValueError, match=r"slot 2 slice 0 must match discovery \(dim 2"):
        model.forward({"slot_2_0": _sparse([[1]])})


def test_serving_lookup_from_tpu_configs_matches_model_lookup(tmp_path):
    model = PlanModel(_params(tmp_path))
    feature_config, table_config = model.create_feature_and_table_config_dict()
    serving = E.TPUEmbeddingForServing(feature_config, optimizer=None)
    serving.build()
    rng = np.random.default_rng(0)
    for name, table in model.tables.items():
        weight = table.variable
        values = rng.normal(size=weight.shape).astype(np.float32)
        weight.assign(values)  # random rows, so that a wrong row or table shows
        serving.embedding_tables[table_config[name]].assign(values)
    batch = {
        "slot_1_0": _sparse([[0, 99, 5], [3], [], [5, 5]]),
        "slot_2_0": _sparse([[49], [0, 1, 2, 3], [7], []]),
        "slot_3_0": _sparse([[6, 0], [], [1], [2]]),
    }
    batch = {**batch, "slot_1_1": batch["slot_1_0"]}
    expected = serving(batch)
    got = model.lookup(batch)
    assert sorted(got) == sorted(expected)
    for name in expected:
        np.testing.assert_allclose(got[name].numpy(), expected[name].numpy(), rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------- input_fn


def test_create_input_fn_delegates_to_make_input_fn(tmp_path, monkeypatch):
    pipeline = pytest.importorskip("nwsrec.data.pipeline")
    calls = {}

    def fake_make_input_fn(
        file_pattern, *, feature_map, slot_to_dims, params, repeat=True, split=None, shuffle=False
    ):
        calls.update(
            file_pattern=file_pattern,
            feature_map=feature_map,
            slot_to_dims=slot_to_dims,
            params=params,
            repeat=repeat,
            split=split,
            shuffle=shuffle,
        )
        return "input_fn"

    monkeypatch.setattr(pipeline, "make_input_fn", fake_make_input_fn)
    model = RecordingModel(_params(tmp_path))
    assert model.create_input_fn("data/*.tfrecord", repeat=False) == "input_fn"
    assert calls["file_pattern"] == "data/*.tfrecord" and calls["repeat"] is False
    assert calls["split"] is None and calls["shuffle"] is False  # evaluation: in order
    assert model.create_input_fn("data/*.tfrecord", split="part") == "input_fn"
    assert calls["split"] == "part" and calls["repeat"] is True
    assert calls["shuffle"] is True  # the training input: seeded order
    assert calls["slot_to_dims"] == {2: [3]}
    assert sorted(calls["feature_map"]) == ["dense", "label", "slot_2_0"]
    assert calls["params"]["vocab_file_path"].endswith("vocab.tsv")


def test_input_fn_batches_feed_forward(tmp_path):
    pytest.importorskip("nwsrec.data.pipeline")
    path = tmp_path / "part-0.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for i in range(8):
            feature = {
                "slot_2_0": tf.train.Feature(int64_list=tf.train.Int64List(value=[i, i + 1])),
                "dense": tf.train.Feature(float_list=tf.train.FloatList(value=[1.0, 0.0, 2.0])),
                "label": tf.train.Feature(float_list=tf.train.FloatList(value=[i % 2])),
            }
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            writer.write(example.SerializeToString())
    model = RecordingModel(_params(tmp_path, batch_size=4))
    input_fn = model.create_input_fn(str(tmp_path / "*.tfrecord"), repeat=False)
    batches = list(input_fn(tf.distribute.InputContext()))
    assert len(batches) == 2
    logits, losses = model.forward(batches[0], training=True)
    weight = model.tables["table_2_0"].variable.numpy()
    ids = tf.sparse.to_dense(batches[0]["slot_2_0"]).numpy()  # batch order is not fixed
    assert ids.shape == (4, 2) and np.all(ids[:, 1] == ids[:, 0] + 1)
    expected = np.array([weight[row].sum() + 3.0 for row in ids])
    np.testing.assert_allclose(logits.numpy(), expected, rtol=1e-5)
    assert len(losses) == 1


class TablesOnlyModel(Model):
    """Declares its slots and returns nothing: used for its table configs and plan alone."""

    def logits_fn(self):
        FeatureColumnV1(FeatureSlot(self.env, 1, has_bias=True), "slot_1_0").add_vector(4)


def test_a_logits_fn_returning_nothing_constructs_for_tables_and_plan(tmp_path):
    model = TablesOnlyModel(_params(tmp_path))
    assert model.env.slot_to_dims == {1: [1, 4]}
    assert sorted(model.tables) == ["table_1_0", "table_1_1"]
    assert model.table_memory_plan().raw_bytes > 0
    batch = {"slot_1_0": _sparse([[3], [5]]), "label": tf.constant([0.0, 1.0])}
    with pytest.raises(ValueError, match="`logits_fn` must return logits"):
        model.forward(batch)


HUGE_VOCAB = "slot\tcount\n1\t100000000000\n2\t50\n3\t7\n"  # slot 1: 1e11 rows, ~4 TiB


def test_tables_that_cannot_fit_are_refused_before_any_is_allocated(tmp_path):
    from nwsrec.machine import TablesDoNotFitError, format_bytes

    model = PlanModel(_params(tmp_path, vocab=HUGE_VOCAB))
    plan = model.table_memory_plan()
    for _ in range(2):  # refused each time, and nothing was kept
        with pytest.raises(TablesDoNotFitError) as err:
            model.forward(
                {"slot_1_0": _sparse([[1]]), "slot_2_0": _sparse([[1]]), "slot_3_0": _sparse([[1]])}
            )
        assert model._slot_tables._collection is None
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith("the embedding tables of model 'PlanModel' need ")
    assert f"4 tables {format_bytes(plan.raw_bytes)}, + " in text
    assert f"need {format_bytes(plan.build_bytes)} (memory plan" in text
    assert "available (" in text


def test_check_memory_false_builds_what_the_check_would_refuse(tmp_path, monkeypatch):
    from nwsrec import machine

    monkeypatch.setattr(machine, "available_memory", lambda: (1024, "a tiny test machine"))
    with pytest.raises(machine.TablesDoNotFitError, match="1024|a tiny test machine"):
        _ = PlanModel(_params(tmp_path)).tables
    tables = PlanModel(_params(tmp_path, check_memory=False)).tables
    assert tuple(tables["table_1_1"].variable.shape) == (100, 4)


def test_ids_are_range_checked_once_for_the_groups_of_one_layout_naming_the_table(tmp_path):
    # 2 slots x (bias + vector): 4 tables, 2 groups whose members read the same ids at the
    # same row offsets: one layout of row ids, checked once (one comparison per table size,
    # 100 and 50 rows, and one verdict).
    model = RowwiseModel(_params(tmp_path))

    @tf.function
    def lookup(features):
        return model.lookup(features)

    features = {"slot_1_0": _sparse([[1]]), "slot_2_0": _sparse([[1], [49]])}
    graph = lookup.get_concrete_function(features).graph
    ops = [op.type for op in graph.get_operations()]
    assert len(model.tables) == 4 and len(model.table_groups) == 2
    # Both groups read the layout's checked rows and its one-id-per-example test.
    assert ops.count("GreaterEqual") == 2 and ops.count("All") == 1
    # Slot 2 has 50 rows: 50 is a row of its group (150 rows) but not of its table.
    bad = {**features, "slot_2_0": _sparse([[1], [50]])}
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"table_2_\d must lie in \[0, 50\)"):
        lookup(bad)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"table_1_\d must lie in \[0, 100\)"):
        model.lookup({**features, "slot_1_0": _sparse([[-1]])})


class RowwiseModel(Model):
    """Slots 1 and 2: an FTRL bias and a dim-4 row-wise Adagrad vector each."""

    def logits_fn(self):
        out = []
        for slot_id in (1, 2):
            slot = FeatureSlot(
                self.env, slot_id, has_bias=True, default_vec_optimizer=AdagradRowwise(0.1)
            )
            column = FeatureColumnV1(slot, f"slot_{slot_id}_0")
            vector = column.add_vector(4)
            out.append(tf.reduce_sum(vector, axis=1) + column.get_bias()[:, 0])
        return tf.add_n(out)


def test_rowwise_adagrad_tables_plan_one_accumulator_per_row_and_group(tmp_path):
    model = RowwiseModel(_params(tmp_path))
    plan = model.table_memory_plan()
    rows = {row.name: row for row in plan.tables}
    # 100 rows x (4 + 1 accumulator) floats; slot 2: 50 rows.
    assert (rows["table_1_1"].copies, rows["table_1_1"].row_state) == (1, 1)
    assert rows["table_1_1"].raw_bytes == 100 * 5 * 4
    assert rows["table_2_1"].group == rows["table_1_1"].group == "adagradrowwise_dim4"
    assert plan.groups()["adagradrowwise_dim4"]["rows"] == 150
    groups = model.table_groups
    assert sorted(groups) == ["adagradrowwise_dim4", "ftrl_dim1"]
    assert groups["adagradrowwise_dim4"].slot_variables["accumulators"].shape == (150, 1)
    with pytest.raises(ValueError, match="TPU embedding has no row-wise Adagrad"):
        model.create_feature_and_table_config_dict()


def test_table_groups_false_gives_one_group_per_table_with_the_same_lookups(tmp_path):
    grouped = PlanModel(_params(tmp_path))
    alone = PlanModel(_params(tmp_path, table_groups=False))
    assert sorted(grouped.table_groups) == ["adagrad_dim4", "adam_dim8", "ftrl_dim1", "sgd_dim12"]
    assert sorted(alone.table_groups) == sorted(alone.tables)
    assert all(r.group is None for r in alone.table_memory_plan().tables)
    for name, table in grouped.tables.items():  # the same weights, then the same lookups
        alone.table_groups[name].variable.assign(table.variable)
    batch = {
        "slot_1_0": _sparse([[1, 2], [], [99]]),
        "slot_2_0": _sparse([[0], [4, 4], [49]]),
        "slot_3_0": _sparse([[6], [], [0, 1]]),
    }
    one, two = grouped.lookup(batch), alone.lookup(batch)
    for name in one:
        np.testing.assert_array_equal(one[name].numpy(), two[name].numpy())
    with pytest.raises(ValueError, match="`table_groups` must be a bool"):
        PlanModel(_params(tmp_path, table_groups="yes"))
