import json
import os

import numpy as np
import pytest
import tensorflow as tf
from hand_model import HandModel

from nwsrec.training.summaries import read_history
from nwsrec.training.trainer import Trainer


def _weights(trainer):
    out = [np.array(v) for v in trainer.dense_variables + trainer.arch_variables]
    out += [np.array(v) for v in trainer.table_variables]
    return out


def test_training_lowers_the_loss_and_writes_checkpoints_params_and_history(hand_params, tmp_path):
    params = {**hand_params, "train_steps": 40, "checkpoint_every_steps": 20}
    trainer = Trainer(lambda: HandModel(params), params, str(tmp_path), progress=False)
    before = trainer.evaluate()
    result = trainer.train()
    after = trainer.evaluate()
    assert result.step == 40 and result.start_step == 0
    assert after.log_loss < before.log_loss
    assert after.num_examples == 1024
    assert sorted(p for p in os.listdir(tmp_path) if p.endswith(".index")) == [
        "ckpt-20.index",
        "ckpt-40.index",
    ]
    saved = json.loads((tmp_path / "params.json").read_text())
    assert saved["train_steps"] == 40 and saved["batch_size"] == 64
    history = read_history(str(tmp_path))
    assert [r["step"] for r in history] == [5, 10, 15, 20, 25, 30, 35, 40]
    assert len(history[-1]["probabilities"]) == len(params["slots"])
    assert trainer.nws_layers[0].step.numpy() == 40


def test_rerun_resumes_step_weights_optimizer_state_and_input_position(hand_params, tmp_path):
    params = {**hand_params, "train_steps": 20, "checkpoint_every_steps": 10}
    straight = Trainer(lambda: HandModel(params), params, str(tmp_path / "a"), progress=False)
    straight.train()

    first = Trainer(lambda: HandModel(params), params, str(tmp_path / "b"), progress=False)
    first.train(steps=10)
    resumed = Trainer(lambda: HandModel(params), params, str(tmp_path / "b"), progress=False)
    result = resumed.train()
    assert result.start_step == 10 and result.step == 20
    assert int(resumed.nws_layers[0].step.numpy()) == 20
    assert int(resumed.dense_optimizer.iterations.numpy()) == 20
    for a, b in zip(_weights(straight), _weights(resumed), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_finished_run_rerun_trains_nothing_more(hand_params, tmp_path):
    params = {**hand_params, "train_steps": 10}
    Trainer(lambda: HandModel(params), params, str(tmp_path), progress=False).train()
    again = Trainer(lambda: HandModel(params), params, str(tmp_path), progress=False)
    result = again.train()
    assert result.start_step == 10 and result.step == 10


def test_width_penalty_pushes_every_slot_to_the_zero_size(hand_params, tmp_path):
    params = {
        **hand_params,
        "train_steps": 60,
        "width_penalty": 0.05,
        "arch_learning_rate": 0.05,
    }
    trainer = Trainer(lambda: HandModel(params), params, str(tmp_path), progress=False)
    trainer.train()
    sizes = trainer.nws_layers[0].chosen_embedding_sizes()
    assert set(sizes.values()) == {0}


def test_event_files_hold_loss_auc_and_nws_summaries(hand_params, tmp_path):
    params = {**hand_params, "train_steps": 10}
    trainer = Trainer(lambda: HandModel(params), params, str(tmp_path), progress=False)
    trainer.train()
    trainer.evaluate()
    tags = set()
    for sub in ("train", "eval"):
        for name in os.listdir(tmp_path / sub):
            for event in tf.compat.v1.train.summary_iterator(str(tmp_path / sub / name)):
                tags.update(v.tag for v in event.summary.value)
    slot = params["slots"][0]
    assert {"loss", "auc", "log_loss", "nws/arch_entropy", "nws/expected_emb_dims"} <= tags
    assert f"arch_embedding_weights_after_softmax/{slot}_4" in tags


def test_checkpoint_of_another_model_is_a_clear_error(hand_params, tmp_path):
    params = {**hand_params, "train_steps": 5}
    Trainer(lambda: HandModel(params), params, str(tmp_path), progress=False).train()
    other = {**params, "search": False}
    trainer = Trainer(lambda: HandModel(other), other, str(tmp_path), progress=False)
    # The manifest names what differs (the widths of the tables) before any restore.
    with pytest.raises(ValueError, match="checkpoints of this same run.*layout of table_1_1"):
        trainer.train()


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ({"width_penalty": -1.0}, "`width_penalty` must be a finite number"),
        ({"dense_optimizer": "rmsprop"}, "`dense_optimizer` must be one of"),
        ({"train_file_pattern": None}, "`train_file_pattern` must be set"),
        ({"holdout_every": 1}, "`holdout_every` must be 0"),
        ({"holdout_every": 2.5}, "`holdout_every` must be 0"),
    ],
    ids=["negative-penalty", "unknown-optimizer", "no-train-files", "holdout-1", "holdout-float"],
)
def test_bad_training_params_are_errors(hand_params, tmp_path, override, match):
    params = {**hand_params, **override}
    with pytest.raises(ValueError, match=match):
        Trainer(lambda: HandModel(params), params, str(tmp_path), progress=False)


def _rows(trainer, part):
    """Every example the part reads, as (first id of each slot..., label)."""
    dataset = trainer.input_fn(trainer.params["train_file_pattern"], False, part)
    slots = trainer.params["slots"]
    rows = set()
    for batch in dataset(tf.distribute.InputContext()):
        columns = [tf.sparse.to_dense(batch[f"slot_{s}_0"]).numpy()[:, 0] for s in slots]
        columns.append(batch["label"].numpy())
        rows |= {tuple(float(v) for v in row) for row in zip(*columns, strict=True)}
    return rows


def test_a_search_holds_records_out_of_training_and_a_fixed_width_run_does_not(
    hand_params, tmp_path
):
    params = {**hand_params, "holdout_every": 4}
    search = Trainer(lambda: HandModel(params), params, str(tmp_path / "s"), progress=False)
    assert search.holdout_every == 4
    train, held, everything = (_rows(search, p) for p in ("train", "holdout", "all"))
    assert not train & held
    assert train | held <= everything
    assert 0.15 < len(held) / len(everything) < 0.35
    fixed = {**params, "search": False}
    trainer = Trainer(lambda: HandModel(fixed), fixed, str(tmp_path / "f"), progress=False)
    assert trainer.holdout_every == 0
    assert _rows(trainer, "train") == everything


def test_evaluation_reads_every_example_the_last_partial_batch_too(tiny_data, tmp_path):
    # nwsrec's own input pipeline (CtrModel); 1024 test examples: batch 100 leaves a
    # partial batch of 24, batch 64 none; same seed, same weights.
    from nwsrec.runs import resolve_params
    from nwsrec.tasks.ctr.params.params import CtrModel

    _, base = resolve_params("ctr", data_dir=str(tiny_data[0]))
    results = []
    for batch in (100, 64):
        params = {**base, "search": False, "batch_size": batch, "seed": 3}
        trainer = Trainer(
            lambda p=params: CtrModel(p), params, str(tmp_path / str(batch)), progress=False
        )
        results.append(trainer.evaluate())
    partial, whole = results
    assert partial.num_examples == whole.num_examples == 1024
    assert partial.log_loss == pytest.approx(whole.log_loss, abs=1e-6)
    assert partial.auc == pytest.approx(whole.auc, abs=1e-6)


def test_a_run_config_and_its_flat_params_are_the_same_run(hand_params, tmp_path):
    from nwsrec.config import RunConfig
    from nwsrec.training.rundir import run_manifest

    params = {**hand_params, "train_steps": 4, "checkpoint_every_steps": 2}
    flat = Trainer(lambda: HandModel(params), params, str(tmp_path), progress=False)
    flat.train()
    flat.close()
    config = RunConfig.from_params({**params, "train_steps": 6})
    typed = Trainer(lambda: HandModel(config), config, str(tmp_path), progress=False)
    # The flat wire format is what the run dir records: params.json and the manifest of
    # a dir written from flat params are those of the typed config, and it resumes.
    assert typed.params == {**flat.params, "train_steps": 6} == config.to_params()
    assert run_manifest(typed.params, typed.tables, typed.model) == run_manifest(
        flat.params, flat.tables, flat.model
    )
    result = typed.train()
    assert (result.start_step, result.step) == (4, 6)
    with open(os.path.join(tmp_path, "params.json")) as f:
        assert json.load(f)["train_steps"] == 6
