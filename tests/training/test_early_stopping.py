"""Epochs, early stopping (best weights restored) and exact resume of the shuffled input."""

import json

import numpy as np
import pytest

from nwsrec.runs import resolve_params
from nwsrec.training.trainer import Trainer


def _params(tiny_data, **overrides):
    out, _ = tiny_data
    _, params = resolve_params("ctr", data_dir=str(out))
    return {
        **params,
        "search": False,
        "batch_size": 64,
        "epochs": None,
        "early_stopping_patience": 0,
        "checkpoint_every_steps": 10,
        "log_every_steps": 5,
        **overrides,
    }


def _trainer(params, model_dir):
    from nwsrec.tasks.ctr.params.params import CtrModel

    return Trainer(lambda: CtrModel(params), params, str(model_dir), progress=False)


def _weights(trainer):
    out = [np.array(v) for v in trainer.dense_variables]
    return out + [np.array(v) for v in trainer.table_variables]


def test_resumed_shuffled_training_equals_an_uninterrupted_run(tiny_data, tmp_path):
    params = _params(tiny_data, train_steps=30, shuffle_buffer=500)
    straight = _trainer(params, tmp_path / "a")
    straight.train()
    first = _trainer(params, tmp_path / "b")
    first.train(steps=10)  # 10 of 57 steps per pass: stops inside the first window
    resumed = _trainer(params, tmp_path / "b")
    result = resumed.train()
    assert result.start_step == 10 and result.step == 30
    for a, b in zip(_weights(straight), _weights(resumed), strict=True):
        np.testing.assert_array_equal(a, b)
    # The order is seeded: another shuffle seed trains other weights.
    other = _trainer({**params, "shuffle_seed": 5}, tmp_path / "c")
    other.train()
    assert any(
        not np.array_equal(a, b) for a, b in zip(_weights(straight), _weights(other), strict=True)
    )


def test_epochs_set_the_length_from_the_training_records(tiny_data, tmp_path):
    params = _params(tiny_data, epochs=1.5)
    trainer = _trainer(params, tmp_path)
    result = trainer.train()
    # 4096 records, none held out (no early stopping, no search): 64 steps of 64.
    assert result.steps_per_epoch == 4096 // 64
    assert result.step == round(1.5 * 64)


@pytest.mark.parametrize(("metric", "column"), [("auc", 1), ("log_loss", 2)])
def test_early_stopping_restores_and_reports_the_best_evaluation(
    tiny_data, tmp_path, metric, column
):
    params = _params(
        tiny_data,
        train_steps=120,
        holdout_every=5,
        early_stopping_patience=2,
        early_stopping_metric=metric,
        eval_every_steps=10,
        dense_learning_rate=0.05,  # overfits the 3.3k training records fast
        vec_learning_rate=0.5,
    )
    trainer = _trainer(params, tmp_path)
    result = trainer.train()
    report = result.early_stopping
    assert report["metric"] == metric
    values = {int(e[0]): e[column] for e in report["evaluations"]}
    pick = max if metric == "auc" else min
    best_step = pick(values, key=lambda s: (values[s], -s if metric == "auc" else s))
    assert report["best_step"] == best_step == result.step
    assert report[f"best_holdout_{metric}"] == values[best_step]
    # The restored weights are the best step's: the held-out metrics come back exactly.
    again = trainer.evaluate(params["train_file_pattern"], part="holdout")
    assert abs(getattr(again, metric) - values[best_step]) < 1e-6
    steps = sorted(values)
    if report["stopped_early"]:
        assert report["stopped_step"] == steps[-1] < 120
        assert len([s for s in steps if s > best_step]) == 2  # patience
    saved = json.loads((tmp_path / "early_stopping.json").read_text())
    assert saved["evaluations"] == report["evaluations"]
    # A rerun does not train past where the run stopped; it reports the same best.
    rerun = _trainer(params, tmp_path).train()
    assert rerun.early_stopping["best_step"] == best_step


def test_a_search_is_stopped_on_its_full_width_evaluation(tiny_data, tmp_path):
    """The supernet's held-out evaluation pins every NWS slot to its largest size."""
    from nwsrec.tasks.ctr.params.params import CtrModel

    params = _params(
        tiny_data,
        search=True,
        train_steps=20,
        holdout_every=5,
        early_stopping_patience=3,
        eval_every_steps=10,
    )
    trainer = Trainer(lambda: CtrModel(params), params, str(tmp_path), progress=False)
    result = trainer.train()
    layer = trainer.nws_layers[0]
    with layer.pinned(layer.largest_sizes()):
        full = trainer.evaluate(params["train_file_pattern"], part="holdout")
    # The model holds the best evaluation's weights: its record is the full width's.
    report = result.early_stopping
    (best,) = [e for e in report["evaluations"] if e[0] == report["best_step"] == result.step]
    assert abs(best[1] - full.auc) < 1e-9 and abs(best[2] - full.log_loss) < 1e-9
    # The layer's own inference (the argmax of its untrained weights) is another model.
    plain = trainer.evaluate(params["train_file_pattern"], part="holdout")
    assert abs(plain.log_loss - full.log_loss) > 1e-6


def test_workers_restoring_other_best_steps_is_an_error_naming_the_steps():
    import types

    import tensorflow as tf

    class TwoWorkers:
        """The calls the check makes on a strategy; the other worker restored step 8."""

        def experimental_distribute_values_from_function(self, fn):
            return fn(None)

        def gather(self, value, axis):
            return tf.concat([value, tf.constant([8], tf.int64)], axis=axis)

    fake = types.SimpleNamespace(strategy=TwoWorkers(), _best_directory=lambda: "/run/best")
    with pytest.raises(RuntimeError, match=r"same best held-out step.*\[4, 8\].*/run/best"):
        Trainer._check_same_step_on_every_worker(fake, 4)
    fake.strategy.gather = lambda value, axis: tf.concat([value, value], axis=axis)
    Trainer._check_same_step_on_every_worker(fake, 4)
