"""``SlotTables``: a model's tables built from its env's slot specs, and their lookup."""

import numpy as np
import pytest
import tensorflow as tf

from nwsrec.embedding import SlotTables, VocabLayout
from nwsrec.features import Env, FeatureColumnV1, FeatureSlot

E = tf.tpu.experimental.embedding


def _env(vocab=None, dims=None):
    """Slots 1 and 2, each a bias (FTRL) and a vector (SGD) of ``dims[slot]``."""
    env = Env(vocab or {1: 10, 2: 6})
    for slot_id, dim in (dims or {1: 4, 2: 4}).items():
        slot = FeatureSlot(env, slot_id, has_bias=True, default_vec_optimizer=E.SGD(0.1))
        FeatureColumnV1(slot, f"slot_{slot_id}_0").add_vector(dim)
    env.finalize()
    return env


def _ids(rows):
    return tf.ragged.constant(rows, dtype=tf.int64)


def test_specs_read_the_env_and_the_layout():
    tables = SlotTables(_env(), VocabLayout(_env()))
    specs = [(s.name, s.rows, s.dim, type(s.optimizer).__name__) for s in tables.specs()]
    assert specs == [
        ("table_1_0", 10, 1, "FTRL"),
        ("table_1_1", 10, 4, "SGD"),
        ("table_2_0", 6, 1, "FTRL"),
        ("table_2_1", 6, 4, "SGD"),
    ]
    assert list(tables.collection.groups) == ["ftrl_dim1", "sgd_dim4"]


def test_lookup_pools_each_slice_from_its_rows_of_the_group():
    env = _env()
    tables = SlotTables(env, VocabLayout(env))
    pooled = tables.lookup({"slot_1_0": _ids([[0, 9], []]), "slot_2_0": _ids([[5], [1, 1]])})
    assert sorted(pooled) == ["slot_1_0", "slot_1_1", "slot_2_0", "slot_2_1"]
    vectors = tables.collection.tables["table_2_1"].variable.numpy()
    np.testing.assert_allclose(pooled["slot_2_1"].numpy(), [vectors[5], 2 * vectors[1]])


def test_missing_ids_and_missing_vocab_are_lookup_errors_naming_the_slot():
    env = _env()
    tables = SlotTables(env, VocabLayout(env))
    with pytest.raises(LookupError, match="must hold the ids of slot 2"):
        tables.lookup({"slot_1_0": _ids([[0]])})
    env = _env(vocab={1: 10})
    with pytest.raises(LookupError, match="slot 2 must be listed in the vocab file v.tsv"):
        SlotTables(env, VocabLayout(env), vocab_file="v.tsv").memory_plan()


def test_oov_maps_ids_outside_the_vocab_to_one_extra_row_and_counts_them():
    env = _env()
    tables = SlotTables(env, VocabLayout(env, oov=True), oov=True)
    assert [s.rows for s in tables.specs()] == [11, 11, 7, 7]
    pooled = tables.lookup({"slot_1_0": _ids([[10, -3], [2]]), "slot_2_0": _ids([[6], [0]])})
    vectors = tables.collection.tables["table_1_1"].variable.numpy()
    np.testing.assert_allclose(pooled["slot_1_1"].numpy()[0], 2 * vectors[10], rtol=1e-6)
    assert tables.out_of_range_count == 3


def test_without_oov_an_id_outside_the_vocab_is_an_error_naming_a_table_of_its_slot():
    env = _env()
    tables = SlotTables(env, VocabLayout(env))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"table_2_\d must lie in \[0, 6\)"):
        tables.lookup({"slot_1_0": _ids([[0]]), "slot_2_0": _ids([[6]])})


def test_memory_plan_names_groups_and_takes_overrides():
    env = _env()
    tables = SlotTables(env, VocabLayout(env))
    plan = tables.memory_plan({2: 8})
    rows = [(t.name, t.rows, t.dim, t.group) for t in plan.tables]
    assert rows == [
        ("table_1_0", 10, 1, "ftrl_dim1"),
        ("table_1_1", 10, 4, "sgd_dim4"),
        ("table_2_0", 6, 1, "ftrl_dim1"),
        ("table_2_1", 6, 8, "sgd_dim8"),
    ]
    ungrouped = SlotTables(env, VocabLayout(env), grouped=False).memory_plan()
    assert all(t.group is None for t in ungrouped.tables)


def test_tpu_configs_name_every_slice():
    env = _env()
    features, tables = SlotTables(env, VocabLayout(env)).tpu_configs()
    assert sorted(features) == ["slot_1_0", "slot_1_1", "slot_2_0", "slot_2_1"]
    assert features["slot_2_1"].table is tables["table_2_1"]
