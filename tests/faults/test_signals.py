"""Real `nwsrec train` processes sent SIGINT, SIGTERM and SIGKILL at seeded random
moments (SIGKILL with a checkpoint written every step, so it lands inside writes): each
resumes from its last complete checkpoint to final weights bit-identical to an
uninterrupted run. Bounded in time; every process is ended in ``finally``."""

from __future__ import annotations

import random
import signal
import time

import pytest
from faultkit import (  # noqa: F401 (data_dir: a fixture)
    data_dir,
    end,
    one_line_error,
    same_tensors,
    spawn,
    tensors,
    train_argv,
)

from nwsrec.cli.main import main

pytestmark = pytest.mark.slow

STEPS = 300
SEED = 14


def test_signals_save_a_checkpoint_and_resume_bit_identical(data_dir, tmp_path):
    rng = random.Random(SEED)
    every = ["--param", "checkpoint_every_steps=1", "--param", "log_every_steps=1"]
    # Every run trains to STEPS exactly (early stopping would restore a best step's weights).
    exact = ["--param", "early_stopping_patience=0"]
    cases = {
        "SIGINT": (130, []),
        "SIGTERM": (143, []),
        "SIGKILL": (-9, every),  # a checkpoint every step: kills land inside writes
    }
    procs, codes, signaled = {}, {}, set()
    try:
        for name, (_, extra) in cases.items():
            run = tmp_path / name
            argv = train_argv(data_dir, run, STEPS, *exact, *extra)
            procs[name] = spawn(argv, tmp_path / f"{name}.log")
        delays = {name: rng.uniform(0.0, 0.5) for name in cases}
        seen: dict[str, float] = {}
        deadline = time.monotonic() + 240
        while len(codes) < len(procs) and time.monotonic() < deadline:
            for name, proc in procs.items():
                if name in codes:
                    continue
                if proc.poll() is not None:
                    codes[name] = proc.returncode
                elif name not in seen and list((tmp_path / name).glob("ckpt-*.index")):
                    seen[name] = time.monotonic()  # training runs: the seeded delay starts
                elif name in seen and name not in signaled:
                    if time.monotonic() - seen[name] >= delays[name]:
                        proc.send_signal(getattr(signal, name))
                        signaled.add(name)
            time.sleep(0.02)
        assert len(codes) == len(procs), f"runs did not end in time: {codes}"
        for name, code in codes.items():
            err = (tmp_path / f"{name}.log").read_text()
            assert name in signaled, f"{name}: the run ended before its seeded moment"
            assert code == cases[name][0], (name, code, err[-2000:])
            if name != "SIGKILL":
                one_line_error(err, f"interrupted by {name} at step", "checkpoint saved")
        ref = tmp_path / "ref"
        assert main(train_argv(data_dir, ref, STEPS, *exact)) == 0  # uninterrupted
        for name in cases:
            run = tmp_path / name
            assert main(train_argv(data_dir, run, STEPS, *exact)) == 0  # resumes
            same_tensors(tensors(run / f"ckpt-{STEPS}"), tensors(ref / f"ckpt-{STEPS}"))
    finally:
        for proc in procs.values():
            end(proc)
