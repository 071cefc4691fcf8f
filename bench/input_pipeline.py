"""Benchmark of the input pipeline: ``make_input_fn`` vs a bare TFRecord reader.

Data: 200k examples with 26 slots of 1-3 ids each (uniform in [0, 2**20)) and a label,
in 8 uncompressed TFRecord files, written into a temporary directory at run time.

Every row is one full pass over all the files with a fresh dataset, drained inside a
``tf.function`` (as the trainer consumes it), best of ``--rounds`` passes; the variants
take turns within each round so that all of them see the same machine load. Columns:

- ``ex/s``: examples per wall-clock second, and ``ratio`` to the bare pipeline.
- ``ex/cpu-s``: examples per CPU-second of this process (all threads), and its ratio: a
  parallel stage may gain wall time while costing CPU that training needs.

Baseline ("bare"): ``TFRecordDataset(files) -> batch(1024) -> map(parse_example)``.
``input_fn`` rows use the real ``make_input_fn`` (feature map of the 26 slots + label,
two slices per slot so every slot is copied once, ids modulo ``vocab_size_per_slot``),
changing one knob at a time from the defaults. Placement rows are hand-built variants of
the same pipeline. Pre-scan rows time ``check_files`` (what ``skip_corrupt_files`` and
``check_files=True`` pay once per input_fn call) against one default pass.

Run: ``.venv/bin/python bench/input_pipeline.py`` (``--rounds``, ``--examples``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from nwsrec.data.pipeline import (  # noqa: E402
    DEFAULT_PARAMS,
    check_files,
    make_input_fn,
    post_process_example,
)
from nwsrec.data.writer import (  # noqa: E402
    ShardedExampleWriter,
    join_features,
    serialize_example,
    serialize_feature,
)

NUM_SLOTS = 26
WIDTH = 62  # of the first table column
BATCH = 1024
AUTOTUNE = tf.data.AUTOTUNE


# ------------------------------------------------------------------------------ data


def generate(out_dir: str, num_examples: int, num_files: int, seed: int = 0) -> list[str]:
    """Write the benchmark data; return the file paths.

    Each slot's id list is drawn from a pool of 4096 random lists, each serialized once
    by ``serialize_feature`` and joined per row by ``join_features`` (the way
    ``nwsrec convert`` reuses encoded cells): ordinary tf.train.Example records.
    """
    rng = np.random.default_rng(seed)
    pool_size = 4096
    pools = [
        [
            serialize_feature(
                f"slot_{s}_0", rng.integers(0, 1 << 20, size=rng.integers(1, 4)).tolist()
            )
            for _ in range(pool_size)
        ]
        for s in range(NUM_SLOTS)
    ]
    labels = [serialize_feature("label", float(y)) for y in (0, 1)]
    picks = rng.integers(0, pool_size, size=(num_examples, NUM_SLOTS)).tolist()
    clicks = (rng.random(num_examples) < 0.25).astype(int).tolist()
    rows = []
    with ShardedExampleWriter(out_dir, prefix="bench", num_shards=num_files) as writer:
        for i in range(num_examples):
            entries = [pools[s][k] for s, k in enumerate(picks[i])]
            record = join_features([*entries, labels[clicks[i]]])
            writer.write_serialized(record)
            if i < 3:
                rows.append(record)
    # The assembled records parse like rows serialized directly.
    for record in rows:
        example = tf.train.Example.FromString(record)
        row = {k: list(v.int64_list.value) for k, v in example.features.feature.items()}
        row["label"] = example.features.feature["label"].float_list.value[0]
        assert tf.train.Example.FromString(serialize_example(row)) == example
    return list(writer.paths)


# ------------------------------------------------------------------------------ pipelines


FEATURE_MAP = {f"slot_{s}_0": tf.io.VarLenFeature(tf.int64) for s in range(NUM_SLOTS)}
FEATURE_MAP["label"] = tf.io.FixedLenFeature([], tf.float32)
SLOT_TO_DIMS = {s: [1, 8] for s in range(NUM_SLOTS)}
VOCAB = 100_000


def bare(files: list[str]) -> tf.data.Dataset:
    dataset = tf.data.TFRecordDataset(files).batch(BATCH)
    return dataset.map(lambda x: tf.io.parse_example(x, FEATURE_MAP))


def input_fn_dataset(pattern: str, **overrides: object) -> Callable[[], tf.data.Dataset]:
    params = {"batch_size": BATCH, "vocab_size_per_slot": VOCAB, **overrides}
    input_fn = make_input_fn(
        pattern, feature_map=FEATURE_MAP, slot_to_dims=SLOT_TO_DIMS, params=params, repeat=False
    )
    return lambda: input_fn(tf.distribute.InputContext())


def _post(features: dict) -> dict:
    return post_process_example(features, SLOT_TO_DIMS, VOCAB)


def parse_then_post_in_two_maps(files: list[str]) -> tf.data.Dataset:
    dataset = tf.data.TFRecordDataset(files).batch(BATCH, drop_remainder=True)
    dataset = dataset.map(lambda x: tf.io.parse_example(x, FEATURE_MAP)).map(_post)
    return dataset.prefetch(AUTOTUNE)


def parse_per_example_then_batch(files: list[str]) -> tf.data.Dataset:
    dataset = tf.data.TFRecordDataset(files)
    dataset = dataset.map(lambda x: _post(tf.io.parse_single_example(x, FEATURE_MAP)))
    return dataset.batch(BATCH, drop_remainder=True).prefetch(AUTOTUNE)


def parse_only(files: list[str]) -> tf.data.Dataset:
    dataset = tf.data.TFRecordDataset(files).batch(BATCH, drop_remainder=True)
    return dataset.map(lambda x: tf.io.parse_example(x, FEATURE_MAP)).prefetch(AUTOTUNE)


# ------------------------------------------------------------------------------ timing


@tf.function
def _drain(dataset: tf.data.Dataset) -> tf.Tensor:
    count = tf.constant(0, tf.int64)
    for batch in dataset:
        count += tf.shape(batch["label"], out_type=tf.int64)[0]
    return count


def _drain_in_python(dataset: tf.data.Dataset) -> int:
    return sum(int(batch["label"].shape[0]) for batch in dataset)


def time_pass(make: Callable[[], tf.data.Dataset], python_loop: bool = False) -> tuple:
    """(examples, wall seconds, CPU seconds) of one pass over a fresh dataset."""
    dataset = make()
    wall, cpu = time.perf_counter(), time.process_time()
    count = _drain_in_python(dataset) if python_loop else int(_drain(dataset))
    return count, time.perf_counter() - wall, time.process_time() - cpu


class Row:
    def __init__(self, name: str, make: Callable[[], tf.data.Dataset], python_loop=False):
        self.name, self.make, self.python_loop = name, make, python_loop
        self.best_wall = self.best_cpu = 0.0
        self.examples = 0

    def run(self) -> None:
        count, wall, cpu = time_pass(self.make, self.python_loop)
        self.examples = count
        self.best_wall = max(self.best_wall, count / wall)
        self.best_cpu = max(self.best_cpu, count / max(cpu, 1e-9))


def run_rows(rows: list[Row], rounds: int) -> None:
    for row in rows:  # trace the drain function once per element structure, untimed
        if not row.python_loop:
            _drain(row.make().take(1))
    for round_index in range(rounds):
        for row in rows if round_index % 2 == 0 else rows[::-1]:
            row.run()


def print_table(title: str, rows: list[Row], base: Row) -> None:
    print(f"\n{title}")
    print(
        f"{'pipeline':{WIDTH}s} {'examples':>8s} {'ex/s':>9s} {'ratio':>6s} "
        f"{'ex/cpu-s':>9s} {'ratio':>6s}"
    )
    for row in rows:
        print(
            f"{row.name:{WIDTH}s} {row.examples:8d} {row.best_wall:9.0f} "
            f"{row.best_wall / base.best_wall:6.2f} {row.best_cpu:9.0f} "
            f"{row.best_cpu / base.best_cpu:6.2f}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n\n")[0])
    parser.add_argument("--examples", type=int, default=200_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="nwsrec-bench-") as out_dir:
        start = time.perf_counter()
        files = generate(out_dir, args.examples, args.files)
        size = sum(os.path.getsize(f) for f in files) / 2**20
        print(
            f"data: {args.examples} examples, {NUM_SLOTS} slots of 1-3 ids, {args.files} "
            f"files, {size:.0f} MiB, written in {time.perf_counter() - start:.1f}s; "
            f"batch {BATCH}; {os.cpu_count()} CPUs; best of {args.rounds} passes"
        )
        print(f"input_fn defaults: {dict(DEFAULT_PARAMS)}")
        pattern = os.path.join(out_dir, "*.tfrecord")
        base = Row("bare: TFRecordDataset->batch(1024)->parse_example", lambda: bare(files))
        default = Row("input_fn (defaults)", input_fn_dataset(pattern))
        sweep = [
            ("cycle_length=2", {"cycle_length": 2}),
            ("cycle_length=4", {"cycle_length": 4}),
            ("cycle_length=2, num_parallel_calls=2", {"cycle_length": 2, "num_parallel_calls": 2}),
            (
                "cycle_length=2, num_parallel_calls=AUTOTUNE, nondet",
                {"cycle_length": 2, "num_parallel_calls": AUTOTUNE, "deterministic": False},
            ),
            ("parse_num_parallel_calls=2", {"parse_num_parallel_calls": 2}),
            ("parse_num_parallel_calls=AUTOTUNE", {"parse_num_parallel_calls": AUTOTUNE}),
            (
                "parse_num_parallel_calls=AUTOTUNE, nondet",
                {"parse_num_parallel_calls": AUTOTUNE, "deterministic": False},
            ),
            (
                "seed: cycle 2, interleave+parse AUTOTUNE, nondet",
                {
                    "cycle_length": 2,
                    "num_parallel_calls": AUTOTUNE,
                    "parse_num_parallel_calls": AUTOTUNE,
                    "deterministic": False,
                },
            ),
        ]
        sweep_rows = [
            Row(f"input_fn {name}", input_fn_dataset(pattern, **params)) for name, params in sweep
        ]
        placement = [
            default,
            Row(
                "placement: parse, then post-process in a 2nd map",
                lambda: parse_then_post_in_two_maps(files),
            ),
            Row("placement: parse only, no post-processing", lambda: parse_only(files)),
        ]
        rows = [base, default, *sweep_rows, *placement[1:]]
        run_rows(rows, args.rounds)
        print_table(
            "Sweep (one knob at a time from the defaults; consumer: tf.function)",
            [base, default, *sweep_rows],
            base,
        )
        print_table("Placement of parsing and post-processing", [base, *placement], base)

        per_example = Row(
            "placement: parse_single_example per record, then batch (1 file)",
            lambda: parse_per_example_then_batch(files[:1]),
        )
        run_rows([per_example], 1)
        print_table(
            "Per-example parsing (one file; a rate, compare ex/s)", [base, per_example], base
        )

        py_base = Row("bare, drained by a Python for-loop", lambda: bare(files), python_loop=True)
        py_default = Row(
            "input_fn (defaults), drained by a Python for-loop", default.make, python_loop=True
        )
        run_rows([py_base, py_default], max(1, args.rounds - 1))
        print_table(
            "Python for-loop consumer (every tensor becomes an EagerTensor)",
            [py_base, py_default],
            py_base,
        )

        pass_wall = default.examples / default.best_wall
        pass_cpu = default.examples / default.best_cpu
        print(f"\nPre-scans of the {len(files)} files (once per input_fn call, cached per file)")
        print(f"{'scan':44s} {'wall s':>7s} {'x pass':>7s} {'cpu s':>7s} {'x pass':>7s}")
        for name, kwargs in (
            ("records only (skip_corrupt_files=True)", {}),
            ("records + feature map (check_files=True)", {"feature_map": FEATURE_MAP}),
        ):
            best_wall = best_cpu = float("inf")
            for _ in range(2):
                wall, cpu = time.perf_counter(), time.process_time()
                problems = check_files(files, **kwargs)
                best_wall = min(best_wall, time.perf_counter() - wall)
                best_cpu = min(best_cpu, time.process_time() - cpu)
                assert not problems, problems
            print(
                f"{name:44s} {best_wall:7.2f} {best_wall / pass_wall:7.2f} "
                f"{best_cpu:7.2f} {best_cpu / pass_cpu:7.2f}"
            )
        print(f"(one default pass: {pass_wall:.2f} s wall, {pass_cpu:.2f} s CPU)")
        print(
            f"\ninput_fn / bare: {default.best_wall / base.best_wall:.2f} in ex/s, "
            f"{default.best_cpu / base.best_cpu:.2f} in ex/cpu-s (goal >= 0.9)"
        )


if __name__ == "__main__":
    main()
