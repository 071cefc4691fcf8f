"""Shared pieces of the fault-injection suite: a tiny data set, runs in-process and as
real processes, and reading a checkpoint's tensors to compare runs bit for bit.

A plain module, not a conftest.py: ``tests/conftest.py`` is imported as ``conftest`` by
other tests, and a second conftest module here would shadow it."""

from __future__ import annotations

import hashlib
import os
import pathlib
import signal
import subprocess
import sys

import numpy as np
import pytest

from nwsrec.cli.main import main

SRC = pathlib.Path(__file__).resolve().parents[2] / "src"
TINY = ["--batch-size", "64", "--no-progress", "--param", "hidden_units=[8]"]


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """A tiny synthetic data set (6 slots, vocab 50, 2048 training records)."""
    out = tmp_path_factory.mktemp("faults-data")
    argv = ["datasets", "generate", "synthetic", "--out", str(out), "--num-train", "2048"]
    argv += ["--num-test", "256", "--pair-ranks", "1,2", "--num-noise-slots", "2"]
    assert main([*argv, "--vocab-size", "50"]) == 0
    return out


def train_argv(data_dir, model_dir, steps, *extra, command="train"):
    """The argv of a tiny run (checkpoints every 10 steps unless ``extra`` says otherwise)."""
    argv = [command, "--model", "synthetic", "--data-dir", str(data_dir)]
    argv += ["--model-dir", str(model_dir), "--steps", str(steps), *TINY]
    params = " ".join(extra)
    if "checkpoint_every_steps" not in params:
        argv += ["--param", "checkpoint_every_steps=10"]
    if "log_every_steps" not in params:
        argv += ["--param", "log_every_steps=5"]
    return [*argv, *extra]


def spawn(argv, log_path):
    """``nwsrec argv`` as a real process (its stderr into ``log_path``)."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "TF_CPP_MIN_LOG_LEVEL": "2"}
    log = open(log_path, "w")  # noqa: SIM115 - closed by the caller through end()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nwsrec", *map(str, argv)],
        stdout=subprocess.DEVNULL,
        stderr=log,
        env=env,
        start_new_session=True,
    )
    proc.log = log
    return proc


def end(proc):
    """Ends a process started by :func:`spawn` (by its pid) and closes its log."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.log.close()


def tensors(prefix):
    """``{name: array}`` of a checkpoint, without the save counter."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(prefix))
    dtypes = reader.get_variable_to_dtype_map()
    keep = [n for n, d in dtypes.items() if d not in (tf.variant, tf.string)]
    return {n: reader.get_tensor(n) for n in sorted(keep) if "save_counter" not in n}


def same_tensors(a, b):
    assert sorted(a) == sorted(b)
    for name in a:
        assert np.array_equal(a[name], b[name]), name


def digest(directory):
    """``{relative path: sha256}`` of every file under ``directory``."""
    out = {}
    for path in sorted(pathlib.Path(directory).rglob("*")):
        if path.is_file():
            out[str(path.relative_to(directory))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def one_line_error(err, *needles):
    """The error is one line (no traceback) and names every needle."""
    lines = [line for line in err.splitlines() if line.startswith("nwsrec ")]
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    for needle in needles:
        assert str(needle) in lines[0], (needle, lines[0])
    return lines[0]
