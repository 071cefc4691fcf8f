"""The ``ctr`` model on ``nwsrec convert`` output, end to end through the CLI."""

import json
import random

import pytest

from nwsrec.cli.main import main
from nwsrec.runs import resolve_params


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """A CSV with a multi-valued slot and two dense columns whose label depends on both."""
    root = tmp_path_factory.mktemp("ctr")
    rng = random.Random(0)
    for name, rows in (("train", 4000), ("test", 600)):
        lines = ["user,item,tags,price,age,clicked"]
        for _ in range(rows):
            user, item = rng.randrange(30), rng.randrange(20)
            tags = "|".join(rng.sample("abcdef", rng.randrange(1, 3)))
            price = rng.random() * 100
            z = (user % 3 == 0) + (item % 4 == 0) + 0.8 * ("a" in tags) + price / 40 - 2.0
            label = int(rng.random() < 1 / (1 + 2.718281828**-z))
            lines.append(f"{user},{item},{tags},{price:.2f},{rng.randrange(18, 70)},{label}")
        (root / f"{name}.csv").write_text("\n".join(lines) + "\n")
    out = root / "data"
    code = main(
        [
            "convert",
            str(root / "train.csv"),
            str(root / "test.csv"),
            "--out",
            str(out),
            "--slot",
            "user=1",
            "--slot",
            "item=2",
            "--slot",
            "tags=3",
            "--multi",
            "tags=|",
            "--dense",
            "price",
            "--dense",
            "age",
            "--label",
            "clicked",
            "--shards",
            "2",
        ]
    )
    assert code == 0
    return out


def test_ctr_reads_every_slot_and_the_dense_floats(converted):
    from nwsrec.tasks.ctr.params.params import CtrModel

    cls, params = resolve_params("ctr", data_dir=str(converted))
    assert cls is CtrModel
    model = CtrModel({**params, "search": False})
    assert model.slot_ids == [1, 2, 3]
    assert model.dense_width == 2
    assert model.feature_map()["dense"].shape == [2]


def test_ctr_without_data_dir_names_the_option():
    with pytest.raises(FileNotFoundError, match="--data-dir"):
        resolve_params("ctr")


def test_train_search_plan_with_epochs_and_early_stopping(converted, tmp_path, capsys):
    run = tmp_path / "train"
    args = ["--model", "ctr", "--data-dir", str(converted), "--no-progress"]
    assert main(["train", *args, "--model-dir", str(run), "--epochs", "4"]) == 0
    text = capsys.readouterr().out
    assert "early stopping: best held-out auc" in text
    state = json.loads((run / "early_stopping.json").read_text())
    assert state["metric"] == "auc"
    steps = [e[0] for e in state["evaluations"]]
    # ~3600 training records (one in ten held out) / batch 256: ~14 steps per epoch.
    assert 12 <= steps[0] <= 16 and steps == [steps[0] * k for k in (1, 2, 3, 4)]
    auc = float(text.split("test AUC ")[1].split()[0])
    assert auc > 0.6  # the label depends on the slots and the price
    search = tmp_path / "search"
    assert main(["search", *args, "--model-dir", str(search), "--steps", "40"]) == 0
    assert (search / "search_result.json").exists()
    assert main(["plan", "--model", "ctr", "--data-dir", str(converted)]) == 0
    assert "table_3_1" in capsys.readouterr().out


def test_epochs_and_steps_together_is_an_error(converted, capsys):
    args = ["train", "--model", "ctr", "--data-dir", str(converted), "--epochs", "1"]
    assert main([*args, "--steps", "5"]) != 0
    assert "`--epochs` and `--steps` must not both be set" in capsys.readouterr().err


def test_table_optimizers_are_chosen_by_params(converted, tmp_path):
    from nwsrec.tasks.ctr.params.params import CtrModel
    from nwsrec.training.trainer import Trainer

    _, params = resolve_params("ctr", data_dir=str(converted))
    params = {
        **params,
        "search": False,
        "vec_optimizer": "adagrad",
        "vec_learning_rate": 0.3,
        "bias_optimizer": "sgd",
        "bias_learning_rate": 0.02,
    }
    trainer = Trainer(lambda: CtrModel(params), params, str(tmp_path), progress=False)
    kinds = {
        name: (type(t.optimizer).__name__, t.optimizer.learning_rate)
        for name, t in trainer.tables.items()
    }
    assert kinds["table_1_0"] == ("SGD", 0.02)  # slice 0: the bias
    assert kinds["table_1_1"] == ("Adagrad", 0.3)
    assert set(kinds.values()) == {("SGD", 0.02), ("Adagrad", 0.3)}


@pytest.mark.parametrize("key", ["vec_optimizer", "bias_optimizer"])
def test_an_unknown_table_optimizer_names_the_param(converted, key):
    from nwsrec.tasks.ctr.params.params import CtrModel

    _, params = resolve_params("ctr", data_dir=str(converted))
    expected = f"`{key}` must be one of adagrad, adagrad_rowwise, adam, ftrl, sgd"
    with pytest.raises(ValueError, match=expected):
        CtrModel({**params, key: "rmsprop"})
