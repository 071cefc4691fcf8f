"""A ParameterServerStrategy cluster on 127.0.0.1: chief, one worker, two ps (4 processes).

The chief trains ``DistModel`` through ``nwsrec.training.Trainer`` (a ``ClusterCoordinator``
schedules the steps on the worker); the worker and the ps tasks serve until they are
ended. The same training also runs in one process (default strategy), in this test's
process: with one worker the steps run in order, so both must agree.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from cluster import end, make_cluster, read_result, start_task, wait_all
from dist_model import write_data
from dist_worker import train_task

from nwsrec.training.distributed import create_distributed_run

pytestmark = pytest.mark.cluster

STEPS = 8


def _config(data_dir: str, out_dir: str, strategy: str) -> dict:
    return {
        "strategy": strategy,
        "data_dir": data_dir,
        "model_dir": os.path.join(out_dir, "model"),
        "out_dir": out_dir,
        "evaluate": True,
        "params": {"train_steps": STEPS, "log_every_steps": 2, "checkpoint_every_steps": 4},
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ps")
    data_dir = str(root / "data")
    write_data(data_dir, num_files=4, per_file=64)
    out = str(root / "cluster")
    os.makedirs(out)
    cluster = make_cluster({"chief": 1, "worker": 1, "ps": 2})
    config = _config(data_dir, out, "ps")
    tasks = []
    try:
        for job in ("ps", "worker", "chief"):
            for i in range(len(cluster[job])):
                tf_config = {"cluster": cluster, "task": {"type": job, "index": i}}
                tasks.append(start_task(out, f"{job}-{i}", config, tf_config))
        chief = tasks[-1]
        wait_all([chief], timeout_s=150)
        servers_alive = all(t.process.poll() is None for t in tasks[:-1])
    finally:
        end(tasks)
        cluster.release()
    distributed = read_result(out, "chief-0")
    distributed["weights"] = dict(np.load(os.path.join(out, "weights-chief-0.npz")))
    distributed["servers_alive"] = servers_alive

    single_out = str(root / "single")
    os.makedirs(single_out)
    with create_distributed_run("default", tf_config="") as run:
        single = train_task(_config(data_dir, single_out, "default"), run)
    single["weights"] = dict(np.load(os.path.join(single_out, "weights-single.npz")))
    return distributed, single


def test_every_table_group_and_its_optimizer_slots_are_split_across_both_ps(runs):
    distributed, single = runs
    # Two groups of 3 tables x 40 rows: the FTRL biases (3 variables), the Adagrad vectors (2).
    assert sorted(distributed["shards"]) == [
        *(f"adagrad_dim4/{j}" for j in range(2)),
        *(f"ftrl_dim1/{j}" for j in range(3)),
    ]
    for name, parts in distributed["shards"].items():
        shapes = [shape for shape, _ in parts]
        devices = sorted(device.split("/device:")[0] for _, device in parts)
        assert shapes in ([[60, 1], [60, 1]], [[60, 4], [60, 4]]), name
        assert devices == ["/job:ps/replica:0/task:0", "/job:ps/replica:0/task:1"], name
    # One process: whole tables.
    assert all(len(parts) == 1 for parts in single["shards"].values())


def test_training_on_the_cluster_matches_one_process_on_the_same_data(runs):
    distributed, single = runs
    assert distributed["step"] == single["step"] == STEPS
    assert distributed["weights"].keys() == single["weights"].keys()
    for key, value in distributed["weights"].items():
        np.testing.assert_allclose(value, single["weights"][key], rtol=1e-5, atol=1e-6)
    assert distributed["train_losses"].keys() == single["train_losses"].keys()
    for step, loss in distributed["train_losses"].items():
        assert loss == pytest.approx(single["train_losses"][step], rel=1e-5), step


def test_the_cluster_learns_and_the_chief_checkpoints(runs):
    distributed, _ = runs
    assert distributed["loss_after"] < distributed["loss_before"] - 0.05
    assert distributed["is_chief"] and distributed["servers_alive"]
    assert distributed["checkpoint"] == os.path.join(distributed["model_dir"], f"ckpt-{STEPS}")
    assert os.path.exists(distributed["checkpoint"] + ".index")
