"""The headline behaviour of ``nwsrec.runs``: a search on planted data, and a retrain.

The data is the seeded synthetic set with a known truth: 3 noise slots (independent of
the label) and 4 signal slots (two interacting pairs, ranks 2 and 4), 40 ids each, the
interactions strong enough (``interaction_scale=1``) that 8k records show them. The search
is the model's own default recipe (a one-shot supernet: uniform draws over the sizes,
stopped at its best held-out AUC at full width, then the frontier on held-out records).
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
        "log_every_steps": STEPS,
        "checkpoint_every_steps": STEPS,
        "holdout_every": 4,
        "seed": 0,
    }
    cls, params = resolve_params("synthetic", overrides, data_dir=str(root / "data"))
    search = run_search(cls, params, str(root / "search"), progress=False)
    return truth, cls, params, search, root


def test_search_on_planted_data_shrinks_every_noise_slot_and_keeps_every_signal_slot(planted):
    truth, _, _, search, _ = planted
    noise, signal = set(truth.noise_slots()), set(truth.signal_slots())
    assert len(noise) == 3 and len(signal) == 4
    assert set(search.slot_dims) == noise | signal
    # 2k held-out examples: a noise slot at width 1 (40 parameters) and at 0 are within
    # the noise of each other; every noise slot is dropped or at the narrowest width.
    assert all(search.slot_dims[s] <= 1 for s in noise), search.slot_dims
    assert all(search.slot_dims[s] > 0 for s in signal), search.slot_dims
    with open(search.search_result_path, encoding="utf-8") as f:
        written = json.load(f)
    assert {int(s): v["size"] for s, v in written["slots"].items()} == search.slot_dims
    # The default point is within one standard error (plus the tolerance) of the best
    # point of the frontier, and smaller than full width.
    point = written["frontier"][written["default_point"]]
    mean, _, high = point["vs_best"]
    assert mean <= written["selection"]["tolerance"] + (high - mean) / 1.96
    assert point["fraction"] < 0.5
    # The search was stopped on its full-width held-out AUC, with the best weights kept.
    assert search.early_stopping["best_step"] <= search.early_stopping["stopped_step"]


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
    given = {s: [0, 1, 2, 4, 8, 16][i % 6] for i, s in enumerate(slots)}
    dims = tmp_path / "dims.json"
    dims.write_text(json.dumps({"slots": {str(s): {"size": v} for s, v in given.items()}}))
    report = run_train(cls, scale_steps(params, 4), str(tmp_path / "train"), dims_path=str(dims))
    assert {s: v for s, v in report.slot_dims.items() if v} == {s: v for s, v in given.items() if v}
    # The checkpoint holds table groups (one variable per optimizer and width): a vector
    # group of each width given, VOCAB rows per slot at that width, and one bias group
    # of VOCAB rows per kept slot; a size-0 slot has no rows anywhere, not even a bias.
    shapes = _table_shapes(str(tmp_path / "train"))
    widths = [v for v in given.values() if v]
    expected = {f"adagrad_dim{w}": [VOCAB * widths.count(w), w] for w in set(widths)}
    expected["ftrl_dim1"] = [VOCAB * len(widths), 1]
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
