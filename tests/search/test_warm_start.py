"""nwsrec.search.warm_start: a fixed-width model started from a finished search's weights."""

import dataclasses
import os

import numpy as np
import pytest
import tensorflow as tf

from nwsrec.data.synthetic import SyntheticConfig, generate_synthetic
from nwsrec.runs import load_search_trainer, resolve_params, run_search, run_train
from nwsrec.search.result import read_search_dims
from nwsrec.search.warm_start import dnn_input_rows, warm_start
from nwsrec.training import Trainer

# A short search of three slots (two signal, one noise), candidates up to 4.
OVERRIDES = {
    "candidate_sizes": [0, 1, 2, 4],
    "hidden_units": [8],
    "early_stopping_patience": 0,
    "holdout_every": 4,
    "seed": 3,
    "nws_seed": 3,
}


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A short finished search of the synthetic task: (cls, params, search dir)."""
    root = tmp_path_factory.mktemp("warm")
    data = root / "data"
    generate_synthetic(
        data,
        SyntheticConfig(
            num_train=1024, num_test=256, pair_ranks=(1, 2), num_noise_slots=1, vocab_size=50
        ),
    )
    cls, params = resolve_params("synthetic", dict(OVERRIDES), steps=30, data_dir=str(data))
    params = {**params, "batch_size": 64, "search_steps": 30}
    search_dir = str(root / "search")
    run_search(cls, params, search_dir, progress=False)
    return cls, params, search_dir


def _fixed(cls, params, dims, model_dir):
    fixed = {**params, "search": False, "slot_dims": dims}
    return Trainer(lambda: cls(fixed), fixed, model_dir, progress=False)


def _batch(trainer):
    input_fn = trainer.input_fn(trainer.params["train_file_pattern"], repeat=False)
    return next(iter(input_fn(tf.distribute.InputContext())))


def test_the_rows_a_fixed_model_reads_skip_dropped_slots_and_keep_trailing_inputs():
    assert dnn_input_rows({1: 1, 2: 0, 3: 2}, [1, 2, 3], block=4, extra=2) == [0, 8, 9, 12, 13]


def test_a_warm_started_model_computes_what_the_supernet_pinned_at_its_widths_does(
    searched, tmp_path
):
    cls, params, search_dir = searched
    with load_search_trainer(cls, params, search_dir) as search:
        slots = list(search.model.slot_ids)
        sizes = [4, 0, 1, *[2] * len(slots)][: len(slots)]
        dims = dict(zip(slots, sizes, strict=True))
        trainer = _fixed(cls, params, dims, str(tmp_path / "fixed"))
        report = warm_start(trainer, search, source=search_dir)
        batch = _batch(search)  # every slot (the fixed model reads those it keeps)
        layer = search.nws_layers[0]
        with layer.pinned({str(s): d for s, d in dims.items()}):
            expected, _ = search.model.forward(batch, training=False)
        got, _ = trainer.model.forward(batch, training=False)
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)
        # The tables hold the supernet's first columns, optimizer state included.
        name = f"table_{slots[2]}_1"
        mine, theirs = trainer.model.tables[name], search.model.tables[name]
        np.testing.assert_array_equal(np.asarray(mine.variable), np.asarray(theirs.variable)[:, :1])
        for slot_name, value in mine.slot_variables.items():
            np.testing.assert_array_equal(
                np.asarray(value), np.asarray(theirs.slot_variables[slot_name])[:, :1]
            )
        trainer.close()
    assert report.tables == len(trainer.model.tables) and report.source_step == search.step
    assert f"table_{slots[1]}_0" not in trainer.model.tables  # width 0: dropped whole


def test_train_with_warm_start_reports_it_and_a_resumed_run_does_not_start_again(
    searched, tmp_path
):
    cls, params, search_dir = searched
    dims_path = os.path.join(search_dir, "search_result.json")
    model_dir = str(tmp_path / "train")
    short = {**params, "epochs": None, "train_steps": 10}
    report = run_train(cls, short, model_dir, dims_path=dims_path, warm_start=True, progress=False)
    assert report.warm_start is not None and report.warm_start["source"] == search_dir
    chosen = read_search_dims(dims_path)
    assert {int(k): v for k, v in report.slot_dims.items()} == {
        int(k): v for k, v in chosen.items()
    }
    again = run_train(
        cls, {**short, "train_steps": 12}, model_dir, dims_path=dims_path, warm_start=True,
        progress=False,
    )  # fmt: skip
    assert again.warm_start is None and again.step == 12  # resumed its own checkpoint


def test_a_search_of_the_separate_layout_cannot_warm_start(searched, tmp_path):
    cls, params, search_dir = searched
    with load_search_trainer(cls, params, search_dir) as search:
        config = search.model.config
        search.model.config = dataclasses.replace(config, supernet_layout="separate")
        trainer = _fixed(cls, params, dict.fromkeys(search.model.slot_ids, 1), str(tmp_path / "f"))
        with pytest.raises(ValueError, match="supernet_layout='nested'.*'separate'"):
            warm_start(trainer, search)
        trainer.close()


def test_train_warm_starts_by_default_and_falls_back_to_scratch_where_it_cannot(
    searched, tmp_path, caplog
):
    import logging
    import shutil

    cls, params, search_dir = searched
    short = {**params, "epochs": None, "train_steps": 4}
    dims_path = os.path.join(search_dir, "search_result.json")
    report = run_train(cls, short, str(tmp_path / "default"), dims_path=dims_path, progress=False)
    assert report.warm_start is not None  # the default: from the search's weights
    # A dims file without its search beside it: trained from scratch, and said so.
    alone = tmp_path / "alone" / "search_result.json"
    alone.parent.mkdir()
    shutil.copy(dims_path, alone)
    with caplog.at_level(logging.INFO, logger="nwsrec.runs"):
        report = run_train(cls, short, str(tmp_path / "alone-run"), dims_path=str(alone),
                           progress=False)  # fmt: skip
    assert report.warm_start is None
    assert "training from scratch (no warm start)" in caplog.text and "params.json" in caplog.text
    with pytest.raises(FileNotFoundError, match="params.json"):
        run_train(cls, short, str(tmp_path / "explicit"), dims_path=str(alone),
                  warm_start=True, progress=False)  # fmt: skip
    report = run_train(cls, short, str(tmp_path / "scratch"), dims_path=dims_path,
                       warm_start=False, progress=False)  # fmt: skip
    assert report.warm_start is None
