"""Benchmark: train-step time of a 26-slot model against the number of rows per table.

The model: 26 slots, one ``EmbeddingTable`` per slot (dim 16), a batch of 1024 examples with
1-3 ids per slot, the 26 sum-pooled embeddings concatenated into a small dense head
(Dense 64 relu, Dense 1) with a sigmoid cross-entropy loss; one ``tf.function`` step does
the lookups, the gradients, every table's own sparse update and the head's Keras SGD
update. The step is timed with 1e3, 1e5 and 1e6 rows per table (ids uniform over the rows)
for SGD, Adagrad and FTRL tables; the baseline of each optimizer is its 1e3-row model,
measured in the same run, interleaved with the others (round-robin timing blocks, so a
change of machine load hits every case alike). Goal: a ratio <= 1.3 at 1e6 rows.

A control row times the 1e6-row model on ids drawn from [0, 1e3) only: the same work as the
baseline on a table 1000x larger. Its ratio near 1 shows that nothing in a step grows with
the table's rows. What the uniform 1e6 case adds is the batch itself: with uniform ids its
~2048 lookups per table hit ~2045 distinct rows (vs ~870 of 1e3 rows), and they are spread
over gigabytes instead of a cache-resident megabyte, so each update is a cache and TLB miss.

Tables are gigabytes at 1e6 rows, so the script restarts itself with
``GLIBC_TUNABLES=glibc.malloc.hugetlb=1`` (glibc advises its large allocations as
transparent huge pages; fewer TLB misses on random rows) where Linux offers them;
``--no-hugepages`` keeps 4 KiB pages. Wall time is what the goal is judged on; CPU time of
the process is printed too, as it moves less when other processes share the machine.

The other half of issue 3's benchmark (the memory plan of a 10,000-slot model in under
1 s) is ``bench/memory_plan.py``.

Run: ``.venv/bin/python bench/tables.py`` (4-6 minutes on 2 cores; up to ~6 GB of
memory for the 1e6-row FTRL model; each optimizer is timed in its own process). ``--quick``
for a smoke run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from nwsrec.machine import (  # noqa: E402
    HUGEPAGES_TUNABLE,
    anon_hugepages_bytes,
    hugepages_environment,
)

if __name__ == "__main__" and "--no-hugepages" not in sys.argv:
    # glibc reads its tunables at start only: run again with large allocations (the tables)
    # advised as transparent huge pages, where Linux offers them (madvise mode).
    hugepages_env = hugepages_environment()
    if hugepages_env is not None:
        os.execve(sys.executable, [sys.executable, *sys.argv], hugepages_env)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from nwsrec.embedding import EmbeddingTable  # noqa: E402

E = tf.tpu.experimental.embedding

SLOTS = 26
DIM = 16
BATCH = 1024
MAX_IDS = 3
ROWS = (1_000, 100_000, 1_000_000)
GOAL = 1.3
OPTIMIZERS = {
    "SGD": lambda: E.SGD(learning_rate=0.05),
    "Adagrad": lambda: E.Adagrad(learning_rate=0.05),
    "FTRL": lambda: E.FTRL(learning_rate=0.05),
}
# FeatureSlot's default vector initializer; cheaper to fill gigabytes with than a normal.
INITIALIZER = keras.initializers.RandomUniform(-0.001, 0.001)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="steps per timing block")
    parser.add_argument("--rounds", type=int, default=7, help="timing blocks per case")
    parser.add_argument("--quick", action="store_true", help="1e3 and 1e4 rows, 2 rounds")
    parser.add_argument(
        "--child", choices=sorted(OPTIMIZERS), help=argparse.SUPPRESS
    )  # internal: time one optimizer in this process
    parser.add_argument(
        "--no-hugepages",
        action="store_true",
        help=f"do not restart with GLIBC_TUNABLES={HUGEPAGES_TUNABLE} (4 KiB pages)",
    )
    return parser.parse_args(argv)


def make_batches(id_range: int, count: int, seed: int) -> list[tuple[list, tf.Tensor]]:
    """``count`` batches: per slot a SparseTensor [BATCH, MAX_IDS] of 1-3 ids, and labels."""
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(count):
        features = []
        for _ in range(SLOTS):
            lengths = rng.integers(1, MAX_IDS + 1, size=BATCH)
            example = np.repeat(np.arange(BATCH), lengths)
            position = np.concatenate([np.arange(n) for n in lengths])
            indices = np.stack([example, position], axis=1).astype(np.int64)
            values = rng.integers(0, id_range, size=len(example), dtype=np.int64)
            features.append(tf.SparseTensor(indices, values, [BATCH, MAX_IDS]))
        labels = tf.constant(rng.integers(0, 2, size=BATCH).astype(np.float32))
        batches.append((features, labels))
    return batches


def distinct_ids_per_table(batches) -> float:
    """Mean number of distinct ids per table per step: the rows each update touches."""
    counts = [len(np.unique(ids.values.numpy())) for features, _ in batches for ids in features]
    return float(np.mean(counts))


class SlotModel:
    """26 tables + a dense head, trained by one ``tf.function`` step."""

    def __init__(self, rows: int, make_optimizer) -> None:
        self.tables = [
            EmbeddingTable(f"table_{slot}_0", rows, DIM, make_optimizer(), INITIALIZER)
            for slot in range(SLOTS)
        ]
        self.head = keras.Sequential(
            [
                keras.Input((SLOTS * DIM,)),
                keras.layers.Dense(64, activation="relu"),
                keras.layers.Dense(1),
            ]
        )
        self.head_optimizer = keras.optimizers.SGD(0.01)
        self.head_optimizer.build(self.head.trainable_variables)
        spec = tf.SparseTensorSpec([BATCH, MAX_IDS], tf.int64)
        self.step = tf.function(
            self._step,
            input_signature=[[spec] * SLOTS, tf.TensorSpec([BATCH], tf.float32)],
        )

    def _step(self, features: list[tf.SparseTensor], labels: tf.Tensor) -> tf.Tensor:
        head_variables = self.head.trainable_variables
        with tf.GradientTape() as tape:
            pooled = [table.lookup(ids) for table, ids in zip(self.tables, features, strict=True)]
            logits = self.head(tf.concat(pooled, axis=1))[:, 0]
            loss = tf.reduce_mean(
                tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
            )
        grads = tape.gradient(
            loss, [t.variable for t in self.tables] + [v.value for v in head_variables]
        )
        for table, grad in zip(self.tables, grads[:SLOTS], strict=True):
            table.apply_gradient(grad)
        self.head_optimizer.apply_gradients(zip(grads[SLOTS:], head_variables, strict=True))
        return loss


def time_block(model: SlotModel, batches, steps: int) -> tuple[float, float]:
    """(wall, process CPU) seconds per step over ``steps`` steps."""
    wall, cpu = time.perf_counter(), time.process_time()
    loss = None
    for i in range(steps):
        features, labels = batches[i % len(batches)]
        loss = model.step(features, labels)
    loss.numpy()
    return (time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps


def bench_optimizer(name: str, rows_list, steps: int, rounds: int) -> list[dict]:
    """Times every case of one optimizer; returns one result dict per case."""
    base, largest = rows_list[0], rows_list[-1]
    cases = [(rows, rows) for rows in rows_list] + [(largest, base)]  # (rows, id range)
    models, batches = {}, {}
    for rows in rows_list:
        start = time.perf_counter()
        models[rows] = SlotModel(rows, OPTIMIZERS[name])
        print(
            f"  {name}: built {rows:>9,} rows/table in {time.perf_counter() - start:5.1f} s; "
            f"in huge pages: {anon_hugepages_bytes() / 2**30:.1f} GiB",
            flush=True,
        )
    for rows, id_range in cases:
        batches[rows, id_range] = make_batches(id_range, count=8, seed=rows + id_range)
        for features, labels in batches[rows, id_range][:2]:  # trace + warm up
            models[rows].step(features, labels).numpy()
    samples: dict[tuple[int, int], list[tuple[float, float]]] = {case: [] for case in cases}
    for round_index in range(rounds):
        shift = round_index % len(cases)
        for case in cases[shift:] + cases[:shift]:
            samples[case].append(time_block(models[case[0]], batches[case], steps))
    results = []
    for case in cases:
        results.append(
            {
                "optimizer": name,
                "rows": case[0],
                "id_range": case[1],
                "distinct": distinct_ids_per_table(batches[case]),
                "wall": statistics.median(s[0] for s in samples[case]),
                "cpu": statistics.median(s[1] for s in samples[case]),
            }
        )
    for result in results:
        result["wall_ratio"] = result["wall"] / results[0]["wall"]
        result["cpu_ratio"] = result["cpu"] / results[0]["cpu"]
    return results


def _run_child(name: str, args: argparse.Namespace) -> list[dict]:
    """Times one optimizer in a fresh process, so its gigabytes of tables are returned to
    the system before the next optimizer's are built."""
    command = [sys.executable, __file__, "--child", name]
    command += ["--steps", str(args.steps), "--rounds", str(args.rounds)]
    command += ["--quick"] if args.quick else []
    results: list[dict] = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as child:
        for line in child.stdout:
            if line.startswith("RESULT "):
                results.append(json.loads(line[len("RESULT ") :]))
            else:
                print(line, end="", flush=True)
    if child.returncode != 0:
        raise RuntimeError(f"timing {name} failed with exit status {child.returncode}")
    return results


def train_step_section(args: argparse.Namespace) -> bool:
    """Prints the train-step table; returns whether every optimizer meets the goal."""
    rows_list = (1_000, 10_000) if args.quick else ROWS
    rounds = 2 if args.quick else args.rounds
    pages = os.environ.get("GLIBC_TUNABLES") or "unset (4 KiB pages)"
    print(
        f"Train step of a {SLOTS}-slot model (dim {DIM}, batch {BATCH}, 1-{MAX_IDS} ids/slot); "
        f"median of {rounds} blocks x {args.steps} steps; GLIBC_TUNABLES={pages}",
        flush=True,
    )
    results = []
    for name in OPTIMIZERS:
        results += _run_child(name, args)

    largest = rows_list[-1]
    header = (
        f"{'optimizer':<10}{'rows/table':>11}{'ids from':>13}{'distinct ids':>14}"
        f"{'wall ms':>10}{'ratio':>8}{'CPU ms':>10}{'ratio':>8}"
    )
    print()
    print(header)
    print("-" * len(header))
    ok = True
    for r in results:
        control = r["id_range"] != r["rows"]
        ids_from = f"[0, {r['id_range']:.0e})"
        print(
            f"{r['optimizer']:<10}{r['rows']:>11.0e}{ids_from:>13}{r['distinct']:>14.0f}"
            f"{r['wall'] * 1e3:>10.1f}{r['wall_ratio']:>8.2f}"
            f"{r['cpu'] * 1e3:>10.1f}{r['cpu_ratio']:>8.2f}" + ("  control" if control else "")
        )
        if r["rows"] == largest and not control:
            ok &= r["wall_ratio"] <= GOAL
    print()
    print(
        f"ratio = step time / step time of the {rows_list[0]:.0e}-row model; distinct ids = "
        f"mean rows one table's update touches per step; goal: wall ratio <= {GOAL} at "
        f"{largest:.0e} rows: " + ("met" if ok else "NOT met")
    )
    return ok


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tf.random.set_seed(0)
    if args.child:
        rows_list = (1_000, 10_000) if args.quick else ROWS
        rounds = 2 if args.quick else args.rounds
        for result in bench_optimizer(args.child, rows_list, args.steps, rounds):
            print("RESULT " + json.dumps(result), flush=True)
        return 0
    train_step_section(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
