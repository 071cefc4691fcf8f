import pytest

from nwsrec import registry
from nwsrec.data.synthetic import SyntheticConfig, generate_synthetic
from nwsrec.search.model import check_slot_dims, embedding_parameters


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    config = SyntheticConfig(
        num_train=256, num_test=64, pair_ranks=(1,), num_noise_slots=1, vocab_size=30, num_files=1
    )
    generate_synthetic(out, config)
    return out


@pytest.mark.parametrize("name", ["synthetic", "movielens"])
def test_built_in_models_are_registered_with_their_data_dir(name):
    params = registry.get_params(name)
    assert (
        params["data_dir"]
        == {"synthetic": "runs/data/synthetic", "movielens": "runs/data/movielens-100k"}[name]
    )
    assert params["candidate_sizes"] == [0, 1, 2, 4, 8, 16]


def _model(data, **overrides):
    cls = registry.get_class("synthetic")
    params = cls.resolve_params({**cls.default_params(), "data_dir": str(data), **overrides})
    return cls(params)


def test_search_mode_has_one_nws_layer_over_tables_of_the_summed_widths(data):
    model = _model(data, search=True, supernet_layout="separate")
    assert model.env.slot_to_dims == {1: [1, 31], 2: [1, 31], 3: [1, 31]}
    (layer,) = model.nws_layers()
    assert layer.get_config()["slot_names"] == ["1", "2", "3"]


def test_fixed_mode_defaults_to_full_width_and_drops_size_zero_slots(data):
    assert _model(data).env.slot_to_dims == {1: [1, 16], 2: [1, 16], 3: [1, 16]}
    model = _model(data, slot_dims={1: 4, 2: 0, 3: 8})
    assert model.env.slot_to_dims == {1: [1, 4], 3: [1, 8]}
    assert model.nws_layers() == []
    assert embedding_parameters(model) == 30 * (1 + 4) + 30 * (1 + 8)


def test_every_slot_at_zero_is_an_error(data):
    with pytest.raises(ValueError, match="must keep at least one slot"):
        _model(data, slot_dims={1: 0, 2: 0, 3: 0})


def test_missing_vocab_file_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="`vocab_file_path` must name an existing"):
        _model(tmp_path)


@pytest.mark.parametrize(
    ("dims", "match"),
    [
        ({"1": 4, "2": 4}, "slot 3 missing"),
        ({"1": 4, "2": 4, "3": 4, "9": 4}, "unknown slot 9"),
        ({"1": 4, "2": 4, "3": 5}, "size of slot 3 must be one of"),
        ({"x": 4}, "slot ids must be integers"),
    ],
    ids=["missing", "unknown", "not-candidate", "not-int"],
)
def test_check_slot_dims_errors_name_the_source_and_slot(dims, match):
    with pytest.raises(ValueError, match=match):
        check_slot_dims(dims, [1, 2, 3], [0, 4, 8, 16], "dims.json")


def test_criteo_synth_model_is_registered_and_builds_on_its_data(tmp_path):
    from nwsrec.data.criteo import CriteoConfig, generate_criteo

    generate_criteo(tmp_path, CriteoConfig(num_train=200, num_test=50, num_files=1, scale=1e-4))
    cls = registry.get_class("criteo_synth")
    assert registry.get_params("criteo_synth")["data_dir"] == "runs/data/criteo-synth"
    params = cls.resolve_params({**cls.default_params(), "data_dir": str(tmp_path)})
    model = cls({**params, "slot_dims": {s: 4 for s in range(1, 27)}})
    assert sorted(model.env.slot_to_dims) == list(range(1, 27))
    assert model.env.slot_to_dims[3] == [1, 4]
