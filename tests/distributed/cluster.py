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


class ReservedCluster(dict):
    """A ``TF_CONFIG`` cluster dict whose ports stay reserved until :meth:`release`.

    Each port is held by a socket bound (not listening) with ``SO_REUSEADDR`` and
    ``SO_REUSEPORT``: TensorFlow's gRPC server binds with ``SO_REUSEPORT`` too, so a task
    can take its port while the test still holds it, and no other program can bind it
    in between (the race of choosing a free port and closing it before the task binds).
    """

    def __init__(self, jobs: dict[str, list[str]], sockets: list[socket.socket]) -> None:
        super().__init__(jobs)
        self.sockets = sockets

    def release(self) -> None:
        """Closes the reserving sockets (the tasks keep the ports they bound)."""
        while self.sockets:
            self.sockets.pop().close()

    def __enter__(self) -> ReservedCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def reserve_ports(count: int) -> tuple[list[int], list[socket.socket]]:
    """``count`` distinct ports on 127.0.0.1 and the sockets that hold them (bound).

    The OS picks each port (bind to port 0); the socket stays bound with SO_REUSEPORT,
    so only a task that also binds with SO_REUSEPORT (a gRPC server) can share it.
    """
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
    except BaseException:
        for s in sockets:
            s.close()
        raise
    return [s.getsockname()[1] for s in sockets], sockets


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports, released at once (racy: prefer :func:`make_cluster`)."""
    ports, sockets = reserve_ports(count)
    for s in sockets:
        s.close()
    return ports


def make_cluster(jobs: dict[str, int]) -> ReservedCluster:
    """``{"worker": 2}`` -> ``{"worker": ["127.0.0.1:p0", "127.0.0.1:p1"]}``, ports reserved.

    Use as a context manager (``with make_cluster(...) as cluster:``) or call
    ``release()``: the ports stay held until then, while the tasks start and bind them.
    """
    ports, sockets = reserve_ports(sum(jobs.values()))
    it = iter(ports)
    addresses = {job: [f"127.0.0.1:{next(it)}" for _ in range(n)] for job, n in jobs.items()}
    return ReservedCluster(addresses, sockets)


def log_tail(path: str, chars: int = 3000) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()[-chars:]


class Task:
    """One running task: its process and log file."""

    def __init__(self, name: str, process: subprocess.Popen, log_path: str) -> None:
        self.name = name
        self.process = process
        self.log_path = log_path


def start_process(
    out_dir: str,
    name: str,
    argv: list[str],
    tf_config: dict | None,
    extra_env: dict | None = None,
) -> Task:
    """Starts ``sys.executable *argv`` as task ``name``; its output goes to ``<name>.log``."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **(extra_env or {}))
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    log_path = os.path.join(out_dir, f"{name}.log")
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [sys.executable, *argv], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=out_dir
        )
    return Task(name, process, log_path)


def start_task(
    out_dir: str, name: str, config: dict, tf_config: dict | None, extra_env: dict | None = None
) -> Task:
    """Starts ``dist_worker.py`` for one task; its config goes to ``out_dir/<name>.json``."""
    config_path = os.path.join(out_dir, f"{name}.json")
    with open(config_path, "w", encoding="utf-8") as f:
        json.dump(config, f)
    return start_process(out_dir, name, [WORKER_SCRIPT, config_path], tf_config, extra_env)


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
