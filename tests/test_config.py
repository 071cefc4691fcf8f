"""nwsrec.config: typed configs read from the flat params, self-documenting, validated."""

import dataclasses

import pytest
import tensorflow as tf

from nwsrec import config
from nwsrec.config import (
    ModelConfig,
    PipelineConfig,
    RunConfig,
    SearchConfig,
    TrainerConfig,
    check_known_keys,
    describe,
    typed_params,
)


def test_autotune_matches_tensorflow():
    assert config.AUTOTUNE == tf.data.AUTOTUNE


@pytest.mark.parametrize("cls", [ModelConfig, PipelineConfig, TrainerConfig, SearchConfig])
def test_every_field_documents_itself_and_defaults_validate(cls):
    for field in dataclasses.fields(cls):
        assert field.metadata.get("doc"), f"{cls.__name__}.{field.name} has no doc"
    assert cls.from_params(cls.defaults()) == cls()


def test_defaults_are_fresh_copies():
    a, b = SearchConfig.defaults(), SearchConfig.defaults()
    a["candidate_sizes"].append(99)
    assert b["candidate_sizes"] == [0, 4, 8, 16]
    assert SearchConfig().candidate_sizes == [0, 4, 8, 16]


def test_no_key_is_owned_by_two_configs():
    keys = [k for cls in config.CONFIGS for k in cls.keys()]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize(
    ("cls", "key", "raw", "value"),
    [
        (TrainerConfig, "dense_learning_rate", "0.01", 0.01),
        (TrainerConfig, "dense_learning_rate", 1, 1.0),
        (TrainerConfig, "train_steps", "20", 20),
        (TrainerConfig, "seed", "null", None),
        (TrainerConfig, "seed", "7", 7),
        (PipelineConfig, "deterministic", "false", False),
        (PipelineConfig, "compression_type", None, ""),
        (PipelineConfig, "compression_type", "gzip", "GZIP"),
        (SearchConfig, "hidden_units", "[32, 16]", [32, 16]),
        (SearchConfig, "candidate_sizes", (0, 2), [0, 2]),
    ],
)
def test_values_are_read_by_their_field_type(cls, key, raw, value):
    assert getattr(cls.from_params({key: raw}), key) == value


@pytest.mark.parametrize(
    ("cls", "params", "match"),
    [
        (TrainerConfig, {"dense_learning_rate": "abc"}, "`dense_learning_rate` must be a number"),
        (TrainerConfig, {"dense_learning_rate": -0.1}, "`dense_learning_rate` must be a finite"),
        (SearchConfig, {"arch_learning_rate": float("nan")}, "`arch_learning_rate` must be"),
        (TrainerConfig, {"keep_checkpoints": 0}, "`keep_checkpoints` must be an integer >= 1"),
        (TrainerConfig, {"checkpoint_every_steps": 0}, "`checkpoint_every_steps` must be"),
        (TrainerConfig, {"holdout_every": 1}, "`holdout_every` must be 0"),
        (TrainerConfig, {"dense_optimizer": "rmsprop"}, "`dense_optimizer` must be one of"),
        (TrainerConfig, {"train_steps": "ten"}, "`train_steps` must be an integer"),
        (PipelineConfig, {"cycle_length": 0}, "`cycle_length` must be an integer >= 1"),
        (PipelineConfig, {"deterministic": "maybe"}, "`deterministic` must be a bool"),
        (PipelineConfig, {"compression_type": "LZ4"}, "`compression_type` must be one of"),
        (SearchConfig, {"candidate_sizes": [0, 0]}, "`candidate_sizes` must be"),
        (SearchConfig, {"candidate_sizes": [4, 4]}, "`candidate_sizes` must be distinct"),
        (
            SearchConfig,
            {"width_selection": "best"},
            "`width_selection` must be one of argmax, holdout",
        ),
        (SearchConfig, {"hidden_units": [64, 0]}, "`hidden_units` must be a list of integers"),
        (SearchConfig, {"selection_rounds": 0}, "`selection_rounds` must be an integer >= 1"),
    ],
)
def test_bad_values_are_errors_naming_the_key(cls, params, match):
    with pytest.raises(ValueError, match=match):
        cls.from_params(params)


def test_none_takes_the_default_of_a_field_that_cannot_be_none():
    assert TrainerConfig.from_params({"train_steps": None}).train_steps == 1000


def test_unknown_keys_are_named_with_a_close_match():
    with pytest.raises(LookupError, match=r"'dense_learnin_rate' \(did you mean 'dense_lea"):
        check_known_keys({"dense_learnin_rate": 1}, TrainerConfig.keys(), what="model 'x'")
    check_known_keys({"seed": 1}, TrainerConfig.keys(), what="model 'x'")  # no error


def test_typed_params_keeps_other_keys_and_types_config_keys():
    out = typed_params({"train_steps": "5", "batch_size": "64", "my_knob": [1]})
    assert out == {"train_steps": 5, "batch_size": 64, "my_knob": [1]}


def test_describe_groups_by_section_with_meanings():
    rows = describe({"cycle_length": 2, "seed": 1, "hidden_units": [8], "own": 3})
    assert [r[0] for r in rows] == ["input pipeline", "training", "width search", "model"]
    assert rows[0] == ("input pipeline", "cycle_length", 2, "files read at once (interleave)")
    assert rows[-1] == ("model", "own", 3, "")


def test_run_config_round_trips_flat_to_typed_to_flat():
    flat = {
        "batch_size": "64",
        "train_steps": 20,
        "cycle_length": 2,
        "width_selection": "holdout",
        "arch_learning_rate": 0.5,
        "hidden_units": [8],
        "model_name": "synthetic",
        "my_knob": {"a": [1]},
    }
    config = RunConfig.from_params(flat)
    assert config.model.batch_size == 64 and config.model.model_name == "synthetic"
    assert config.pipeline.cycle_length == 2 and config.trainer.train_steps == 20
    assert config.search.width_selection == "holdout" and config.search.arch_learning_rate == 0.5
    assert config.extra == {"my_knob": {"a": [1]}}
    back = config.to_params()
    assert back == {**flat, "batch_size": 64}
    assert RunConfig.from_params(back) == config
    assert dict(config) == back  # the config reads as its flat params
    back["hidden_units"].append(9)  # a copy: the config does not change
    assert config.search.hidden_units == [8]
    every = config.to_params(every_key=True)
    assert set(every) == {k for c in config_sections() for k in c.keys()} | {"my_knob"}


def config_sections():
    return [ModelConfig, PipelineConfig, TrainerConfig, SearchConfig]


def test_run_config_search_settings_are_in_the_search_section():
    for key in ("arch_optimizer", "arch_learning_rate", "arch_warmup_steps", "width_penalty"):
        assert key in SearchConfig.keys() and key not in TrainerConfig.keys()


def test_run_config_bad_key_is_a_one_line_error_naming_it():
    with pytest.raises(LookupError) as err:
        RunConfig.from_params({"holdout_evry": 5}, known=TrainerConfig.keys())
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("`holdout_evry` must be a param of the run")
    assert "did you mean 'holdout_every'" in message


def test_run_config_bad_value_is_a_one_line_error_naming_the_key():
    with pytest.raises(ValueError, match=r"^`batch_size` must be an integer >= 1. Received: "):
        RunConfig.from_params({"batch_size": 0})
    with pytest.raises(ValueError, match="`width_selection=frontier` needs `holdout_every`"):
        RunConfig.from_params({"width_selection": "frontier"}).for_search()


def test_run_config_replace_makes_a_new_validated_config():
    config = RunConfig.from_params({"train_steps": 5})
    searched = config.replace(search=True, slot_dims=None)
    assert searched.search.search and not config.search.search
    assert searched.to_params() == {"train_steps": 5, "search": True, "slot_dims": None}
    with pytest.raises(ValueError, match="`train_steps` must be"):
        config.replace(train_steps=-1)


def test_run_config_of_a_search_and_of_a_training_run():
    config = RunConfig.from_params({"train_steps": 5, "search_steps": 9, "slot_dims": {1: 4}})
    searched = config.for_search()
    assert searched.search.search and searched.search.slot_dims is None
    assert searched.trainer.train_steps == 9
    trained = config.for_training()
    assert not trained.search.search and trained.search.slot_dims == {1: 4}
    assert config.for_training({2: 8}).search.slot_dims == {2: 8}
