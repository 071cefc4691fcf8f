"""One task of a test cluster: ``python dist_worker.py CONFIG.json`` (TF_CONFIG in the env).

A training task (MWMS worker, PS chief, or a single process with ``--strategy default``)
trains :class:`dist_model.DistModel` with ``nwsrec.training.Trainer`` and writes
``result-<task>.json`` (files it trained on, steps, losses, where it wrote, the shapes of
the table shards) and ``weights-<task>.npz`` into ``config["out_dir"]``; a serving task
(a ps-mode worker or ps) serves until it is ended.
"""

from __future__ import annotations

import json
import os
import sys


def _weights(trainer) -> dict:
    """Every weight as numpy; a table split across ps tasks is read whole (concatenated)."""
    import tensorflow as tf

    out = {}
    for i, v in enumerate(trainer.dense_variables):
        out[f"dense_{i}"] = tf.convert_to_tensor(v).numpy()
    for name, table in trainer.tables.items():
        for j, v in enumerate(table.variables):
            out[f"{name}_{j}"] = tf.convert_to_tensor(v).numpy()
    return out


def _train_losses(model_dir: str) -> dict:
    """``{step: loss}`` from the TensorBoard event files of ``model_dir/train``."""
    import glob

    import tensorflow as tf

    losses = {}
    for path in sorted(glob.glob(os.path.join(model_dir, "train", "events.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == "loss":
                    losses[str(event.step)] = float(tf.make_ndarray(value.tensor))
    return dict(sorted(losses.items(), key=lambda item: int(item[0])))


def main(config_path: str) -> int:
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)

    from nwsrec.training.distributed import create_distributed_run

    run = create_distributed_run(config["strategy"], collective_timeout_s=60.0)
    if not run.trains:
        run.serve()
        return 0
    train_task(config, run)
    return 0


def train_task(config: dict, run) -> dict:
    """Trains under ``run`` (a ``DistributedRun``), writes and returns the task's report."""
    import numpy as np
    from dist_model import DistModel, params_for

    from nwsrec.embedding.sharded import shards
    from nwsrec.training.trainer import Trainer

    seen: set[int] = set()
    if config.get("record_files", False):  # a py_function: the input is not checkpointable
        DistModel.on_batch = staticmethod(lambda ids: seen.update(int(i) for i in ids))
    task = "single" if run.task is None else f"{run.task.task_type}-{run.task.task_id}"
    params = params_for(config["data_dir"], **config.get("params", {}))
    with run:
        model_dir = run.task_model_dir(config["model_dir"])
        trainer = Trainer(
            lambda: DistModel(params),
            params,
            model_dir,
            strategy=run.strategy,
            progress=False,
            restore_dir=config["model_dir"],
        )
        seen.clear()  # batches read while the model was built are not training
        evaluate = config.get("evaluate", True)
        before = trainer.evaluate().log_loss if evaluate else None
        seen.clear()
        result = trainer.train()
        files = sorted(seen)
        after = trainer.evaluate().log_loss if evaluate else None
        report = {
            "task": task,
            "is_chief": run.is_chief,
            "files": files,
            "start_step": result.start_step,
            "step": result.step,
            "loss_before": before,
            "loss_after": after,
            "model_dir": model_dir,
            "train_losses": _train_losses(model_dir),
            "checkpoint": result.checkpoint,
            "shards": {  # table groups' and slot variables: shape and device of each shard
                f"{name}/{j}": [[list(s.shape), s.device] for s in shards(v)]
                for name, group in trainer.model.table_groups.items()
                for j, v in enumerate(group.variables)
            },
        }
        np.savez(os.path.join(config["out_dir"], f"weights-{task}.npz"), **_weights(trainer))
    report["model_dir_exists_after"] = os.path.isdir(model_dir)
    with open(os.path.join(config["out_dir"], f"result-{task}.json"), "w") as f:
        json.dump(report, f)
    return report


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
