"""The headline behaviour of ``nwsrec.runs``: a search on planted data, and a retrain.

The data is the seeded synthetic set with a known truth: 3 noise slots (independent of
the label) and 4 signal slots (two interacting pairs, ranks 2 and 4), 40 ids each, the
interactions strong enough (``interaction_scale=1``) that 8k records show them. The search
is the model's own default recipe (a one-shot supernet: uniform draws over the nonzero
sizes, then each slot's width picked on held-out records), only short. Measured on seeds
0 and 1 (both: every noise slot 0, every signal slot > 0); the test runs seed 0.
"""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nwsrec.data.synthetic import SyntheticConfig, generate_synthetic
from nwsrec.runs import parse_param_overrides, resolve_params, run_search, run_train, scale_steps

STEPS = 300
VOCAB = 40


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted")
    config = SyntheticConfig(
        seed=0,
        num_train=8192,
        num_test=1024,
        num_files=2,
        pair_ranks=(2, 4),
        num_noise_slots=3,
        vocab_size=VOCAB,
        interaction_scale=1.0,
    )
    truth = generate_synthetic(str(root / "data"), config)
    overrides = {
        "batch_size": 128,
        "hidden_units": [16],
        "search_steps": STEPS,
        "warmup_steps": STEPS,
        "pretraining_steps": STEPS,
        "arch_warmup_steps": STEPS,
        "log_every_steps": STEPS,
        "checkpoint_every_steps": STEPS,
        "holdout_every": 4,
        "seed": 0,
    }
    cls, params = resolve_params("synthetic", overrides, data_dir=str(root / "data"))
    search = run_search(cls, params, str(root / "search"), progress=False)
    return truth, cls, params, search, root


def test_search_on_planted_data_drops_every_noise_slot_and_keeps_every_signal_slot(planted):
    truth, _, _, search, _ = planted
    noise, signal = set(truth.noise_slots()), set(truth.signal_slots())
    assert len(noise) == 3 and len(signal) == 4
    assert set(search.slot_dims) == noise | signal
    assert {s: search.slot_dims[s] for s in noise} == dict.fromkeys(noise, 0)
    assert all(search.slot_dims[s] > 0 for s in signal), search.slot_dims
    with open(search.search_result_path, encoding="utf-8") as f:
        written = json.load(f)
    assert {int(s): v["size"] for s, v in written["slots"].items()} == search.slot_dims
    # Each slot gives up at most `tolerance` of held-out loss for its smaller width.
    selection = written["selection"]
    bound = selection["full_width_loss"] + len(written["slots"]) * selection["tolerance"]
    assert selection["chosen_loss"] <= bound


def _table_shapes(model_dir: str) -> dict[str, list[int]]:
    import tensorflow as tf

    prefix, suffix = "tables/", "/_variable/.ATTRIBUTES/VARIABLE_VALUE"
    return {
        name[len(prefix) : -len(suffix)]: shape
        for name, shape in tf.train.list_variables(model_dir)
        if name.startswith(prefix) and name.endswith(suffix)
    }


def test_train_with_dims_builds_every_table_at_the_given_width(planted, tmp_path):
    truth, cls, params, _, _ = planted
    # Widths that no search would give (every candidate, a noise slot kept): the given
    # file alone decides the tables.
    slots = sorted(truth.slots)
    given = {s: [0, 4, 8, 16][i % 4] for i, s in enumerate(slots)}
    dims = tmp_path / "dims.json"
    dims.write_text(json.dumps({"slots": {str(s): {"size": v} for s, v in given.items()}}))
    report = run_train(
        cls, {**params, "train_steps": 4}, str(tmp_path / "train"), dims_path=str(dims)
    )
    assert {s: v for s, v in report.slot_dims.items() if v} == {s: v for s, v in given.items() if v}
    shapes = _table_shapes(str(tmp_path / "train"))
    expected = {}
    for slot, size in given.items():
        if size:  # a size-0 slot has no table at all, not even its bias
            expected[f"table_{slot}_0"] = [VOCAB, 1]
            expected[f"table_{slot}_1"] = [VOCAB, size]
    assert shapes == expected
    assert report.embedding_parameters == sum(VOCAB * (1 + v) for v in given.values() if v)
    assert os.path.exists(os.path.join(tmp_path, "train", "ckpt-4.index"))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=5,
)


@settings(max_examples=40, deadline=None)
@given(key=st.from_regex(r"[a-z_]{1,12}", fullmatch=True), value=JSON)
def test_a_json_param_value_is_read_back_as_written(key, value):
    assert parse_param_overrides([f"{key}={json.dumps(value)}"]) == {key: value}


@settings(max_examples=100, deadline=None)
@given(
    train=st.integers(1, 10_000),
    search=st.integers(1, 30_000),
    steps=st.integers(1, 10_000),
)
def test_scaled_steps_keep_the_schedules_ratio_to_the_training_steps(train, search, steps):
    scaled = scale_steps({"train_steps": train, "search_steps": search}, steps)
    assert scaled["train_steps"] == steps
    assert scaled["search_steps"] >= 1
    assert (
        abs(scaled["search_steps"] - search * steps / train) <= 0.5 or scaled["search_steps"] == 1
    )
