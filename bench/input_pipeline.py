"""Benchmark of the input pipeline: ``make_input_fn`` vs a bare TFRecord reader.

Data: 200k examples with 26 slots of 1-3 ids each (uniform in [0, 2**20)) and a label,
in 8 uncompressed TFRecord files, written into a temporary directory at run time.

A pass reads the files once with a fresh dataset, drained inside a ``tf.function`` (as
the trainer consumes it). The development machine is shared (other test runs load its
2 CPUs), so every pass of a pipeline runs right next to a pass of the table's reference
pipeline (its first row) and the ratio of that pair is kept; tables give medians. Columns:

- ``ex/s``: examples per wall-clock second; ``ratio`` to the pass of the table's first
  row in the same pair (median, and the range over pairs, a measure of the noise).
- ``ex/cpu-s``: examples per CPU-second of this process (all threads), and its ratio: a
  parallel stage may gain wall time while costing CPU that training needs.

Baseline ("bare"): ``TFRecordDataset(files) -> batch(1024) -> map(parse_example)``.
``input_fn`` rows use the real ``make_input_fn`` (feature map of the 26 slots + label,
two slices per slot so every slot is copied once, ids modulo ``vocab_size_per_slot`` =
100000: a 64-bit floormod per id, the dearer case; a power of two is a bitwise and).
The sweep changes one knob at a time and compares with the defaults (ratio > 1: the knob
would be a better default); placement rows are hand-built variants of the same pipeline.
Pre-scan rows time ``check_files`` (what ``skip_corrupt_files`` and ``check_files=True``
pay once per input_fn call) against one default pass.

The headline compares ``input_fn`` and bare over all 200k examples; the knob sweep and
placement rows read half the files (``--sweep-files``) to keep the run to a few minutes.

The shuffle table times one pass of the training input (``repeat=True``) in its seeded
order (``shuffle=True``: files in a seeded order per pass, blocks of ``shuffle_block``
records permuted window by window, ``nwsrec.data.shuffle``) against the same input read
in order; goal >= 0.9x. Its rows: the defaults, single records (``shuffle_block=1``, the
order of the previous window shuffle), the file order alone, 4 files read at once, and a
10x larger window. The ratio column is the noise-robust one on a shared machine; the
CPU ratio (ex/cpu-s) is printed beside it.

The one-id table reads data whose 26 slots hold one id in every record (half the
examples, half the files), as its writer records in ``one_id_slots.json``: the defaults
(those slots parsed as one fixed id, ``nwsrec.data.one_id``) against ``one_id_parse=False``
(the same files parsed as lists); goal >= 1.15x in ex/cpu-s. The read and the batching
(about half the pipeline's CPU) are the same in both rows.

Run: ``.venv/bin/python bench/input_pipeline.py`` (``--rounds``, ``--sweep-rounds``,
``--only-shuffle``, ``--only-one-id``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from nwsrec.data.pipeline import (  # noqa: E402
    DEFAULT_PARAMS,
    RecordSplit,
    make_input_fn,
    post_process_example,
)
from nwsrec.data.scan import check_files  # noqa: E402
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
ONE_ID_GOAL = 1.15  # one fixed id per slot vs lists, examples per CPU-second


# ------------------------------------------------------------------------------ data


def generate(
    out_dir: str, num_examples: int, num_files: int, seed: int = 0, one_id: bool = False
) -> list[str]:
    """Write the benchmark data; return the file paths.

    Each slot's id list is drawn from a pool of 4096 random lists, each serialized once
    by ``serialize_feature`` and joined per row by ``join_features`` (the way
    ``nwsrec convert`` reuses encoded cells): ordinary tf.train.Example records. With
    ``one_id`` every list holds one id, as the writer records (``one_id_slots.json``).
    """
    rng = np.random.default_rng(seed)
    pool_size = 4096
    pools = [
        [
            serialize_feature(
                f"slot_{s}_0",
                rng.integers(0, 1 << 20, size=1 if one_id else rng.integers(1, 4)).tolist(),
            )
            for _ in range(pool_size)
        ]
        for s in range(NUM_SLOTS)
    ]
    labels = [serialize_feature("label", float(y)) for y in (0, 1)]
    picks = rng.integers(0, pool_size, size=(num_examples, NUM_SLOTS)).tolist()
    clicks = (rng.random(num_examples) < 0.25).astype(int).tolist()
    rows = []
    declared = list(FEATURE_MAP)[:NUM_SLOTS] if one_id else None
    with ShardedExampleWriter(
        out_dir, prefix="bench", num_shards=num_files, one_id_features=declared
    ) as writer:
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


def input_fn_dataset(
    files: list[str],
    split: RecordSplit | None = None,
    training_batches: int | None = None,
    shuffle: bool = False,
    **overrides: object,
) -> Callable[[], tf.data.Dataset]:
    """A pass of ``make_input_fn``; ``training_batches``: that many batches of the
    repeating training input (``repeat=True``, seeded order with ``shuffle``)."""
    params = {"batch_size": BATCH, "vocab_size_per_slot": VOCAB, **overrides}
    input_fn = make_input_fn(
        files,
        feature_map=FEATURE_MAP,
        slot_to_dims=SLOT_TO_DIMS,
        params=params,
        repeat=training_batches is not None,
        split=split,
        shuffle=shuffle,
    )
    if training_batches is None:
        return lambda: input_fn(tf.distribute.InputContext())
    return lambda: input_fn(tf.distribute.InputContext()).take(training_batches)


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


def split_by_record_filter(files: list[str]) -> tf.data.Dataset:
    """The training part of RecordSplit(10) with a per-record filter before batching."""
    split = RecordSplit(10, held_out=False)
    dataset = tf.data.TFRecordDataset(files).filter(split.keep)
    dataset = dataset.batch(BATCH, drop_remainder=True)
    return dataset.map(lambda x: _post(tf.io.parse_example(x, FEATURE_MAP))).prefetch(AUTOTUNE)


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
    """One pipeline and its passes; ratios are to the baseline pass run next to each."""

    def __init__(self, name: str, make: Callable[[], tf.data.Dataset], python_loop=False):
        self.name, self.make, self.python_loop = name, make, python_loop
        self.rates: list[float] = []  # examples per wall second, one per pass
        self.cpu_rates: list[float] = []  # examples per CPU second
        self.ratios: list[float] = []
        self.cpu_ratios: list[float] = []
        self.examples = 0

    def run(self) -> tuple[float, float]:
        count, wall, cpu = time_pass(self.make, self.python_loop)
        self.examples = count
        self.rates.append(count / wall)
        self.cpu_rates.append(count / max(cpu, 1e-9))
        return self.rates[-1], self.cpu_rates[-1]


def measure(base: Row, rows: list[Row], rounds: int) -> None:
    """Run every row right next to a pass of ``base`` (which first alternates), ``rounds``
    times, keeping the ratio of each pair: both passes of a pair see about the same load
    of this shared machine."""
    for row in [base, *rows]:  # trace the drain function once per element structure
        if not row.python_loop:
            _drain(row.make().take(1))
    for round_index in range(rounds):
        for index, row in enumerate(rows):
            if (round_index + index) % 2 == 0:
                base_rate, base_cpu = base.run()
                rate, cpu = row.run()
            else:
                rate, cpu = row.run()
                base_rate, base_cpu = base.run()
            row.ratios.append(rate / base_rate)
            row.cpu_ratios.append(cpu / base_cpu)


def print_table(title: str, base: Row, rows: list[Row]) -> None:
    print(f"\n{title}")
    print(
        f"{'pipeline':{WIDTH}s} {'examples':>8s} {'ex/s':>8s} {'ratio':>6s} {'(min-max)':>11s} "
        f"{'ex/cpu-s':>8s} {'ratio':>6s}"
    )
    median = statistics.median
    print(
        f"{base.name:{WIDTH}s} {base.examples:8d} {median(base.rates):8.0f} {1:6.2f} {'':11s} "
        f"{median(base.cpu_rates):8.0f} {1:6.2f}"
    )
    for row in rows:
        spread = f"({min(row.ratios):.2f}-{max(row.ratios):.2f})"
        print(
            f"{row.name:{WIDTH}s} {row.examples:8d} {median(row.rates):8.0f} "
            f"{median(row.ratios):6.2f} {spread:>11s} {median(row.cpu_rates):8.0f} "
            f"{median(row.cpu_ratios):6.2f}"
        )


def shuffle_table(files: list[str], args: argparse.Namespace) -> None:
    """The training input in its seeded order vs the same input read in order."""
    batches = args.examples // BATCH  # one pass
    in_order = Row(
        "training input, in order (shuffle=False)", input_fn_dataset(files, None, batches)
    )
    rows = [
        Row(
            f"training input, shuffled (defaults: buffer {DEFAULT_PARAMS['shuffle_buffer']}, "
            f"block {DEFAULT_PARAMS['shuffle_block']})",
            input_fn_dataset(files, None, batches, shuffle=True),
        ),
        Row(
            "training input, shuffled, single records (shuffle_block=1)",
            input_fn_dataset(files, None, batches, shuffle=True, shuffle_block=1),
        ),
        Row(
            "training input, shuffled, file order only (shuffle_buffer=0)",
            input_fn_dataset(files, None, batches, shuffle=True, shuffle_buffer=0),
        ),
        Row(
            "training input, shuffled, 4 files at once (cycle_length=4)",
            input_fn_dataset(files, None, batches, shuffle=True, cycle_length=4),
        ),
        Row(
            "training input, shuffled, shuffle_buffer=100000",
            input_fn_dataset(files, None, batches, shuffle=True, shuffle_buffer=100_000),
        ),
    ]
    measure(in_order, rows, args.rounds)
    print_table(
        f"Shuffled training input vs in order: {batches} batches of the repeating input, "
        f"{args.rounds} pairs",
        in_order,
        rows,
    )
    ratio = statistics.median(rows[0].ratios)
    cpu = statistics.median(rows[0].cpu_ratios)
    verdict = "met" if ratio >= 0.9 else "NOT met"
    print(
        f"shuffled / in order (defaults): {ratio:.2f} in ex/s, {cpu:.2f} in ex/cpu-s (goal "
        f">= 0.9 in ex/s: {verdict}); load average {os.getloadavg()[0]:.1f} at the end"
    )


def one_id_table(args: argparse.Namespace) -> None:
    """Slots of one id per record: parsed as one fixed id (the default where the writer
    recorded it) against the variable-length parse of the same files."""
    with tempfile.TemporaryDirectory(prefix="nwsrec-bench-") as out_dir:
        files = generate(out_dir, args.examples // 2, args.files // 2, one_id=True)
        lists = Row(
            "input_fn, one_id_parse=False (lists)", input_fn_dataset(files, one_id_parse=False)
        )
        fixed = Row("input_fn (defaults: one fixed id per slot)", input_fn_dataset(files))
        measure(lists, [fixed], args.sweep_rounds)
    print_table(
        f"One id per record ({NUM_SLOTS} slots, {args.examples // 2} examples, one_id_slots.json "
        f"written), {args.sweep_rounds} pairs",
        lists,
        [fixed],
    )
    cpu = statistics.median(fixed.cpu_ratios)
    verdict = "met" if cpu >= ONE_ID_GOAL else "NOT met"
    print(
        f"one fixed id / lists: {statistics.median(fixed.ratios):.2f} in ex/s, {cpu:.2f} in "
        f"ex/cpu-s (goal >= {ONE_ID_GOAL} in ex/cpu-s: {verdict})"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n\n")[0])
    parser.add_argument("--examples", type=int, default=200_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5, help="pairs for input_fn vs bare")
    parser.add_argument("--sweep-rounds", type=int, default=3, help="pairs per sweep row")
    parser.add_argument("--sweep-files", type=int, default=4, help="files read by sweep rows")
    parser.add_argument(
        "--only-shuffle", action="store_true", help="only the shuffled-training-input table"
    )
    parser.add_argument("--only-one-id", action="store_true", help="only the one-id table")
    args = parser.parse_args(argv)
    if args.only_one_id:
        one_id_table(args)
        return

    with tempfile.TemporaryDirectory(prefix="nwsrec-bench-") as out_dir:
        start = time.perf_counter()
        files = generate(out_dir, args.examples, args.files)
        size = sum(os.path.getsize(f) for f in files) / 2**20
        print(
            f"data: {args.examples} examples, {NUM_SLOTS} slots of 1-3 ids, {args.files} "
            f"files, {size:.0f} MiB, written in {time.perf_counter() - start:.1f}s; "
            f"batch {BATCH}; {os.cpu_count()} CPUs; load average "
            f"{os.getloadavg()[0]:.1f} at start"
        )
        print(f"input_fn defaults: {dict(DEFAULT_PARAMS)}")
        print(
            "ex/s and ex/cpu-s: medians over passes; ratio: median (and range) over pairs of "
            "a pass and a pass of the table's first row run next to it"
        )

        shuffle_table(files, args)
        if args.only_shuffle:
            return
        one_id_table(args)
        base = Row("bare: TFRecordDataset->batch(1024)->parse_example", lambda: bare(files))
        default = Row("input_fn (defaults)", input_fn_dataset(files))
        measure(base, [default], args.rounds)
        print_table(
            f"input_fn vs bare: {args.examples} examples in {len(files)} files, "
            f"{args.rounds} pairs, consumer: tf.function",
            base,
            [default],
        )

        subset = files[: args.sweep_files]
        sweep = [
            ("vocab_size_per_slot=2**17 (modulo: bitwise and)", {"vocab_size_per_slot": 2**17}),
            ("vocab_size_per_slot=None (no modulo)", {"vocab_size_per_slot": None}),
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
            Row(f"input_fn {name}", input_fn_dataset(subset, **params)) for name, params in sweep
        ]
        placement = [
            Row(
                "placement: parse, then post-process in a 2nd map",
                lambda: parse_then_post_in_two_maps(subset),
            ),
            Row("placement: parse only, no post-processing", lambda: parse_only(subset)),
            Row(
                "split: RecordSplit(10) training part (input_fn: batch, mask, rebatch)",
                input_fn_dataset(subset, split=RecordSplit(10, held_out=False)),
            ),
            Row(
                "split: the same with a per-record filter before batch",
                lambda: split_by_record_filter(subset),
            ),
            Row("bare (no drop_remainder, no prefetch, no post-processing)", lambda: bare(subset)),
        ]
        sweep_base = Row("input_fn (defaults)", input_fn_dataset(subset))
        measure(sweep_base, [*sweep_rows, *placement], args.sweep_rounds)
        print_table(
            f"Knob sweep: one knob changed from the defaults; ratio to the defaults "
            f"({len(subset)} files, {args.sweep_rounds} pairs per row)",
            sweep_base,
            sweep_rows,
        )
        print_table(
            "Placement: defaults parse and post-process each batch in one map; ratio to them",
            sweep_base,
            placement,
        )

        one_file = Row(base.name + " (1 file)", lambda: bare(files[:1]))
        per_example = Row(
            "placement: parse_single_example per record, then batch",
            lambda: parse_per_example_then_batch(files[:1]),
        )
        measure(one_file, [per_example], 1)
        print_table("Per-example parsing (1 file, 1 pair)", one_file, [per_example])

        py_base = Row("bare, drained by a Python for-loop", lambda: bare(files), python_loop=True)
        py_default = Row(
            "input_fn (defaults), drained by a Python for-loop", default.make, python_loop=True
        )
        measure(py_base, [py_default], args.sweep_rounds)
        print_table(
            "Python for-loop consumer (every tensor becomes an EagerTensor)", py_base, [py_default]
        )

        pass_wall = default.examples / statistics.median(default.rates)
        pass_cpu = default.examples / statistics.median(default.cpu_rates)
        print(f"\nPre-scans of the {len(files)} files (once per input_fn call, cached per file)")
        print(f"{'scan':44s} {'wall s':>7s} {'x pass':>7s} {'cpu s':>7s} {'x pass':>7s}")
        for name, kwargs in (
            ("records only (skip_corrupt_files=True)", {}),
            ("records + feature map (check_files=True)", {"feature_map": FEATURE_MAP}),
        ):
            wall, cpu = time.perf_counter(), time.process_time()
            problems = check_files(files, **kwargs)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            assert not problems, problems
            print(
                f"{name:44s} {wall:7.2f} {wall / pass_wall:7.2f} {cpu:7.2f} {cpu / pass_cpu:7.2f}"
            )
        print(f"(one default pass: {pass_wall:.2f} s wall, {pass_cpu:.2f} s CPU)")
        print(
            f"\ninput_fn / bare: {statistics.median(default.ratios):.2f} in ex/s, "
            f"{statistics.median(default.cpu_ratios):.2f} in ex/cpu-s (goal >= 0.9); "
            f"load average {os.getloadavg()[0]:.1f} at the end"
        )


if __name__ == "__main__":
    main()
