"""CPU time per train step with 8 slots against 64 (the issue's per-table cost goal).

``SyntheticModel`` in fixed mode (``search=False``): per slot a bias and a 16-wide vector
table, 1e3 ids per slot, batch 512, trained by nwsrec's ``Trainer`` from TFRecords. Each
run is its own process; it trains to step ``--warmup`` (tracing, warm-up), then times
``--steps`` more steps as CPU time of the whole process (``time.process_time``: the
machine is shared, wall time is not a fair figure) and as wall time.

The figure of the goal: 64-slot examples/s over 8-slot examples/s, read as the ratio of
CPU time per step (``cpu_8 / cpu_64``); goal >= 0.35.

What a 64-slot step spends (the profile): the tables' ops run once per group, not per
slot (per slot a few small ops remain: the ids' ``DeserializeSparse`` and
``StridedSlice`` when they are unpacked, and the group layout's scalar adds of row and
segment offsets); the rest grows with the ids: per group a gather of the batch's rows
forward (pooled by a pass-through where each example has one id per slot, else by a
sparse matmul), one ``unique`` shared by the groups of one layout, a sparse-matmul sum of
duplicate rows and a gather and a scatter per optimizer variable in the update, the
DNN's first layer over 64 x 16 inputs, and the input pipeline's ``ParseExampleV2``.
Tried and not kept (measured): ``ResourceScatterSub`` for the ``table - delta``
optimizers instead of gather, subtract and ``ResourceScatterUpdate`` (4-5x the CPU on 22k
rows x 16).

``--profile SLOTS`` instead traces ``--steps`` steps of one run with the TensorFlow
profiler and prints, per op type, the op runs and microseconds of CPU per step in the
executor threads (what is still per slot shows as runs per step growing with the slots).

Run: ``.venv/bin/python bench/slot_scaling.py [--rounds 2] [--steps 400]``;
``--profile 64 --steps 50`` for the profile; ``--src A/src B/src`` measures two source
trees (before and after a change) in turn in each round.
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

GOAL = 0.35
SLOTS = (8, 64)


def _data(root: str, slots: int) -> str:
    from nwsrec.data.synthetic import SyntheticConfig, generate_synthetic

    path = os.path.join(root, f"slots{slots}")
    if not os.path.exists(path):
        noise = slots - 8
        generate_synthetic(
            path,
            SyntheticConfig(
                num_train=60_000,
                num_test=1_000,
                num_files=2,
                pair_ranks=(1, 2, 4, 8),
                num_noise_slots=noise,
                vocab_size=1000,
            ),
        )
    return path


def worker(data: str, warmup: int, steps: int, out: str, profile: str | None = None) -> None:
    """One timed run in this process; writes ``{"cpu_ms", "wall_ms"}`` per step to ``out``
    (with ``profile``, a log dir: the profiler's trace of the timed steps, summed)."""
    import tensorflow as tf

    from nwsrec.tasks.synthetic.params.params import SyntheticModel
    from nwsrec.training.trainer import Trainer

    params = SyntheticModel.resolve_params(
        {
            **SyntheticModel.default_params(),
            "data_dir": data,
            "search": False,
            "candidate_sizes": [16],
            "batch_size": 512,
            "log_every_steps": 1 << 20,
            "checkpoint_every_steps": 1 << 30,
            "early_stopping_patience": 0,
            "seed": 0,
        }
    )
    with tempfile.TemporaryDirectory() as model_dir:
        trainer = Trainer(lambda: SyntheticModel(params), params, model_dir, progress=False)
        trainer.train(steps=warmup)
        if profile:
            tf.profiler.experimental.start(profile)
        cpu, wall = time.process_time(), time.perf_counter()
        trainer.train(steps=warmup + steps)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        if profile:
            tf.profiler.experimental.stop()
    result = {"cpu_ms": 1e3 * cpu / steps, "wall_ms": 1e3 * wall / steps}
    if profile:
        result["ops"] = _read_profile(profile, steps)
    with open(out, "w") as f:
        json.dump(result, f)


def _read_profile(logdir: str, steps: int) -> list[tuple[str, float, float]]:
    """``(op type, runs per step, CPU us per step)`` in the executor threads, by time."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    with open(glob.glob(os.path.join(logdir, "plugins/profile/*/*.xplane.pb"))[0], "rb") as f:
        space.ParseFromString(f.read())
    plane = next(p for p in space.planes if p.name == "/host:CPU")
    time_ps: collections.Counter = collections.Counter()
    runs: collections.Counter = collections.Counter()
    for line in plane.lines:
        if line.name.startswith("tf_Compute"):
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                kind = name.rsplit(":", 1)[1] if ":" in name else "(executor frames)"
                time_ps[kind] += event.duration_ps
                runs[kind] += 1
    return [(k, runs[k] / steps, ps / 1e6 / steps) for k, ps in time_ps.most_common(40)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--data", default=os.path.join(tempfile.gettempdir(), "nwsrec_slots"))
    parser.add_argument("--worker", nargs=2, metavar=("DATA", "OUT"))
    parser.add_argument("--profile", type=int, choices=SLOTS, help="profile one run")
    parser.add_argument(
        "--src",
        nargs="+",
        metavar="DIR",
        help="source trees (each put first on PYTHONPATH), measured in turn in each round",
    )
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker[0], args.warmup, args.steps, args.worker[1])
        return 0
    if args.profile:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "out.json")
            data = _data(args.data, args.profile)
            worker(data, args.warmup, args.steps, out, profile=os.path.join(tmp, "trace"))
            with open(out) as f:
                result = json.load(f)
        print(f"{args.profile} slots: {result['cpu_ms']:.2f} ms CPU per step (profiled)")
        print(f"{'op type':32} {'runs/step':>10} {'us/step':>10}")
        for kind, runs, us in result["ops"]:
            print(f"{kind:32} {runs:10.1f} {us:10.1f}")
        return 0
    trees = args.src or [None]
    results: dict[tuple[str | None, int], list[dict]] = {(t, s): [] for t in trees for s in SLOTS}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for tree in trees:
                env = dict(os.environ)
                if tree is not None:
                    env["PYTHONPATH"] = os.pathsep.join([tree, env.get("PYTHONPATH", "")])
                for slots in SLOTS:
                    out = os.path.join(tmp, "out.json")
                    cmd = [sys.executable, __file__, "--worker", _data(args.data, slots), out]
                    cmd += ["--warmup", str(args.warmup), "--steps", str(args.steps)]
                    subprocess.run(cmd, check=True, env=env)
                    with open(out) as f:
                        results[(tree, slots)].append(json.load(f))
                    name = "" if tree is None else f"{tree}: "
                    print(f"{name}{slots} slots: {results[(tree, slots)][-1]}", flush=True)
    for tree in trees:
        cpu = {s: statistics.median(r["cpu_ms"] for r in results[(tree, s)]) for s in SLOTS}
        ratio = cpu[8] / cpu[64]
        if tree is not None:
            print(f"{tree}:")
        for s in SLOTS:
            rows = ", ".join(f"{r['cpu_ms']:.2f}" for r in results[(tree, s)])
            print(f"{s:>2} slots: CPU ms/step {rows} (median {cpu[s]:.2f})")
        verdict = "met" if ratio >= GOAL else "not met"
        print(f"64 vs 8 slots: {ratio:.2f}x examples/s by CPU time (goal >= {GOAL}: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
