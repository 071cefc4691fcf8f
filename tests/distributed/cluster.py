"""Starts the tasks of a test cluster on 127.0.0.1 as separate processes, and ends them.

Each task is ``sys.executable dist_worker.py CONFIG`` with its own ``TF_CONFIG``; its
output goes to a log file whose tail is shown when the task fails. Every process is
ended by its pid in a ``finally``, whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time

WORKER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dist_worker.py")


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (held open until all are chosen)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def make_cluster(jobs: dict[str, int]) -> dict[str, list[str]]:
    """``{"worker": 2}`` -> ``{"worker": ["127.0.0.1:p0", "127.0.0.1:p1"]}``."""
    ports = iter(free_ports(sum(jobs.values())))
    return {job: [f"127.0.0.1:{next(ports)}" for _ in range(n)] for job, n in jobs.items()}


def log_tail(path: str, chars: int = 3000) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()[-chars:]


class Task:
    """One running task: its process and log file."""

    def __init__(self, name: str, process: subprocess.Popen, log_path: str) -> None:
        self.name = name
        self.process = process
        self.log_path = log_path


def start_task(
    out_dir: str, name: str, config: dict, tf_config: dict | None, extra_env: dict | None = None
) -> Task:
    """Starts ``dist_worker.py`` for one task; its config goes to ``out_dir/<name>.json``."""
    config_path = os.path.join(out_dir, f"{name}.json")
    with open(config_path, "w", encoding="utf-8") as f:
        json.dump(config, f)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **(extra_env or {}))
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    log_path = os.path.join(out_dir, f"{name}.log")
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [sys.executable, WORKER_SCRIPT, config_path],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=out_dir,
        )
    return Task(name, process, log_path)


def end(tasks: list[Task]) -> None:
    """Ends every task that still runs, by its pid."""
    for task in tasks:
        if task.process.poll() is None:
            task.process.kill()
    for task in tasks:
        with contextlib.suppress(subprocess.TimeoutExpired):
            task.process.wait(timeout=10)


def wait_all(tasks: list[Task], timeout_s: float) -> None:
    """Waits for every task to exit 0 within ``timeout_s``; else fails with the logs."""
    deadline = time.monotonic() + timeout_s
    pending = list(tasks)
    while pending:
        for task in list(pending):
            code = task.process.poll()
            if code is None:
                continue
            pending.remove(task)
            if code != 0:
                raise AssertionError(
                    f"task {task.name} exited with {code}:\n{log_tail(task.log_path)}"
                )
        if pending and time.monotonic() > deadline:
            names = [t.name for t in pending]
            logs = "\n".join(f"--- {t.name}\n{log_tail(t.log_path, 1500)}" for t in pending)
            raise AssertionError(f"tasks {names} still running after {timeout_s}s:\n{logs}")
        time.sleep(0.2)


def read_result(out_dir: str, task: str) -> dict:
    with open(os.path.join(out_dir, f"result-{task}.json"), encoding="utf-8") as f:
        return json.load(f)
