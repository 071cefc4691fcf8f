"""A real Model trained with table groups: run dirs written before groups resume, the
grouped ones refuse another layout in one line, and a seed gives the same bytes."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "distributed"))

from dist_model import DistModel, params_for, write_data  # noqa: E402

from nwsrec.training.trainer import Trainer  # noqa: E402


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("groups_data")
    write_data(str(directory), num_files=2, per_file=96)
    return str(directory)


def _trainer(data_dir, model_dir, **overrides):
    params = params_for(data_dir, **overrides)
    return Trainer(lambda: DistModel(params), params, str(model_dir), progress=False)


def _tables(trainer):
    return {
        f"{name}/{j}": np.array(value)
        for name, table in trainer.tables.items()
        for j, value in enumerate(table.variables)
    }


def test_the_model_trains_two_groups_not_six_tables(data_dir, tmp_path):
    trainer = _trainer(data_dir, tmp_path)
    assert sorted(trainer.model.table_groups) == ["adagrad_dim4", "ftrl_dim1"]
    assert [v.shape for v in trainer.routing.table_variables] == [(120, 1), (120, 4)]
    before = _tables(trainer)
    trainer.train(steps=4)
    after = _tables(trainer)
    assert all(not np.array_equal(before[k], after[k]) for k in before if k.endswith("/0"))


def test_a_run_dir_written_before_groups_resumes_table_by_table(data_dir, tmp_path):
    old = _trainer(data_dir, tmp_path, table_groups=False)
    assert sorted(old.model.table_groups) == sorted(old.tables)  # one group per table
    old.train(steps=4)
    saved = _tables(old)

    resumed = _trainer(data_dir, tmp_path)  # grouped: reads each table into its group's rows
    result = resumed.train(steps=4)
    assert result.start_step == 4
    restored = _tables(resumed)
    assert restored.keys() == saved.keys()
    for key, value in saved.items():
        np.testing.assert_array_equal(restored[key], value, err_msg=key)
    assert resumed.train(steps=6).step == 6  # and trains on from there


def test_a_grouped_run_dir_resumed_without_groups_is_refused_in_one_line(data_dir, tmp_path):
    _trainer(data_dir, tmp_path).train(steps=4)
    with pytest.raises(ValueError) as info:
        _trainer(data_dir, tmp_path, table_groups=False).train(steps=8)
    message = str(info.value)
    assert "\n" not in message
    assert "holds tables [adagrad_dim4, ftrl_dim1]" in message
    assert "this model expects [table_1_0, table_1_1" in message


def test_the_same_seed_gives_byte_identical_grouped_runs(data_dir, tmp_path):
    first = _trainer(data_dir, tmp_path / "a")
    first.train(steps=4)
    second = _trainer(data_dir, tmp_path / "b")
    second.train(steps=4)
    one, two = _tables(first), _tables(second)
    assert all(one[k].tobytes() == two[k].tobytes() for k in one)


def test_grouped_and_ungrouped_training_agree(data_dir, tmp_path):
    grouped = _trainer(data_dir, tmp_path / "g")
    grouped.train(steps=4)
    alone = _trainer(data_dir, tmp_path / "u", table_groups=False)
    alone.train(steps=4)
    one, two = _tables(grouped), _tables(alone)
    for key in one:
        np.testing.assert_allclose(one[key], two[key], rtol=1e-5, atol=1e-6, err_msg=key)
