"""Benchmark: training throughput of the scale-out modes on this one machine.

Trains the built-in ``synthetic`` model (fixed widths, 6 slots at width 16, batch 512) on
locally generated data, each mode as real separate processes on 127.0.0.1, with
``nwsrec.training.Trainer`` under the strategy ``create_distributed_run`` builds from each
task's ``TF_CONFIG``:

- ``1 process``: the default strategy (the baseline);
- ``MWMS, 2 workers``: ``MultiWorkerMirroredStrategy``, the global batch split in two;
- ``PS, 1 worker, 2 ps``: ``ParameterServerStrategy``, chief + worker + 2 ps, every table
  split across both ps.

Examples/s is the global throughput seen by the chief (global batch x steps / wall time),
averaged over the logging intervals after the first (which holds tracing and warm-up).
The ratio is against the 1-process baseline measured in the same run.

What the numbers mean: the overhead each mode adds when the processes share one 2-core
machine: gRPC between processes, collectives (MWMS all-reduces the dense gradients and
all-gathers the sparse ones every step, and runs one step per ``tf.function`` call), remote
variable reads and writes (PS). What they do not mean: the speed-up on a real cluster.
Here two workers share the two cores the one process had, so MWMS cannot be faster; on
separate machines each worker brings its own cores and reads its own files, and the
collective cost is paid over the network instead of loopback. PS here runs its ps tasks
on the same cores as the worker; on a cluster they hold tables larger than one machine.

Run: ``.venv/bin/python bench/scale_out.py`` (a few minutes on 2 cores); ``--quick`` for
a smoke run.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

BATCH = 512
LOG_EVERY = 10


def _params(data_dir: str, steps: int) -> dict:
    from nwsrec.runs import resolve_params

    _, params = resolve_params(
        "synthetic",
        {
            "search": False,
            "slot_dims": None,
            "log_every_steps": LOG_EVERY,
            "checkpoint_every_steps": 10**9,
        },
        steps=steps,
        batch_size=BATCH,
        data_dir=data_dir,
    )
    return params


def _speeds(model_dir: str) -> list[float]:
    """``examples_per_sec`` of each logging interval, from the chief's event files."""
    import tensorflow as tf

    speeds = {}
    for path in sorted(glob.glob(os.path.join(model_dir, "train", "events.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == "examples_per_sec":
                    speeds[int(event.step)] = float(tf.make_ndarray(value.tensor))
    return [speeds[s] for s in sorted(speeds)]


def run_task(config_path: str) -> int:
    """One task of a benchmark cluster (TF_CONFIG in the environment)."""
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    from nwsrec.training.distributed import create_distributed_run

    run = create_distributed_run(config["strategy"])
    if not run.trains:
        run.serve()
        return 0
    from nwsrec import registry
    from nwsrec.training.trainer import Trainer

    params = _params(config["data_dir"], config["steps"])
    cls = registry.get_class("synthetic")
    with run:
        model_dir = run.task_model_dir(config["model_dir"])
        trainer = Trainer(lambda: cls(params), params, model_dir, run.strategy, progress=False)
        trainer.train()
        if run.is_chief:
            with open(config["out"], "w", encoding="utf-8") as f:
                json.dump({"speeds": _speeds(model_dir)}, f)
    return 0


def _ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def measure(root: str, name: str, strategy: str, jobs: dict, data_dir: str, steps: int) -> float:
    """Runs one mode as processes; returns the chief's examples/s after warm-up."""
    work = os.path.join(root, name)
    os.makedirs(work)
    ports = iter(_ports(sum(jobs.values())))
    cluster = {job: [f"127.0.0.1:{next(ports)}" for _ in range(n)] for job, n in jobs.items()}
    config = {
        "strategy": strategy,
        "data_dir": data_dir,
        "model_dir": os.path.join(work, "model"),
        "steps": steps,
        "out": os.path.join(work, "result.json"),
    }
    config_path = os.path.join(work, "config.json")
    with open(config_path, "w", encoding="utf-8") as f:
        json.dump(config, f)
    processes, trainers = [], []
    try:
        for job, addresses in cluster.items():
            for i in range(len(addresses)):
                env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
                if strategy != "default":
                    env["TF_CONFIG"] = json.dumps(
                        {"cluster": cluster, "task": {"type": job, "index": i}}
                    )
                log = open(os.path.join(work, f"{job}-{i}.log"), "w")  # noqa: SIM115
                process = subprocess.Popen(
                    [sys.executable, os.path.abspath(__file__), "--task", config_path],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
                log.close()
                processes.append(process)
                if strategy != "ps" or job == "chief":
                    trainers.append((f"{job}-{i}", process))
        for task, process in trainers:
            if process.wait(timeout=600) != 0:
                with open(os.path.join(work, f"{task}.log"), encoding="utf-8") as f:
                    raise RuntimeError(f"{name}: task {task} failed:\n{f.read()[-3000:]}")
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
        for process in processes:
            process.wait(timeout=30)
    with open(config["out"], encoding="utf-8") as f:
        speeds = json.load(f)["speeds"]
    later = speeds[1:] or speeds
    return sum(later) / len(later)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="a smoke run (fewer steps)")
    parser.add_argument("--steps", type=int, default=None, help="steps per mode (default 60)")
    args = parser.parse_args(argv)
    if args.task:
        return run_task(args.task)
    steps = args.steps or (20 if args.quick else 60)
    from nwsrec.data.synthetic import SyntheticConfig, generate_synthetic

    root = tempfile.mkdtemp(prefix="nwsrec-scale-out-")
    try:
        data_dir = os.path.join(root, "data")
        generate_synthetic(
            data_dir,
            SyntheticConfig(
                seed=0,
                num_train=32768,
                num_test=1024,
                num_files=8,
                pair_ranks=(1, 2),
                num_noise_slots=2,
                vocab_size=2000,
            ),
        )
        modes = [
            ("1 process", "default", {"worker": 1}),
            ("MWMS, 2 workers", "mwms", {"worker": 2}),
            ("PS, 1 worker, 2 ps", "ps", {"chief": 1, "worker": 1, "ps": 2}),
        ]
        began = time.perf_counter()
        results = []
        for index, (label, strategy, jobs) in enumerate(modes):
            speed = measure(root, f"mode{index}", strategy, jobs, data_dir, steps)
            results.append((label, sum(jobs.values()), speed))
        base = results[0][2]
        print(f"scale-out throughput, synthetic model, global batch {BATCH}, {steps} steps")
        print(f"(mean over the logging intervals after the first; {os.cpu_count()} cores)")
        print()
        print(f"{'mode':<22}{'processes':>10}{'examples/s':>13}{'ratio':>8}")
        for label, processes, speed in results:
            print(f"{label:<22}{processes:>10}{speed:>13.0f}{speed / base:>8.2f}")
        print()
        print(f"total {time.perf_counter() - began:.0f} s")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
