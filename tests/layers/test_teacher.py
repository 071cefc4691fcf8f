import numpy as np
import pytest
from layer_testing import run_layer_test

from nwsrec.layers import TeacherEmbeddingTransform


def numpy_transform(layer, teacher):
    weights = layer.slot_weight_matrices()
    bounds = np.concatenate([[0], np.cumsum(layer.teacher_embedding_sizes_list)])
    out = [teacher[:, a:b] @ w for a, b, w in zip(bounds[:-1], bounds[1:], weights, strict=True)]
    return np.concatenate(out, axis=1) + np.asarray(layer.teacher_embedding_transform_bias)


@pytest.mark.parametrize(
    "max_choices, teacher_sizes",
    [
        pytest.param([24, 16, 20], [8, 4, 6], id="ragged"),
        pytest.param([24, 24], [16, 16], id="uniform"),
        pytest.param([5], [3], id="one-slot"),
    ],
)
def test_transform_passes_standard_layer_checks(tmp_path, max_choices, teacher_sizes):
    data = np.random.default_rng(0).normal(size=(4, sum(teacher_sizes))).astype(np.float32)
    run_layer_test(
        TeacherEmbeddingTransform,
        dict(max_choice_per_embedding=max_choices, teacher_embedding_sizes_list=teacher_sizes),
        data,
        expected_output_shapes=[(4, sum(max_choices))],
        expected_num_trainable_weights=2,
        expected_num_non_trainable_weights=0,
        tmp_path=tmp_path,
    )


@pytest.mark.parametrize(
    "max_choices, teacher_sizes",
    [([24, 16, 20, 3], [8, 4, 6, 9]), ([12, 12, 12], [6, 6, 6])],
    ids=["ragged", "uniform"],
)
def test_each_slot_is_mapped_by_its_own_part_of_the_flat_weight(max_choices, teacher_sizes):
    layer = TeacherEmbeddingTransform(max_choices, teacher_sizes)
    rng = np.random.default_rng(1)
    teacher = rng.normal(size=(6, sum(teacher_sizes))).astype(np.float32)
    layer.build(teacher.shape)
    layer.teacher_embedding_transform_weight.assign(
        rng.normal(size=(layer.num_weight_values, 1)).astype(np.float32)
    )
    layer.teacher_embedding_transform_bias.assign(
        rng.normal(size=sum(max_choices)).astype(np.float32)
    )
    np.testing.assert_allclose(
        layer(teacher), numpy_transform(layer, teacher), rtol=1e-5, atol=1e-5
    )
    # Slot i's part of the flat weight, reshaped row-major to [t_i, m_i], is W_i.
    flat = np.asarray(layer.teacher_embedding_transform_weight)[:, 0]
    m, t = max_choices[1], teacher_sizes[1]
    offset = max_choices[0] * teacher_sizes[0]
    np.testing.assert_array_equal(
        layer.slot_weight_matrices()[1], flat[offset : offset + m * t].reshape(t, m)
    )


def test_weights_are_stored_as_in_the_original():
    layer = TeacherEmbeddingTransform([40, 30], [50, 60])
    layer.build((None, 110))
    weight = np.asarray(layer.teacher_embedding_transform_weight)
    assert weight.shape == (40 * 50 + 30 * 60, 1)
    assert np.abs(weight).max() <= 2 * 0.15  # truncated at two standard deviations
    # A normal(0, 0.15) truncated at +-2 sd has sd 0.15 * 0.8796; n = 3800 values.
    expected_sd = 0.15 * 0.8796
    assert abs(weight.std() - expected_sd) < 5 * expected_sd / np.sqrt(2 * weight.size)
    np.testing.assert_array_equal(layer.teacher_embedding_transform_bias, np.zeros(70))


def test_compute_output_shape():
    layer = TeacherEmbeddingTransform([3, 4], [2, 5])
    assert layer.compute_output_shape((None, 7)) == (None, 7)
    assert layer.compute_output_shape((8, 7)) == (8, 7)


@pytest.mark.parametrize(
    "max_choices, teacher_sizes, match",
    [
        pytest.param([3, 4], [2], r"one entry per slot \(2 slots", id="lengths"),
        pytest.param([], [], r"`max_choice_per_embedding` must not be empty", id="empty"),
        pytest.param(
            [3, 0],
            [2, 2],
            r"`max_choice_per_embedding\[1\]` must be a positive integer. "
            r"Received: max_choice_per_embedding\[1\]=0",
            id="zero-width",
        ),
        pytest.param(
            [3, 4], [2, -1], r"`teacher_embedding_sizes_list\[1\]` must be a positive", id="neg"
        ),
        pytest.param(3, [2], r"`max_choice_per_embedding` must be a list of integers", id="int"),
        pytest.param([3], [2], r"`seed` must be an integer or None", id="seed"),
    ],
)
def test_invalid_configuration_raises_value_error(max_choices, teacher_sizes, match):
    seed = "s" if match.startswith("`seed`") else None
    with pytest.raises(ValueError, match=match):
        TeacherEmbeddingTransform(max_choices, teacher_sizes, seed=seed)


def test_seed_makes_the_initial_weights_reproducible():
    def weights(seed):
        layer = TeacherEmbeddingTransform([3, 4], [2, 5], seed=seed)
        layer.build((None, 7))
        return np.asarray(layer.teacher_embedding_transform_weight)

    np.testing.assert_array_equal(weights(1), weights(1))
    assert not np.array_equal(weights(1), weights(2))


@pytest.mark.parametrize(
    "shape, match",
    [
        pytest.param((None, 8), r"\(7\). Received: input_shape=\(None, 8\)", id="width"),
        pytest.param((None, 2, 7), r"must have rank 2", id="rank"),
    ],
)
def test_input_of_wrong_shape_raises_value_error(shape, match):
    layer = TeacherEmbeddingTransform([3, 4], [2, 5])
    with pytest.raises(ValueError, match=match):
        layer.build(shape)
