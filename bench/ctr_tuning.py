"""How the ``ctr`` model's table optimizers, learning rates and length were chosen.

Every configuration trains the ``ctr`` model at full width (no search) on nine training
records in ten (``holdout_every=10``) and is scored on the tenth, the held-out training
records: never the test split. Log loss and AUC are read at several steps of one run
(``--at``), so one run also measures the length. Mean over ``--seeds`` seeds.

Run: ``nice -n 10 .venv/bin/python bench/ctr_tuning.py [--seeds 2] [--at 375,750,1500]
[--data movielens=DIR,synthetic=DIR] [--configs NAME,...]``.

Measured (issue 13; 2 cores shared; held-out log loss / AUC; seeds 0 and 1 where two
are given, else seed 0; MovieLens batch 256, synthetic batch 512)::

    vectors / biases         data       750            1500           3000
    adagrad 0.1 / ftrl 0.05  movielens  .5692/.7700    .5633/.7754
                             (seed 1)   .5720/.7666    .5643/.7743    (2000: .5597/.7784)
                             synthetic  .6622/.5977    .6358/.6642
                             (seed 1)   .6619/.6012    .6386/.6623    (2000: .6294/.6843)
    adagrad 1.0 / ftrl 0.5   movielens  .5648/.7734    .5609/.7779    .5658/.7818
                             (seed 1)   .5691/.7686    .5629/.7773    (2000: .5566/.7849)
                             synthetic  .6380/.6600    .6218/.7023    .7349/.6917
                             (seed 1)   .6465/.6495    .6233/.7018    (2000: .6400/.7011)
    adagrad 3.0 / ftrl 1.0   movielens  .5666/.7729    .5681/.7756    .5907/.7725
                             synthetic  .6380/.6685    .6450/.6921    .7916/.6807
    adagrad 3.0 / ftrl 3.0   movielens  .5747/.7681    .5781/.7764    .6037/.7720
    adagrad 10 / ftrl 3.0    movielens  .5767/.7675    .5893/.7702    .6081/.7701
    adam 1e-3 / adam 1e-3    movielens  .5613/.7764    .5637/.7798
                             synthetic  .6395/.6829    .7659/.6674
    adam 3e-3 / adam 3e-3    movielens  .5673/.7747    .5739/.7781
                             synthetic  .6768/.6595    .8608/.6471
    adam 1e-2 / adam 1e-2    movielens  .5875/.7659    .6157/.7646
                             synthetic  .7160/.5996    .9069/.5961

Chosen (the ``ctr`` defaults): Adagrad 1.0 / FTRL 0.5, the lowest held-out log loss on
both data sets at the bench's lengths; lazy Adam fits faster but overfits the synthetic
task within two epochs (~350 steps each). Past ~1500 steps every setting overfits the
synthetic task: the ``ctr`` model's early stopping (per epoch, on the held-out loss)
sets the length.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from nwsrec.runs import resolve_params  # noqa: E402
from nwsrec.tasks.ctr.params.params import CtrModel  # noqa: E402
from nwsrec.training.trainer import Trainer  # noqa: E402

# name -> overrides of the ctr defaults.
CONFIGS: dict[str, dict] = {
    "old: adagrad 0.1 / ftrl 0.05": {
        "vec_optimizer": "adagrad",
        "vec_learning_rate": 0.1,
        "bias_optimizer": "ftrl",
        "bias_learning_rate": 0.05,
    },
    "adagrad 1.0 / ftrl 0.5": {
        "vec_optimizer": "adagrad",
        "vec_learning_rate": 1.0,
        "bias_optimizer": "ftrl",
        "bias_learning_rate": 0.5,
    },
    "adagrad 3.0 / ftrl 1.0": {
        "vec_optimizer": "adagrad",
        "vec_learning_rate": 3.0,
        "bias_optimizer": "ftrl",
        "bias_learning_rate": 1.0,
    },
    "adagrad 3.0 / ftrl 3.0": {
        "vec_optimizer": "adagrad",
        "vec_learning_rate": 3.0,
        "bias_optimizer": "ftrl",
        "bias_learning_rate": 3.0,
    },
    "adagrad 10 / ftrl 3.0": {
        "vec_optimizer": "adagrad",
        "vec_learning_rate": 10.0,
        "bias_optimizer": "ftrl",
        "bias_learning_rate": 3.0,
    },
    "adam 1e-3 / adam 1e-3": {
        "vec_optimizer": "adam",
        "vec_learning_rate": 1e-3,
        "bias_optimizer": "adam",
        "bias_learning_rate": 1e-3,
    },
    "adam 3e-3 / adam 3e-3": {
        "vec_optimizer": "adam",
        "vec_learning_rate": 3e-3,
        "bias_optimizer": "adam",
        "bias_learning_rate": 3e-3,
    },
    "adam 1e-2 / adam 1e-2": {
        "vec_optimizer": "adam",
        "vec_learning_rate": 1e-2,
        "bias_optimizer": "adam",
        "bias_learning_rate": 1e-2,
    },
}

BATCH = {"movielens": 256, "synthetic": 512}


def run(data_dir: str, batch: int, at: list[int], seed: int, overrides: dict, work: str):
    """Trains to each step of ``at``; returns [(step, log loss, AUC)] on held-out records."""
    _, params = resolve_params("ctr", data_dir=data_dir)
    params = {
        **params,
        **overrides,
        "search": False,
        "batch_size": batch,
        "train_steps": max(at),
        "epochs": None,
        "early_stopping_patience": 0,
        "seed": seed,
        "checkpoint_every_steps": max(at),
        "log_every_steps": max(at),
    }
    trainer = Trainer(lambda: CtrModel(params), params, work, progress=False)
    trainer.holdout_every = 10  # train on 9 records in 10, score on the 10th
    out = []
    for step in at:
        trainer.train(steps=step)
        result = trainer.evaluate(file_pattern=params["train_file_pattern"], part="holdout")
        out.append((step, result.log_loss, result.auc))
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--at", default="375,750,1500,3000")
    parser.add_argument(
        "--data",
        default="movielens=runs/data/movielens-100k,synthetic=runs/data/synthetic",
    )
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--set", default="", help="extra overrides k=v;k=v for every config")
    args = parser.parse_args(argv)
    at = [int(v) for v in args.at.split(",")]
    sets = dict(item.split("=", 1) for item in args.data.split(","))
    extra = {}
    for item in filter(None, args.set.split(";")):
        key, value = item.split("=", 1)
        try:
            extra[key] = float(value)
        except ValueError:
            extra[key] = value  # an optimizer name
    names = [n for n in args.configs.split(",") if n]
    print(f"held-out training records (1 in 10), mean over {args.seeds} seeds: log loss / AUC")
    for name in names:
        for data, data_dir in sets.items():
            began = time.perf_counter()
            runs = []
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                with tempfile.TemporaryDirectory(prefix="nwsrec-tune-") as work:
                    overrides = {**CONFIGS[name], **extra}
                    runs.append(run(data_dir, BATCH[data], at, seed, overrides, work))
            cells = []
            for i, step in enumerate(at):
                loss = statistics.fmean(r[i][1] for r in runs)
                auc = statistics.fmean(r[i][2] for r in runs)
                cells.append(f"{step}: {loss:.4f}/{auc:.4f}")
            print(
                f"{name:30s} {data:10s} "
                + "  ".join(cells)
                + f"  ({time.perf_counter() - began:.0f}s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
