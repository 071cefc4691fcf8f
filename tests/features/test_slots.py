import pytest
import tensorflow as tf

from nwsrec.features import Env, FeatureColumnV1, FeatureSlice, FeatureSlot

E = tf.tpu.experimental.embedding


def test_bias_slot_has_slice_zero_of_dim_one_with_bias_optimizer_and_zeros():
    env = Env({3: 10})
    slot = FeatureSlot(env, 3, has_bias=True)
    (bias,) = slot.feature_slices
    assert (bias.index, bias.dim, bias.is_bias) == (0, 1, True)
    assert isinstance(bias.optimizer, E.FTRL) and bias.optimizer.learning_rate == 0.01
    assert float(tf.reduce_sum(tf.abs(bias.initializer([4, 1], dtype=tf.float32)))) == 0.0


def test_vector_slices_take_the_defaults_unless_given_their_own():
    env = Env({3: 10})
    vec_opt, own_opt = E.SGD(learning_rate=0.5), E.Adam(learning_rate=0.1)
    own_init = tf.constant_initializer(0.25)
    slot = FeatureSlot(env, 3, has_bias=True, default_vec_optimizer=vec_opt)
    fc = FeatureColumnV1(slot, "slot_3_0")
    fc.add_vector(4)
    fc.add_vector(8, optimizer=own_opt, initializer=own_init)
    _, first, second = slot.feature_slices
    assert (first.index, first.dim, first.optimizer) == (1, 4, vec_opt)
    assert first.initializer is slot.default_vec_initializer
    assert (second.index, second.dim, second.optimizer) == (2, 8, own_opt)
    assert second.initializer is own_init
    assert not first.is_bias


def test_defaults_are_shared_per_env_and_explicit_ones_kept():
    env = Env({1: 10, 2: 10})
    own = E.SGD(learning_rate=0.3)
    a, b = FeatureSlot(env, 1), FeatureSlot(env, 2, default_vec_optimizer=own)
    assert isinstance(a.default_vec_optimizer, E.Adagrad)
    assert a.bias_optimizer is b.bias_optimizer
    assert a.default_vec_initializer is b.default_vec_initializer
    assert b.default_vec_optimizer is own
    other = FeatureSlot(Env({1: 10}), 1)
    assert other.default_vec_optimizer is not a.default_vec_optimizer


def test_several_columns_of_one_slot_add_consecutive_slices():
    env = Env({5: 10})
    slot = FeatureSlot(env, 5)
    FeatureColumnV1(slot, "slot_5_0").add_vector(2)
    FeatureColumnV1(slot, "slot_5_other").add_vector(6)
    assert [(s.feature_name, s.dim) for s in slot.feature_slices] == [
        ("slot_5_0", 2),
        ("slot_5_1", 6),
    ]


def test_get_bias_needs_a_bias():
    env = Env({5: 10})
    fc = FeatureColumnV1(FeatureSlot(env, 5), "slot_5_0")
    with pytest.raises(ValueError, match="slot 5 must be declared with has_bias=True"):
        fc.get_bias()


def test_embedding_lookup_of_another_slots_slice_is_an_error():
    env = Env({1: 10, 2: 10})
    other = FeatureSlot(env, 2).add_feature_slice(3)
    fc = FeatureColumnV1(FeatureSlot(env, 1), "slot_1_0")
    with pytest.raises(ValueError, match="`feature_slice` must be a slice of slot 1"):
        fc.embedding_lookup(other)
    stray = FeatureSlice(1, 0, 3, E.SGD(), None)
    with pytest.raises(ValueError, match="`feature_slice` must be a slice of slot 1"):
        fc.embedding_lookup(stray)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"slot_id": -1}, "`slot_id` must be a non-negative integer. Received: slot_id=-1"),
        ({"slot_id": True}, "`slot_id` must be a non-negative integer"),
        ({"slot_id": "3"}, "`slot_id` must be a non-negative integer"),
        ({"has_bias": 1}, "`has_bias` of slot 3 must be a bool"),
        ({"bias_optimizer": E.AdagradMomentum()}, "`bias_optimizer` of slot 3: `optimizer` must"),
        ({"default_vec_optimizer": "adagrad"}, "`default_vec_optimizer` of slot 3: `optimizer`"),
        ({"bias_initializer": 0.0}, "`bias_initializer` of slot 3 must be callable"),
        ({"default_vec_initializer": "zeros"}, "`default_vec_initializer` of slot 3 must be"),
    ],
)
def test_feature_slot_validates_its_arguments(kwargs, match):
    env = Env({3: 10})
    args = {"slot_id": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        FeatureSlot(env, **args)


def test_feature_slot_needs_an_env():
    with pytest.raises(ValueError, match="`env` must be an nwsrec.features.Env"):
        FeatureSlot({3: 10}, 3)


@pytest.mark.parametrize("dim", [0, -2, 1.5, True])
def test_add_vector_validates_dim(dim):
    fc = FeatureColumnV1(FeatureSlot(Env({3: 10}), 3), "slot_3_0")
    with pytest.raises(ValueError, match="`dim` of slot 3 must be an integer >= 1"):
        fc.add_vector(dim)


def test_add_vector_validates_its_own_optimizer_and_initializer():
    fc = FeatureColumnV1(FeatureSlot(Env({3: 10}), 3), "slot_3_0")
    with pytest.raises(ValueError, match="`optimizer` of slot 3: `optimizer` must be one of"):
        fc.add_vector(2, optimizer=object())
    with pytest.raises(ValueError, match="`initializer` of slot 3 must be callable"):
        fc.add_vector(2, initializer=1.0)


def test_feature_column_validates_its_arguments():
    slot = FeatureSlot(Env({3: 10}), 3)
    with pytest.raises(ValueError, match="`feature_slot` must be a FeatureSlot"):
        FeatureColumnV1(3, "slot_3_0")
    with pytest.raises(ValueError, match="`fc_name` must be a non-empty string"):
        FeatureColumnV1(slot, "")
