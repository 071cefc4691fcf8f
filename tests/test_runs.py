"""nwsrec.runs: a run's params resolved from a registered model and the command line."""

import pytest

from nwsrec.config import RunConfig
from nwsrec.data.synthetic import SyntheticConfig, generate_synthetic
from nwsrec.runs import (
    default_model_dir,
    parse_param_overrides,
    resolve_config,
    resolve_params,
    scale_steps,
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "data"
    generate_synthetic(out, SyntheticConfig(num_train=256, num_test=64, num_noise_slots=1))
    return str(out)


def test_overrides_are_read_by_type_and_data_paths_filled(data_dir):
    cls, params = resolve_params(
        "synthetic",
        parse_param_overrides(["dense_learning_rate=0.01", "hidden_units=[8]"]),
        steps=7,
        data_dir=data_dir,
    )
    assert params["dense_learning_rate"] == 0.01 and params["hidden_units"] == [8]
    assert params["train_steps"] == 7
    assert params["train_file_pattern"].startswith(data_dir)
    assert params["model_name"] == "synthetic"
    assert cls.__name__ == "SyntheticModel"


def test_a_value_of_the_wrong_type_names_its_key(data_dir):
    with pytest.raises(ValueError, match="`dense_learning_rate` must be a number.*'abc'"):
        resolve_params("synthetic", {"dense_learning_rate": "abc"}, data_dir=data_dir)


def test_an_unknown_key_is_named_with_a_suggestion(data_dir):
    with pytest.raises(LookupError, match=r"'hiden_units' \(did you mean 'hidden_units'\?\)"):
        resolve_params("synthetic", {"hiden_units": [8]}, data_dir=data_dir)


def test_the_config_is_resolved_once_and_typed_by_section(data_dir):
    overrides = parse_param_overrides(["hidden_units=[8]", "arch_learning_rate=0.5"])
    cls, config = resolve_config("synthetic", overrides, steps=7, data_dir=data_dir)
    _, params = resolve_params("synthetic", overrides, steps=7, data_dir=data_dir)
    assert config.to_params() == params  # the flat wire format of the same run
    assert RunConfig.from_params(params) == config
    assert config.model.model_name == "synthetic" and config.trainer.train_steps == 7
    assert config.search.hidden_units == [8] and config.search.arch_learning_rate == 0.5
    assert str(config.model.train_file_pattern).startswith(data_dir)


def test_missing_data_names_the_command_that_makes_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nwsrec datasets"):
        resolve_params("synthetic", data_dir=str(tmp_path / "nothing"))


def test_scale_steps_keeps_the_schedule_ratios():
    params = {"train_steps": 1000, "search_steps": 3000, "warmup_steps": 3000}
    out = scale_steps(params, 100)
    assert (out["train_steps"], out["search_steps"], out["warmup_steps"]) == (100, 300, 300)


def test_default_model_dir():
    assert default_model_dir("a/b", "train") == "runs/a_b/train"
