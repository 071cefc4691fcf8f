import threading

import numpy as np
import pytest
import tensorflow as tf

from nwsrec.features import Env, FeatureColumnV1, FeatureSlot

E = tf.tpu.experimental.embedding


def _declare(env, dims_by_slot, bias=()):
    """One run of a 'logits_fn': declare each slot with its vector dims."""
    out = {}
    for slot_id, dims in dims_by_slot.items():
        fc = FeatureColumnV1(
            FeatureSlot(env, slot_id, has_bias=slot_id in bias), f"slot_{slot_id}_0"
        )
        if slot_id in bias:
            out[(slot_id, "bias")] = fc.get_bias()
        for dim in dims:
            out[(slot_id, dim)] = fc.add_vector(dim)
    return out


def _finalized_env():
    env = Env({1: 10, 2: 20})
    _declare(env, {1: [4], 2: [3, 5]}, bias=(1,))
    env.finalize()
    return env


def _embeddings(batch=2):
    return {
        "slot_1_0": tf.fill([batch, 1], 10.0),
        "slot_1_1": tf.fill([batch, 4], 11.0),
        "slot_2_0": tf.fill([batch, 3], 20.0),
        "slot_2_1": tf.fill([batch, 5], 21.0),
    }


def test_discovery_returns_zeros_of_batch_one_and_records_dims():
    env = Env({1: 10, 2: 20})
    out = _declare(env, {1: [4], 2: [3, 5]}, bias=(1,))
    assert not env.is_finalized()
    assert out[(1, "bias")].shape == (1, 1) and out[(2, 5)].shape == (1, 5)
    assert all(float(tf.reduce_sum(tf.abs(t))) == 0.0 for t in out.values())
    env.finalize()
    assert env.is_finalized()
    assert env.slot_to_dims == {1: [1, 4], 2: [3, 5]}
    assert sorted(env.slot_to_config) == [1, 2]
    assert env.slot_to_config[1].has_bias and not env.slot_to_config[2].has_bias
    names = [(s.feature_name, s.table_name) for s in env.feature_slices()]
    assert names == [
        ("slot_1_0", "table_1_0"),
        ("slot_1_1", "table_1_1"),
        ("slot_2_0", "table_2_0"),
        ("slot_2_1", "table_2_1"),
    ]


def test_slot_to_dims_is_a_copy():
    env = _finalized_env()
    env.slot_to_dims[1].append(99)
    assert env.slot_to_dims[1] == [1, 4]


def test_round_returns_the_pooled_embeddings_of_each_slice():
    env = _finalized_env()
    env.begin_round(_embeddings())
    out = _declare(env, {1: [4], 2: [3, 5]}, bias=(1,))
    env.end_round()
    assert np.all(out[(1, "bias")].numpy() == 10.0)
    assert np.all(out[(1, 4)].numpy() == 11.0)
    assert np.all(out[(2, 3)].numpy() == 20.0) and np.all(out[(2, 5)].numpy() == 21.0)


def test_slot_declared_twice_in_one_round_is_an_error():
    env = Env({1: 10})
    FeatureSlot(env, 1)
    with pytest.raises(ValueError, match="slot 1 must be declared once per round"):
        FeatureSlot(env, 1)
    env2 = _finalized_env()
    env2.begin_round(_embeddings())
    FeatureSlot(env2, 2)
    with pytest.raises(ValueError, match="slot 2 must be declared once per round"):
        FeatureSlot(env2, 2)


def test_round_declaring_an_undiscovered_slot_names_it():
    env = Env({1: 10, 7: 5})
    _declare(env, {1: [4]})
    env.finalize()
    env.begin_round({"slot_1_0": tf.ones([2, 4])})
    with pytest.raises(ValueError, match=r"slot 7 must have been declared during discovery"):
        FeatureSlot(env, 7)


def test_round_with_another_dim_names_slot_and_dims():
    env = _finalized_env()
    env.begin_round(_embeddings())
    fc = FeatureColumnV1(FeatureSlot(env, 2), "slot_2_0")
    with pytest.raises(ValueError, match=r"slot 2 slice 0 must match discovery \(dim 3; .*dim=8"):
        fc.add_vector(8)


def test_round_with_an_extra_slice_is_an_error():
    env = _finalized_env()
    env.begin_round(_embeddings())
    fc = FeatureColumnV1(FeatureSlot(env, 2), "slot_2_0")
    fc.add_vector(3)
    fc.add_vector(5)
    with pytest.raises(ValueError, match=r"slot 2 slice 2 must match discovery \(no such slice"):
        fc.add_vector(5)


def test_round_missing_a_slot_or_slice_fails_at_end_round():
    env = _finalized_env()
    env.begin_round(_embeddings())
    _declare(env, {1: [4]}, bias=(1,))
    with pytest.raises(ValueError, match=r"slot 2 must declare the dims of discovery .*dims=\[\]"):
        env.end_round()
    env.begin_round(_embeddings())
    _declare(env, {1: [4], 2: [3]}, bias=(1,))
    with pytest.raises(ValueError, match=r"slot 2 must declare .*\[3, 5\]. Received: dims=\[3\]"):
        env.end_round()


def test_round_changing_has_bias_is_an_error():
    env = _finalized_env()
    env.begin_round(_embeddings())
    with pytest.raises(ValueError, match="slot 1 must keep has_bias=True as in discovery"):
        FeatureSlot(env, 1, has_bias=False)


def test_after_finalize_slots_need_an_open_round():
    env = _finalized_env()
    with pytest.raises(ValueError, match="FeatureSlot 1 must be declared inside a round"):
        FeatureSlot(env, 1, has_bias=True)


def test_a_slot_object_from_an_ended_round_cannot_be_used():
    env = _finalized_env()
    env.begin_round(_embeddings())
    fc = FeatureColumnV1(FeatureSlot(env, 2), "slot_2_0")
    fc.add_vector(3)
    fc.add_vector(5)
    _declare(env, {1: [4]}, bias=(1,))
    env.end_round()
    env.begin_round(_embeddings())
    with pytest.raises(
        ValueError, match="FeatureSlot 2 must be used in the round that declared it"
    ):
        fc.add_vector(3)


def test_discovery_slot_cannot_be_used_in_a_round():
    env = Env({1: 10})
    fc = FeatureColumnV1(FeatureSlot(env, 1), "slot_1_0")
    fc.add_vector(2)
    env.finalize()
    env.begin_round({"slot_1_0": tf.ones([1, 2])})
    with pytest.raises(
        ValueError, match="FeatureSlot 1 must be used in the round that declared it"
    ):
        fc.embedding_lookup(fc.feature_slot.feature_slices[0])


def test_a_round_left_open_by_an_exception_is_discarded_by_the_next():
    env = _finalized_env()
    env.begin_round(_embeddings())
    FeatureSlot(env, 2)  # logits_fn failed here; no end_round
    env.begin_round(_embeddings())
    out = _declare(env, {1: [4], 2: [3, 5]}, bias=(1,))
    env.end_round()
    assert np.all(out[(2, 5)].numpy() == 21.0)


def test_missing_embedding_in_the_round_is_a_lookup_error():
    env = _finalized_env()
    embeddings = _embeddings()
    del embeddings["slot_2_1"]
    env.begin_round(embeddings)
    fc = FeatureColumnV1(FeatureSlot(env, 2), "slot_2_0")
    fc.add_vector(3)
    with pytest.raises(LookupError, match=r"must hold 'slot_2_1' \(slot 2 slice 1\)"):
        fc.add_vector(5)


def test_phase_errors():
    env = Env({1: 10})
    with pytest.raises(ValueError, match=r"finalized before slot_to_dims is used"):
        env.slot_to_dims  # noqa: B018
    with pytest.raises(ValueError, match=r"finalized before slot_to_config is used"):
        env.slot_to_config  # noqa: B018
    with pytest.raises(ValueError, match=r"finalized before begin_round\(\) is used"):
        env.begin_round({})
    with pytest.raises(ValueError, match="must declare at least one FeatureSlot"):
        env.finalize()
    FeatureSlot(env, 1)
    with pytest.raises(ValueError, match="slot 1 must have at least one slice"):
        env.finalize()


def test_finalize_twice_and_round_bookkeeping_errors():
    env = _finalized_env()
    with pytest.raises(ValueError, match="must not be finalized twice"):
        env.finalize()
    with pytest.raises(ValueError, match="must have an open round to end"):
        env.end_round()
    with pytest.raises(ValueError, match="`embeddings` must be a mapping"):
        env.begin_round([tf.ones([1, 1])])
    assert not env.in_round()
    env.begin_round(_embeddings())
    assert env.in_round()


@pytest.mark.parametrize(
    "vocab",
    [[(1, 2)], {1: -1}, {-1: 5}, {True: 5}, {1: 2.5}, {"1": 5}],
    ids=["list", "negative-size", "negative-slot", "bool-slot", "float-size", "str-slot"],
)
def test_env_validates_the_vocab_dict(vocab):
    with pytest.raises(ValueError, match="`vocab_size_dict` must"):
        Env(vocab)


def test_vocab_size_dict_is_read_only():
    env = Env({1: 10})
    assert env.vocab_size_dict[1] == 10
    with pytest.raises(TypeError):
        env.vocab_size_dict[2] = 3


def test_rounds_are_per_thread():
    env = _finalized_env()
    barrier = threading.Barrier(2, timeout=30)
    results, errors = {}, []

    def run(value):
        try:
            embeddings = {k: tf.fill(v.shape, value) for k, v in _embeddings().items()}
            env.begin_round(embeddings)
            barrier.wait()  # both rounds are open at once
            out = _declare(env, {1: [4], 2: [3, 5]}, bias=(1,))
            barrier.wait()
            env.end_round()
            results[value] = float(out[(2, 5)].numpy()[0, 0])
        except Exception as err:  # reported below
            errors.append(err)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(v,), daemon=True) for v in (1.0, 2.0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a round thread hung"
    assert not errors
    assert results == {1.0: 1.0, 2.0: 2.0}
