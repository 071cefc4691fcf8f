"""Tests of ``MixedEmbedOpComb``, backend-neutral.

They run on the default (TensorFlow) backend and, via ``test_backends.py``, again in a
subprocess under ``KERAS_BACKEND=jax`` with TensorFlow unimportable.
"""

import os

import keras
import numpy as np
import pytest
from layer_testing import (
    BACKEND,
    compiled,
    compiled_training_call,
    num_traced_ops,
    run_layer_test,
    train_gradients,
)

import nwsrec.layers
from nwsrec.layers import MixedEmbedOpComb, TeacherEmbeddingTransform

SLOTS = ["user", "item", "ctx"]
CHOICES = [[0, 8, 16], [4, 12], [2, 4, 6, 8]]
WIDTH = 24 + 16 + 20


def make_layer(**overrides):
    kwargs = dict(
        slot_names=SLOTS,
        embedding_size_choices_list=CHOICES,
        warmup_steps=0,
        pretraining_steps=0,
        seed=7,
    )
    kwargs.update(overrides)
    layer = MixedEmbedOpComb(**kwargs)
    return layer


def built(layer, width=None):
    layer.build((None, width or layer.total_embedding_size))
    return layer


def set_logits(layer, logits_per_slot):
    layer.arch_embedding_weights.assign(np.concatenate(logits_per_slot).astype(np.float32))


def softmax(w):
    e = np.exp(np.asarray(w, dtype=np.float64) - np.max(w))
    return e / e.sum()


def drawn_choices(layer, output_row):
    """Index of the kept segment of every slot, from the output of an all-ones row.

    A slot whose block is all zero kept its zero-size choice (index of the first size 0).
    """
    kept = np.asarray(output_row) != 0
    out, start = [], 0
    for sizes in layer.embedding_size_choices_list:
        block = kept[start : start + sum(sizes)]
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        segments = [block[a:b].any() for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        assert sum(segments) <= 1, f"more than one segment kept: {segments}"
        out.append(segments.index(True) if any(segments) else sizes.index(0))
        start += sum(sizes)
    return np.array(out)


def segment_mask(layer, choices):
    """0/1 column mask keeping segment choices[i] of every slot i."""
    parts = []
    for sizes, j in zip(layer.embedding_size_choices_list, choices, strict=True):
        for k, size in enumerate(sizes):
            parts.append(np.full(size, 1.0 if k == j else 0.0))
    return np.concatenate(parts).astype(np.float32)


def sigma_tolerance(p, n, k=5.0):
    """k standard deviations of a frequency estimated from n Bernoulli(p) draws."""
    return k * np.sqrt(np.asarray(p) * (1 - np.asarray(p)) / n)


# --------------------------------------------------------------------- public surface


def test_runs_on_the_requested_backend():
    # Set by test_backends.py, so a subprocess that silently fell back to TensorFlow fails.
    assert BACKEND == os.environ.get("NWSREC_EXPECT_BACKEND", BACKEND)


def test_every_public_name_is_exported():
    assert set(nwsrec.layers.__all__) == {"MixedEmbedOpComb", "TeacherEmbeddingTransform"}
    for name in nwsrec.layers.__all__:
        assert issubclass(getattr(nwsrec.layers, name), keras.layers.Layer)


@pytest.mark.parametrize(
    "extra, input_fn, shapes, num_trainable",
    [
        pytest.param({}, lambda x, t: x, [(5, WIDTH)], 1, id="sample"),
        pytest.param({"mode": "mixed"}, lambda x, t: x, [(5, WIDTH)], 1, id="mixed"),
        pytest.param(
            {"teacher_embedding_sizes_list": [8, 4, 8]},
            lambda x, t: [x, t],
            [(5, WIDTH), ()],
            3,
            id="teacher",
        ),
        pytest.param(
            {"teacher_embedding_sizes_list": [8, 4, 8], "distillation_mask": True},
            lambda x, t: [x, t],
            [(5, WIDTH), ()],
            3,
            id="teacher-masked",
        ),
    ],
)
def test_layer_passes_standard_layer_checks(tmp_path, extra, input_fn, shapes, num_trainable):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, WIDTH)).astype(np.float32)
    t = rng.normal(size=(5, 20)).astype(np.float32)
    layer = run_layer_test(
        MixedEmbedOpComb,
        dict(
            slot_names=SLOTS,
            embedding_size_choices_list=CHOICES,
            warmup_steps=0,
            pretraining_steps=0,
            seed=3,
            **extra,
        ),
        input_fn(x, t),
        expected_output_shapes=shapes,
        expected_num_trainable_weights=num_trainable,
        expected_num_non_trainable_weights=1,
        tmp_path=tmp_path,
    )
    assert int(layer.step.numpy()) == 1


# ---------------------------------------------------------------------------- drawing


def test_training_keeps_one_segment_per_slot_unchanged_and_zeroes_the_rest():
    layer = make_layer()
    x = np.random.default_rng(1).normal(size=(4, WIDTH)).astype(np.float32)
    for _ in range(5):
        y = np.asarray(layer(x, training=True))
        choices = drawn_choices(layer, y[0])
        np.testing.assert_allclose(y, x * segment_mask(layer, choices), rtol=0, atol=0)


def test_draw_frequencies_match_softmax_probabilities():
    num_slots, calls = 2000, 3
    logits = np.array([0.0, 1.0, 2.0])
    layer = built(
        MixedEmbedOpComb(
            [f"s{i}" for i in range(num_slots)], [[4, 8, 16]] * num_slots, 0, 0, seed=11
        )
    )
    set_logits(layer, [logits] * num_slots)
    ones = np.ones((1, layer.total_embedding_size), np.float32)
    draws = np.concatenate(
        [drawn_choices(layer, layer(ones, training=True)[0]) for _ in range(calls)]
    )
    n = len(draws)
    freq = np.bincount(draws, minlength=3) / n
    p = softmax(logits)
    np.testing.assert_array_less(np.abs(freq - p), sigma_tolerance(p, n))


def test_each_training_step_draws_afresh_inside_a_compiled_function():
    # tf.function on TensorFlow, jax.jit of stateless_call on JAX.
    layer = built(MixedEmbedOpComb(["a"], [[4, 4]], 0, 0, seed=5))
    ones = np.ones((1, 8), np.float32)
    train_step, tracing_count = compiled_training_call(layer)

    draws = [int(drawn_choices(layer, train_step(ones)[0])[0]) for _ in range(64)]
    assert int(layer.step.numpy()) == 64
    # Uniform over two choices: 64 identical draws would have probability 2**-63.
    assert 0 < sum(draws) < 64
    assert tracing_count() == 1


def test_zero_size_is_never_drawn_during_warmup_and_is_drawn_after():
    num_slots, warmup = 500, 3
    layer = built(
        MixedEmbedOpComb(
            [f"s{i}" for i in range(num_slots)], [[0, 8]] * num_slots, warmup, 0, seed=2
        )
    )
    logits = np.array([3.0, 0.0])
    set_logits(layer, [logits] * num_slots)
    ones = np.ones((1, 8 * num_slots), np.float32)
    for step in range(warmup + 1):  # clip(step - warmup, 0, 1) == 0
        assert int(layer.step.numpy()) == step
        assert (drawn_choices(layer, layer(ones, training=True)[0]) == 1).all()
    freq_zero = np.mean(drawn_choices(layer, layer(ones, training=True)[0]) == 0)
    p0 = softmax(logits)[0]
    assert abs(freq_zero - p0) < sigma_tolerance(p0, num_slots)


def test_pretraining_draws_uniformly_over_four_choices_then_follows_probabilities():
    num_slots, pretraining = 1000, 3
    layer = built(
        MixedEmbedOpComb(
            [f"s{i}" for i in range(num_slots)],
            [[2, 4, 8, 16]] * num_slots,
            0,
            pretraining,
            seed=4,
        )
    )
    logits = np.array([6.0, 0.0, 0.0, 0.0])  # p_0 ~ 0.993
    set_logits(layer, [logits] * num_slots)
    ones = np.ones((1, 30 * num_slots), np.float32)
    draws = np.concatenate(
        [drawn_choices(layer, layer(ones, training=True)[0]) for _ in range(pretraining)]
    )
    n = len(draws)
    freq = np.bincount(draws, minlength=4) / n
    np.testing.assert_array_less(np.abs(freq - 0.25), sigma_tolerance(0.25, n))
    after = drawn_choices(layer, layer(ones, training=True)[0])
    p0 = softmax(logits)[0]
    assert abs(np.mean(after == 0) - p0) < sigma_tolerance(p0, num_slots)


def test_draw_largest_draws_the_largest_size_that_often_and_the_rest_uniformly():
    num_slots, p = 1000, 0.5
    # Sizes out of order: the largest is the second choice; a one-choice slot draws it.
    choices = [[4, 16, 0, 1]] * (num_slots - 1) + [[8]]
    layer = built(
        MixedEmbedOpComb(
            [f"s{i}" for i in range(num_slots)], choices, 0, 10**9, seed=5, draw_largest=p
        )
    )
    ones = np.ones((1, 21 * (num_slots - 1) + 8), np.float32)
    draws = np.concatenate(
        [drawn_choices(layer, layer(ones, training=True)[0])[:-1] for _ in range(3)]
    )
    n = len(draws)
    freq = np.bincount(draws, minlength=4) / n
    assert abs(freq[1] - p) < sigma_tolerance(p, n)
    for j in (0, 2, 3):
        assert abs(freq[j] - (1 - p) / 3) < sigma_tolerance((1 - p) / 3, n)
    assert drawn_choices(layer, layer(ones, training=True)[0])[-1] == 0


def test_pretraining_during_warmup_is_uniform_over_the_nonzero_sizes():
    num_slots = 1000
    layer = built(
        MixedEmbedOpComb(
            [f"s{i}" for i in range(num_slots)], [[0, 8, 16]] * num_slots, 10, 5, seed=9
        )
    )
    ones = np.ones((1, 24 * num_slots), np.float32)
    draws = drawn_choices(layer, layer(ones, training=True)[0])
    assert not (draws == 0).any()
    assert abs(np.mean(draws == 1) - 0.5) < sigma_tolerance(0.5, num_slots)


def test_seed_makes_draws_reproducible():
    ones = np.ones((1, WIDTH), np.float32)

    def draws(seed):
        layer = make_layer(seed=seed, slot_names=SLOTS)
        return [drawn_choices(layer, layer(ones, training=True)[0]).tolist() for _ in range(8)]

    assert draws(123) == draws(123)
    assert draws(123) != draws(124)


# ------------------------------------------------------------------------------- step


def test_step_counts_training_calls_only_and_can_be_assigned():
    layer = make_layer()
    x = np.ones((2, WIDTH), np.float32)
    layer(x, training=True)
    layer(x, training=True)
    layer(x, training=False)
    layer(x)
    assert int(layer.step.numpy()) == 2
    assert layer.step in layer.non_trainable_weights
    layer.step.assign(100)
    layer(x, training=True)
    assert int(layer.step.numpy()) == 101


# --------------------------------------------------------------------------- gradient


@pytest.mark.parametrize("compile_step", [False, True], ids=["eager", "compiled"])
def test_arch_gradient_equals_straight_through_formula_for_drawn_choice(compile_step):
    # tf.GradientTape (and tf.function) on TensorFlow, jax.grad (and jax.jit) on JAX.
    layer = built(make_layer(seed=21))
    rng = np.random.default_rng(3)
    logits = [rng.normal(size=len(c)) for c in CHOICES]
    set_logits(layer, logits)
    x = rng.normal(size=(4, WIDTH)).astype(np.float32)
    upstream = rng.normal(size=(4, WIDTH)).astype(np.float32)

    y, (grad_w,), grad_x = train_gradients(
        layer, x, lambda y: keras.ops.sum(y * upstream), compiled=compile_step
    )
    y, grad_x, grad_w = (np.asarray(t) for t in (y, grad_x, grad_w))

    choices = drawn_choices(layer, (y != 0)[0])
    mask = segment_mask(layer, choices)
    np.testing.assert_allclose(y, x * mask, rtol=0, atol=0)
    np.testing.assert_allclose(grad_x, upstream * mask, rtol=1e-6)
    expected, start = [], 0
    for sizes, w, j in zip(CHOICES, logits, choices, strict=True):
        p = softmax(w)
        bounds = np.concatenate([[0], np.cumsum(sizes)]) + start
        dloss_dp = np.sum((upstream * x)[:, bounds[j] : bounds[j + 1]])
        expected.append(dloss_dp * p[j] * ((np.arange(len(sizes)) == j) - p))
        start += sum(sizes)
    np.testing.assert_allclose(grad_w, np.concatenate(expected), rtol=1e-4, atol=1e-6)


def test_call_is_a_fixed_number_of_operations_whatever_the_slot_count():
    # Graph ops of a tf.function on TensorFlow, jaxpr equations on JAX.
    def num_ops(num_slots):
        layer = built(
            MixedEmbedOpComb(
                [f"s{i}" for i in range(num_slots)],
                [[0, 8, 16], [4, 12]] * (num_slots // 2),
                10,
                5,
                seed=1,
            )
        )
        return num_traced_ops(layer, layer.total_embedding_size)

    assert num_ops(4) == num_ops(256)


# -------------------------------------------------------------------------- inference


def test_inference_keeps_argmax_choice_deterministically():
    layer = built(make_layer(warmup_steps=0))
    set_logits(layer, [[0.0, 2.0, 1.0], [1.0, 0.0], [0.0, 0.0, 3.0, 0.0]])
    layer.step.assign(5)
    x = np.random.default_rng(2).normal(size=(3, WIDTH)).astype(np.float32)
    first = np.asarray(layer(x, training=False))
    np.testing.assert_array_equal(first, np.asarray(layer(x, training=False)))
    np.testing.assert_array_equal(first, x * segment_mask(layer, [1, 0, 2]))
    assert layer.chosen_embedding_sizes() == {"user": 8, "item": 4, "ctx": 6}


def test_inference_and_chosen_sizes_apply_the_warmup_rule():
    layer = built(make_layer(warmup_steps=10))
    set_logits(layer, [[5.0, 1.0, 2.0], [0.0, 1.0], [1.0, 0.0, 0.0, 0.0]])
    ones = np.ones((1, WIDTH), np.float32)
    layer.step.assign(10)  # clip(10 - 10, 0, 1) == 0: size 0 is blocked
    assert drawn_choices(layer, layer(ones)[0]).tolist() == [2, 1, 0]
    assert layer.chosen_embedding_sizes() == {"user": 16, "item": 12, "ctx": 2}
    layer.step.assign(11)
    assert drawn_choices(layer, layer(ones)[0]).tolist() == [0, 1, 0]
    assert layer.chosen_embedding_sizes() == {"user": 0, "item": 12, "ctx": 2}


# ------------------------------------------------------------------------------ mixed


def test_mixed_mode_outputs_the_probability_weighted_mixture():
    layer = built(make_layer(mode="mixed", pretraining_steps=2))
    rng = np.random.default_rng(5)
    logits = [rng.normal(size=len(c)) for c in CHOICES]
    set_logits(layer, logits)
    x = rng.normal(size=(3, WIDTH)).astype(np.float32)

    def column_weights(weights):
        return np.concatenate(
            [np.repeat(w, sizes) for w, sizes in zip(weights, CHOICES, strict=True)]
        )

    uniform = column_weights([np.full(len(c), 1 / len(c)) for c in CHOICES])
    mixture = column_weights([softmax(w) for w in logits])
    np.testing.assert_allclose(layer(x, training=True), x * uniform, rtol=1e-6)  # step 0
    np.testing.assert_allclose(layer(x, training=True), x * uniform, rtol=1e-6)  # step 1
    np.testing.assert_allclose(layer(x, training=True), x * mixture, rtol=1e-5)  # step 2
    np.testing.assert_allclose(layer(x, training=False), x * mixture, rtol=1e-5)
    assert int(layer.step.numpy()) == 3


# -------------------------------------------------------------------------- summaries


def test_summaries_and_probabilities_match_numpy():
    layer = built(make_layer())
    rng = np.random.default_rng(8)
    logits = [rng.normal(size=len(c)) for c in CHOICES]
    set_logits(layer, logits)
    probs = [softmax(w) for w in logits]

    summaries = layer.get_summaries()
    entropy = sum(-np.sum(p * np.log(p)) for p in probs)
    expected_dims = sum(np.dot(p, c) for p, c in zip(probs, CHOICES, strict=True))
    np.testing.assert_allclose(float(summaries["arch_entropy"]), entropy, rtol=1e-5)
    np.testing.assert_allclose(float(summaries["expected_emb_dims"]), expected_dims, rtol=1e-5)
    np.testing.assert_allclose(
        float(summaries["expected_zero_embedding_size_weights"]), probs[0][0], rtol=1e-5
    )
    names = [name for name, _ in summaries["arch_weights_after_softmax_list"]]
    assert names == [
        "arch_embedding_weights_after_softmax/user_0",
        "arch_embedding_weights_after_softmax/user_8",
        "arch_embedding_weights_after_softmax/user_16",
        "arch_embedding_weights_after_softmax/item_4",
        "arch_embedding_weights_after_softmax/item_12",
        "arch_embedding_weights_after_softmax/ctx_2",
        "arch_embedding_weights_after_softmax/ctx_4",
        "arch_embedding_weights_after_softmax/ctx_6",
        "arch_embedding_weights_after_softmax/ctx_8",
    ]
    values = [float(v) for _, v in summaries["arch_weights_after_softmax_list"]]
    np.testing.assert_allclose(values, np.concatenate(probs), rtol=1e-5)

    reported = layer.choice_probabilities()
    assert list(reported) == SLOTS
    for slot, p in zip(SLOTS, probs, strict=True):
        np.testing.assert_allclose(reported[slot], p, rtol=1e-6)
    assert layer.get_arch_embedding_weights() is layer.arch_embedding_weights


def test_summaries_can_be_computed_inside_a_compiled_function():
    # tf.function on TensorFlow, jax.jit on JAX (which returns arrays only: no names).
    layer = built(make_layer())

    def scalar_summaries():
        summaries = layer.get_summaries()
        values = [v for _, v in summaries.pop("arch_weights_after_softmax_list")]
        return summaries, values

    summaries, values = compiled(scalar_summaries)()
    np.testing.assert_allclose(
        float(summaries["arch_entropy"]), np.log(3) + np.log(2) + np.log(4), rtol=1e-4
    )
    np.testing.assert_allclose(float(summaries["expected_emb_dims"]), 8 + 8 + 5, rtol=1e-3)
    np.testing.assert_allclose(
        [float(v) for v in values], [1 / len(c) for c in CHOICES for _ in c], rtol=1e-3
    )


# -------------------------------------------------------------------------- teacher


@pytest.mark.parametrize("distillation_mask", [False, True])
def test_distillation_loss_is_mse_between_transformed_teacher_and_masked_embedding(
    distillation_mask,
):
    teacher_sizes = [8, 4, 6]
    layer = make_layer(
        teacher_embedding_sizes_list=teacher_sizes, distillation_mask=distillation_mask
    )
    rng = np.random.default_rng(6)
    x = rng.normal(size=(5, WIDTH)).astype(np.float32)
    t = rng.normal(size=(5, 18)).astype(np.float32)
    masked, loss = layer([x, t], training=True)
    transform = layer.teacher_embedding_transform
    assert isinstance(transform, TeacherEmbeddingTransform)
    assert transform.max_choice_per_embedding == [24, 16, 20]

    mask = segment_mask(layer, drawn_choices(layer, np.asarray(masked)[0]))
    np.testing.assert_allclose(masked, x * mask, rtol=0, atol=0)
    w = transform.slot_weight_matrices()
    b = np.asarray(transform.teacher_embedding_transform_bias)
    bounds = np.concatenate([[0], np.cumsum(teacher_sizes)])
    teacher_out = (
        np.concatenate([t[:, bounds[i] : bounds[i + 1]] @ w[i] for i in range(3)], axis=1) + b
    )
    if distillation_mask:
        teacher_out = teacher_out * mask
    expected = np.mean((teacher_out - x * mask) ** 2)
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
    # The transform is built once, not on every call.
    layer([x, t], training=True)
    assert layer.teacher_embedding_transform is transform
    assert len(layer.trainable_weights) == 3


# ---------------------------------------------------------------- config and saving


def test_config_holds_every_constructor_argument():
    layer = make_layer(
        warmup_steps=5,
        pretraining_steps=7,
        teacher_embedding_sizes_list=[1, 2, 3],
        distillation_mask=True,
        seed=99,
        mode="mixed",
        name="nws",
    )
    config = layer.get_config()
    assert {k: config[k] for k in list(config) if k not in ("dtype", "trainable")} == {
        "name": "nws",
        "slot_names": SLOTS,
        "embedding_size_choices_list": CHOICES,
        "warmup_steps": 5,
        "pretraining_steps": 7,
        "teacher_embedding_sizes_list": [1, 2, 3],
        "distillation_mask": True,
        "seed": 99,
        "mode": "mixed",
        "layout": "separate",
        "draw_largest": None,
    }
    assert MixedEmbedOpComb.from_config(config).get_config() == config
    nested = make_layer(layout="nested", draw_largest=0.4, name="n").get_config()
    assert nested["layout"] == "nested" and nested["draw_largest"] == 0.4
    assert MixedEmbedOpComb.from_config(nested).get_config() == nested


def test_keras_save_and_load_restore_step_weights_and_outputs(tmp_path):
    layer = make_layer()
    inputs = keras.Input((WIDTH,))
    model = keras.Model(inputs, keras.layers.Dense(1)(layer(inputs)))
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(4)
    x = rng.normal(size=(32, WIDTH)).astype(np.float32)
    model.fit(x, rng.normal(size=(32, 1)), batch_size=8, epochs=1, verbose=0)
    assert int(layer.step.numpy()) == 4

    path = tmp_path / "nws.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    loaded_layer = loaded.layers[1]
    assert isinstance(loaded_layer, MixedEmbedOpComb)
    assert int(loaded_layer.step.numpy()) == 4
    np.testing.assert_array_equal(
        loaded_layer.arch_embedding_weights.numpy(), layer.arch_embedding_weights.numpy()
    )
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded_layer.chosen_embedding_sizes() == layer.chosen_embedding_sizes()


def test_model_fit_trains_the_architecture_weights():
    layer = make_layer(seed=12)
    inputs = keras.Input((WIDTH,))
    model = keras.Model(inputs, keras.layers.Dense(1)(layer(inputs)))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    rng = np.random.default_rng(5)
    x = rng.normal(size=(64, WIDTH)).astype(np.float32)
    before = layer.arch_embedding_weights.numpy().copy()
    model.fit(x, x[:, :1] * 3.0, batch_size=16, epochs=2, verbose=0)
    assert int(layer.step.numpy()) == 8
    assert not np.allclose(layer.arch_embedding_weights.numpy(), before)


def test_compute_output_shape():
    assert make_layer().compute_output_shape((None, WIDTH)) == (None, WIDTH)
    teacher = make_layer(teacher_embedding_sizes_list=[1, 2, 3])
    assert teacher.compute_output_shape([(None, WIDTH), (None, 6)]) == ((None, WIDTH), ())


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "overrides, match",
    [
        pytest.param({"slot_names": []}, r"`slot_names` must not be empty", id="no-slots"),
        pytest.param({"slot_names": "user"}, r"`slot_names` must be a list", id="names-str"),
        pytest.param(
            {"slot_names": ["user", "item", "user"]}, r"'user' appears twice", id="dup-name"
        ),
        pytest.param(
            {"slot_names": ["user", 3, "ctx"]}, r"`slot_names\[1\]` must be", id="name-type"
        ),
        pytest.param(
            {"slot_names": ["user", "item"]},
            r"one entry per slot \(2 slot names\).*Received: 3 entries",
            id="length-mismatch",
        ),
        pytest.param(
            {"embedding_size_choices_list": [[0, 8], [], [4]]},
            r"`embedding_size_choices_list\[1\]` \(slot 'item'\) must not be empty",
            id="empty-choices",
        ),
        pytest.param(
            {"embedding_size_choices_list": [[0, 8], [4, -2], [4]]},
            r"`embedding_size_choices_list\[1\]\[1\]` \(slot 'item'\) must be a non-negative "
            r"integer. Received: embedding_size_choices_list\[1\]\[1\]=-2",
            id="negative-size",
        ),
        pytest.param(
            {"embedding_size_choices_list": [[0, 8], [4, 2.5], [4]]},
            r"\(slot 'item'\) must be a non-negative integer",
            id="float-size",
        ),
        pytest.param(
            {"embedding_size_choices_list": [[0, 8], [4], [0, 0]]},
            r"`embedding_size_choices_list\[2\]` \(slot 'ctx'\) must have at least one "
            r"positive size. Received: embedding_size_choices_list\[2\]=\[0, 0\]",
            id="all-zero",
        ),
        pytest.param(
            {"embedding_size_choices_list": [[0, 8], "ab", [4]]},
            r"\(slot 'item'\) must be a list of integers",
            id="choices-str",
        ),
        pytest.param(
            {"warmup_steps": -1}, r"`warmup_steps` must be a non-negative integer", id="warmup"
        ),
        pytest.param(
            {"pretraining_steps": 1.5},
            r"`pretraining_steps` must be a non-negative integer. Received: "
            r"pretraining_steps=1.5",
            id="pretraining",
        ),
        pytest.param(
            {"teacher_embedding_sizes_list": [4, 4]},
            r"`teacher_embedding_sizes_list` must have one entry per slot \(3 slots\)",
            id="teacher-length",
        ),
        pytest.param(
            {"teacher_embedding_sizes_list": [4, 0, 4]},
            r"`teacher_embedding_sizes_list\[1\]` \(slot 'item'\) must be a positive integer",
            id="teacher-zero",
        ),
        pytest.param({"distillation_mask": "yes"}, r"`distillation_mask` must be a bool", id="dm"),
        pytest.param({"seed": "x"}, r"`seed` must be an integer or None", id="seed"),
        pytest.param({"mode": "gumbel"}, r"`mode` must be one of .*mode='gumbel'", id="mode"),
        pytest.param(
            {"draw_largest": 1.0},
            r"`draw_largest` must be None or a probability in \(0, 1\). Received: "
            r"draw_largest=1.0",
            id="draw-largest",
        ),
    ],
)
def test_invalid_configuration_raises_value_error(overrides, match):
    kwargs = dict(
        slot_names=SLOTS,
        embedding_size_choices_list=[[0, 8], [4], [4]],
        warmup_steps=0,
        pretraining_steps=0,
    )
    kwargs.update(overrides)
    with pytest.raises(ValueError, match=match):
        MixedEmbedOpComb(**kwargs)


@pytest.mark.parametrize(
    "teacher, inputs, match",
    [
        pytest.param(
            None,
            (None, WIDTH + 1),
            r"sum of their sizes \(60: 'user': 24, 'item': "
            r"16, 'ctx': 20\). Received: input_shape=\(None, 61\)",
            id="width",
        ),
        pytest.param(None, (None, 3, WIDTH), r"must have rank 2.*\(None, 3, 60\)", id="rank"),
        pytest.param(None, [(None, WIDTH), (None, 4)], r"must be one tensor", id="two-inputs"),
        pytest.param([1, 2, 3], (None, WIDTH), r"\[embedding, teacher_embedding\]", id="one"),
        pytest.param(
            [1, 2, 3],
            [(None, WIDTH), (None, 7)],
            r"sum of `teacher_embedding_sizes_list` \(6\). Received: input_shape=\(None, 7\)",
            id="teacher-width",
        ),
        pytest.param(
            [1, 2, 3],
            [(None, WIDTH), (None, 2, 3)],
            r"teacher embedding must have rank 2",
            id="teacher-rank",
        ),
    ],
)
def test_input_that_does_not_match_the_configuration_raises_value_error(teacher, inputs, match):
    layer = make_layer(teacher_embedding_sizes_list=teacher)
    with pytest.raises(ValueError, match=match):
        layer.build(inputs)


def test_calling_a_built_layer_with_a_wrong_width_raises_value_error():
    layer = built(make_layer())
    with pytest.raises(ValueError, match=r"Received: inputs.shape=\(2, 59\)"):
        layer(np.ones((2, WIDTH - 1), np.float32))


@pytest.mark.parametrize(
    "method",
    [
        "chosen_embedding_sizes",
        "choice_probabilities",
        "get_summaries",
        "get_arch_embedding_weights",
    ],
)
def test_reports_before_the_layer_is_built_raise_value_error(method):
    with pytest.raises(ValueError, match=rf"`{method}\(\)` needs the layer's weights"):
        getattr(make_layer(), method)()


def test_kept_is_zero_exactly_for_slots_at_size_zero_in_training_and_inference():
    layer = make_layer()
    x = np.ones((2, WIDTH), dtype=np.float32)
    seen_zero = False
    for _ in range(30):  # "user" draws its size 0 about a third of the time
        y, kept = layer(x, training=True, return_kept=True)
        choices = drawn_choices(layer, np.asarray(y)[0])
        expected = [0.0 if c == 0 and CHOICES[i][0] == 0 else 1.0 for i, c in enumerate(choices)]
        np.testing.assert_array_equal(np.asarray(kept), expected)
        seen_zero |= expected[0] == 0.0
    assert seen_zero
    with layer.pinned({"user": 0, "item": 12}):
        _, kept = layer(x, training=False, return_kept=True)
        np.testing.assert_array_equal(np.asarray(kept), [0.0, 1.0, 1.0])
    with layer.pinned(layer.largest_sizes()):
        _, kept = layer(x, training=False, return_kept=True)
        np.testing.assert_array_equal(np.asarray(kept), [1.0, 1.0, 1.0])


def test_pinned_logits_name_the_slot_or_size_at_fault():
    layer = built(make_layer())
    with pytest.raises(LookupError, match="slots of layer.*'nope'"):
        layer.pinned_logits({"nope": 4})
    with pytest.raises(ValueError, match="slot item must be one of its candidates \\[4, 12\\]"):
        layer.pinned_logits({"item": 8})
    assert layer.largest_sizes() == {"user": 16, "item": 12, "ctx": 8}


# ------------------------------------------------------------------------ nested layout

NESTED_WIDTH = 16 + 12 + 8  # each slot's block is its largest size


def nested_to_separate(x):
    """The nested blocks copied into segments: choice j's segment holds the first c_j
    columns of its slot's block (the reference the nested layout must agree with)."""
    index, start = [], 0
    for sizes in CHOICES:
        index += [start + k for c in sizes for k in range(c)]
        start += max(sizes)
    return x[:, index], index


def fold(y, index, width):
    """Segments back to nested blocks: column k is the sum over the segments' column k."""
    out = np.zeros((y.shape[0], width), dtype=y.dtype)
    np.add.at(out, (slice(None), index), y)
    return out


@pytest.mark.parametrize("training", [True, False])
def test_nested_layout_computes_what_segments_of_copied_columns_compute(training):
    rng = np.random.default_rng(11)
    logits = [rng.normal(size=len(c)) for c in CHOICES]
    x = rng.normal(size=(6, NESTED_WIDTH)).astype(np.float32)
    upstream = rng.normal(size=(6, NESTED_WIDTH)).astype(np.float32)
    nested, separate = (
        built(make_layer(seed=5, layout=layout)) for layout in ("nested", "separate")
    )
    for layer in (nested, separate):
        set_logits(layer, logits)
    wide, index = nested_to_separate(x)
    up = nested_to_separate(upstream)[0]
    for _ in range(4):  # the same seed draws the same choices in both
        if training:
            y, (grad_w,), grad_x = train_gradients(nested, x, lambda y: keras.ops.sum(y * upstream))
            ref_y, (ref_w,), ref_x = train_gradients(
                separate, wide, lambda y: keras.ops.sum(y * up)
            )
            ref_y = fold(np.asarray(ref_y), index, NESTED_WIDTH)
            np.testing.assert_allclose(np.asarray(grad_w), np.asarray(ref_w), rtol=1e-4, atol=1e-6)
            np.testing.assert_allclose(
                np.asarray(grad_x), fold(np.asarray(ref_x), index, NESTED_WIDTH), rtol=1e-6
            )
        else:
            y = nested(x, training=False)
            ref_y = fold(np.asarray(separate(wide, training=False)), index, NESTED_WIDTH)
        np.testing.assert_allclose(np.asarray(y), ref_y, rtol=1e-6, atol=1e-7)


def test_nested_training_keeps_a_prefix_of_each_block_as_wide_as_a_candidate():
    layer = built(make_layer(layout="nested", seed=2))
    x = np.ones((1, NESTED_WIDTH), dtype=np.float32)
    for _ in range(20):
        y = np.asarray(layer(x, training=True))[0]
        start = 0
        for sizes in CHOICES:
            block = y[start : start + max(sizes)]
            kept = int(np.count_nonzero(block))
            assert kept in sizes and np.all(block[:kept] == 1.0) and np.all(block[kept:] == 0)
            start += max(sizes)


def test_nested_mixed_mode_weighs_column_k_by_the_probability_of_a_width_above_k():
    layer = built(make_layer(layout="nested", mode="mixed"))
    rng = np.random.default_rng(4)
    logits = [rng.normal(size=len(c)) for c in CHOICES]
    set_logits(layer, logits)
    x = rng.normal(size=(2, NESTED_WIDTH)).astype(np.float32)
    weights = np.concatenate(
        [
            [softmax(w)[np.asarray(sizes) > k].sum() for k in range(max(sizes))]
            for w, sizes in zip(logits, CHOICES, strict=True)
        ]
    )
    np.testing.assert_allclose(layer(x, training=False), x * weights, rtol=1e-5)


def test_nested_layout_takes_sizes_in_any_order_and_one_block_of_the_largest():
    choices = [[16, 0, 8], [12, 4], [8, 2, 6, 4]]
    layer = built(make_layer(layout="nested", embedding_size_choices_list=choices, seed=3))
    x = np.ones((1, NESTED_WIDTH), dtype=np.float32)
    for _ in range(20):
        y = np.asarray(layer(x, training=True))[0]
        start = 0
        for sizes in choices:
            block = y[start : start + max(sizes)]
            kept = int(np.count_nonzero(block))
            assert kept in sizes and np.all(block[:kept] == 1.0)
            start += max(sizes)
    with layer.pinned({"user": 8, "item": 4, "ctx": 2}):
        y = np.asarray(layer(x, training=False))[0]
    assert [int(np.count_nonzero(y[a:b])) for a, b in ((0, 16), (16, 28), (28, 36))] == [8, 4, 2]
    with pytest.raises(ValueError, match="`layout` must be one of"):
        make_layer(layout="stacked")
    with pytest.raises(ValueError, match="sum over slots of their largest size \\(36"):
        layer(np.zeros((2, WIDTH), dtype=np.float32))
