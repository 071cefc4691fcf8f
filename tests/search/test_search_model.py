import numpy as np
import pytest
import tensorflow as tf

from nwsrec import registry
from nwsrec.data.synthetic import SyntheticConfig, generate_synthetic
from nwsrec.search.cost import embedding_parameters_of


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    config = SyntheticConfig(
        num_train=256, num_test=64, pair_ranks=(1,), num_noise_slots=1, vocab_size=30, num_files=1
    )
    generate_synthetic(out, config)
    return out


def _model(data, **overrides):
    cls = registry.get_class("synthetic")
    params = cls.resolve_params({**cls.default_params(), "data_dir": str(data), **overrides})
    return cls(params)


def test_nested_layout_is_one_block_of_full_width_separate_the_sum(data):
    nested = _model(data, search=True, supernet_layout="nested")
    separate = _model(data, search=True, supernet_layout="separate")
    assert nested.env.slot_to_dims == {1: [1, 16], 2: [1, 16], 3: [1, 16]}
    assert separate.env.slot_to_dims == {1: [1, 31], 2: [1, 31], 3: [1, 31]}
    # The NWS layer reads the blocks as they are: 16 nested columns or 31 in segments.
    assert nested.nws_layers()[0].total_embedding_size == 3 * 16
    assert separate.nws_layers()[0].total_embedding_size == 3 * 31
    vectors = {
        name: sum(r.raw_bytes for r in model.table_memory_plan().tables if r.name.endswith("_1"))
        for name, model in (("nested", nested), ("separate", separate))
    }
    assert vectors["separate"] == pytest.approx(31 / 16 * vectors["nested"])
    full = _model(data)  # fixed mode at full width: the nested supernet's tables
    assert nested.table_memory_plan().raw_bytes == full.table_memory_plan().raw_bytes


@pytest.mark.parametrize("sizes", [{"1": 4, "2": 16, "3": 0}, {"1": 8, "2": 0, "3": 16}])
def test_nested_pinned_size_is_the_first_columns_of_the_block(data, sizes):
    model = _model(data, search=True, supernet_layout="nested")
    (layer,) = model.nws_layers()
    x = tf.constant(np.random.default_rng(0).normal(size=(5, 3 * 16)), tf.float32)
    with layer.pinned(sizes):
        y = layer(x, training=False)
    expected = x.numpy().copy()
    for i, slot in enumerate(["1", "2", "3"]):
        expected[:, i * 16 + sizes[slot] : (i + 1) * 16] = 0.0
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-6, atol=1e-7)


def test_units_rows_and_bytes_match_the_fixed_models_plan(data):
    model = _model(data, search=True)
    assert model.unit_rows() == {"1": 30, "2": 30, "3": 30}
    assert model.slot_bias_rows() == {1: 30, 2: 30, 3: 30}
    assert model.unit_slot("2") == 2
    with pytest.raises(LookupError, match="`unit` must be one of the model's units"):
        model.unit_slot("2:1")  # no buckets: no bucket units
    price = model.bytes_pricer()
    sizes = {"1": 4, "2": 0, "3": 8}
    fixed = _model(data, slot_dims={1: 4, 2: 0, 3: 8})
    assert price(sizes) == fixed.table_memory_plan().padded_bytes
    params = embedding_parameters_of(model.unit_rows(), model.slot_bias_rows(), sizes)
    from nwsrec.search.model import embedding_parameters

    assert params == embedding_parameters(fixed)


def test_unknown_layout_is_a_clear_error(data):
    with pytest.raises(ValueError, match="supernet_layout` must be nested or separate"):
        _model(data, search=True, supernet_layout="shared")


def test_row_wise_adagrad_is_a_table_optimizer_priced_by_its_rows(data):
    model = _model(data, vec_optimizer="adagrad_rowwise")
    (row,) = [r for r in model.table_memory_plan().tables if r.name == "table_1_1"]
    assert row.row_state == 1 and row.copies == 1  # the table, one accumulator per row
    price = model.bytes_pricer()
    per_element = _model(data).bytes_pricer()
    sizes = {"1": 16, "2": 16, "3": 16}
    assert price(sizes) < per_element(sizes)


@pytest.mark.parametrize("layout", ["nested", "separate"])
def test_sandwich_adds_half_the_full_width_loss_minus_the_drawn_widths(data, layout):
    model = _model(data, search=True, supernet_layout=layout, sandwich=True, batch_size=32)
    features = next(iter(model.create_input_fn(str(data / "train-*"), repeat=False)(
        tf.distribute.InputContext()
    )))  # fmt: skip
    labels = tf.cast(tf.reshape(features["label"], [-1]), tf.float32)

    def loss(logits):
        return float(tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels, logits)))

    (layer,) = model.nws_layers()
    with layer.pinned(layer.largest_sizes()):
        full, none = model.forward(features, training=False)
    drawn, (aux,) = model.forward(features, training=True)
    assert none == []
    assert float(aux) == pytest.approx(0.5 * (loss(full) - loss(drawn)), abs=1e-5)
    _, without = _model(data, search=True, batch_size=32).forward(features, training=True)
    assert without == []  # the task defaults train the drawn widths only
