"""Env and FeatureSlot / FeatureColumnV1 talk only through the env's public slot protocol."""

import ast
import pathlib

import pytest
import tensorflow as tf

import nwsrec.embedding
import nwsrec.features
from nwsrec.features import (
    Env,
    FeatureColumnV1,
    FeatureSlice,
    FeatureSlot,
    SlotDefaults,
    SlotSpec,
)

E = tf.tpu.experimental.embedding


def _private_reads(path):
    """``x._name`` where ``x`` is not ``self`` / ``cls`` (a reach into another object)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        name = node.attr
        if not name.startswith("_") or (name.startswith("__") and name.endswith("__")):
            continue
        if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            continue
        found.append(f"{path.name}:{node.lineno}: .{name}")
    return found


@pytest.mark.parametrize("package", [nwsrec.features, nwsrec.embedding], ids=lambda p: p.__name__)
def test_no_module_reads_another_objects_private_members(package):
    root = pathlib.Path(package.__file__).parent
    found = [hit for path in sorted(root.glob("*.py")) for hit in _private_reads(path)]
    assert found == []


def test_a_slot_keeps_the_id_of_the_round_that_declared_it():
    env = Env({1: 10})
    assert env.current_round_id() == 0  # discovery
    discovery_slot = FeatureSlot(env, 1)
    assert discovery_slot.round_id == 0
    FeatureColumnV1(discovery_slot, "slot_1_0").add_vector(2)
    env.finalize()
    assert env.current_round_id() is None  # finalized, no round open yet
    ids = []
    for _ in range(2):
        env.begin_round({"slot_1_0": tf.ones([3, 2])})
        slot = FeatureSlot(env, 1)
        assert slot.round_id == env.current_round_id()
        ids.append(slot.round_id)
        FeatureColumnV1(slot, "slot_1_0").add_vector(2)
        env.end_round()
        assert env.current_round_id() is None
    assert 0 not in ids and ids[0] != ids[1]


def test_slot_defaults_are_one_shared_set_per_env():
    env, other = Env({1: 10, 2: 10}), Env({1: 10})
    defaults = env.slot_defaults
    assert isinstance(defaults, SlotDefaults)
    assert env.slot_defaults is defaults
    assert other.slot_defaults.vec_optimizer is not defaults.vec_optimizer
    a, b = FeatureSlot(env, 1, has_bias=True), FeatureSlot(env, 2)
    for slot in (a, b):
        assert slot.bias_optimizer is defaults.bias_optimizer
        assert slot.bias_initializer is defaults.bias_initializer
        assert slot.default_vec_optimizer is defaults.vec_optimizer
        assert slot.default_vec_initializer is defaults.vec_initializer
    assert a.feature_slices[0].optimizer is defaults.bias_optimizer


def test_slot_arguments_override_the_env_defaults():
    env = Env({1: 10})
    sgd, ones = E.SGD(0.5), tf.ones_initializer()
    slot = FeatureSlot(env, 1, default_vec_optimizer=sgd, default_vec_initializer=ones)
    assert slot.default_vec_optimizer is sgd
    assert slot.default_vec_initializer is ones
    assert slot.bias_optimizer is env.slot_defaults.bias_optimizer


def test_declare_slot_records_the_slot_and_returns_the_round_id():
    env = Env({1: 10})
    slot = FeatureSlot(env, 1, has_bias=True)  # FeatureSlot calls env.declare_slot
    with pytest.raises(ValueError, match="slot 1 must be declared once per round"):
        env.declare_slot(slot.spec)
    env.finalize()
    assert env.slot_to_config == {1: slot.spec}
    assert isinstance(env.slot_to_config[1], SlotSpec)
    with pytest.raises(ValueError, match="must be declared inside a round"):
        env.declare_slot(slot.spec)


def test_declare_slice_checks_dims_against_discovery_and_records_the_slice():
    env = Env({1: 10})
    FeatureColumnV1(FeatureSlot(env, 1), "slot_1_0").add_vector(4)
    env.finalize()
    env.begin_round({"slot_1_0": tf.ones([2, 4])})
    slot = FeatureSlot(env, 1)
    sgd = E.SGD(0.1)
    with pytest.raises(ValueError, match=r"slot 1 slice 0 must match discovery \(dim 4"):
        env.declare_slice(slot.round_id, FeatureSlice(1, 0, 5, sgd, None))
    with pytest.raises(ValueError, match=r"slot 1 slice 1 must match discovery \(no such"):
        env.declare_slice(slot.round_id, FeatureSlice(1, 1, 4, sgd, None))
    assert slot.feature_slices == ()  # nothing recorded by a refused slice
    slot.add_feature_slice(4)  # calls env.declare_slice, which records the slice
    env.end_round()


def test_the_env_records_specs_and_never_a_slot():
    env = Env({1: 10})
    slot = FeatureSlot(env, 1, has_bias=True)
    FeatureColumnV1(slot, "slot_1_0").add_vector(3)
    env.finalize()
    (spec,) = env.slot_to_config.values()
    assert type(spec) is SlotSpec and spec.dims == (1, 3)
    assert spec.feature_slices == slot.feature_slices
    assert spec.default_vec_optimizer is slot.default_vec_optimizer


def test_slice_embedding_is_the_rounds_tensor_and_zeros_in_discovery():
    env = Env({1: 10})
    slot = FeatureSlot(env, 1, has_bias=True)
    bias = slot.feature_slices[0]
    zeros = env.slice_embedding(slot.round_id, bias)
    assert zeros.shape == (1, 1) and float(tf.reduce_sum(zeros)) == 0.0
    env.finalize()
    tensor = tf.fill([3, 1], 7.0)
    env.begin_round({"slot_1_0": tensor})
    slot = FeatureSlot(env, 1, has_bias=True)
    assert env.slice_embedding(slot.round_id, slot.feature_slices[0]) is tensor
    assert FeatureColumnV1(slot, "slot_1_0").get_bias() is tensor
    env.end_round()
    with pytest.raises(ValueError, match="must be used in the round that declared it"):
        env.slice_embedding(slot.round_id, slot.feature_slices[0])


def test_slice_embedding_names_a_missing_feature():
    env = Env({1: 10})
    FeatureSlot(env, 1, has_bias=True)
    env.finalize()
    env.begin_round({})
    slot = FeatureSlot(env, 1, has_bias=True)
    with pytest.raises(LookupError, match="must hold 'slot_1_0'"):
        env.slice_embedding(slot.round_id, slot.feature_slices[0])
