"""Speed-ups of nwsrec's train step at scale, each against the step without it, same run.

The model and data are ``bench/peers.py``'s (S slots, one Zipf id per slot and example, a
16-wide vector and a 1-wide bias table per slot, Adagrad tables, Adam DNN [64], batch 512),
trained by nwsrec's ``Trainer`` from TFRecords; examples/s is the trainer's own figure
(the median of 10-step windows, checkpoint writes excluded). Each row adds one change to
the row above, each run in its own process (so each gets its own allocator, pages and
peak RSS), rows interleaved round by round:

1. ``per-table variables``: one variable per table (``table_groups=false``), each table
   looked up, differentiated and updated on its own: nwsrec before table groups, with the
   earlier changes (system allocator, ids checked once, the unmasked pool gradient, ids
   shared by slot; their own rows are in ``docs/scaling.md``);
2. ``+ table groups``: tables of one width and optimizer share one variable
   (``nwsrec.embedding.collection``): one gather, unique, update and scatter per group
   instead of per table: nwsrec's default;
3. ``+ huge pages (opt-in)``: ``GLIBC_TUNABLES=glibc.malloc.hugetlb=1``, what ``nwsrec
   --hugepages`` restarts itself with where transparent huge pages are in madvise mode.

Tried and not kept: TensorFlow's fused per-table kernel ``ResourceSparseApplyAdagradV2``
instead of gather, math and scatter: 0.93x the examples/s at the criteo scale (3 rounds;
3.8 ms of CPU per step in the kernel against about 2 ms for what it replaced).

Scales: ``demo`` (32 slots x 500 rows), ``26x1e3`` and ``26x1e6`` (26 slots, the same
data, only the vocab file differs: the goal's pair) and ``criteo`` (the 26 Criteo Kaggle
cardinalities, 33.8M rows, 4.3 GiB of tables and accumulators).

Goals, with nwsrec's defaults (row 2): the 1e6-row step <= 1.3x the 1e3-row step; peak RSS at the
criteo scale <= 1.2x the memory plan + 1.5 GiB.

Where the time goes (the profile these changes came from) is printed by ``--profile``:
a TensorFlow profiler trace of 60 steps at the criteo scale, summed per op type.

Run: ``.venv/bin/python bench/speedups.py`` (about 12 minutes on 2 cores; ``--quick``
about 4; ``--scales``, ``--rounds``; ``--profile`` adds the trace).
Output: the table, ``runs/bench/speedups.json`` and ``runs/bench/speedups.png``.
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import peers  # noqa: E402  (bench/peers.py: the model, the data, the worker plumbing)

_MALLOC = {"TF_ONEDNN_USE_SYSTEM_ALLOCATOR": "1"}
VARIANTS = {
    "per-table variables": {**_MALLOC, "BENCH_TABLE_GROUPS": "0"},
    "+ table groups": dict(_MALLOC),
    "+ huge pages (opt-in)": {**_MALLOC, "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"},
}
#: What nwsrec runs with by default: the goals are judged on it.
DEFAULT_VARIANT = "+ table groups"
SCALES = ("demo", "26x1e3", "26x1e6", "criteo")
STEP_GOAL = 1.3
GIB = 1 << 30


def worker(data: str, vocab: str, out: str, warmup: int, seconds: float) -> None:
    """One nwsrec run (in this process, with the environment it was started with)."""
    import nwsrec  # noqa: F401  (before TensorFlow allocates)
    from nwsrec.machine import anon_hugepages_bytes

    timer = peers.Timer(warmup, seconds, 3000)
    result = peers.run_nwsrec(
        data, vocab, timer, table_groups=os.environ.get("BENCH_TABLE_GROUPS") != "0"
    )
    result["anon_hugepages_gib"] = anon_hugepages_bytes() / 2**30
    with open(out, "w") as f:
        json.dump(result, f)


def run_variant(variant: str, data: str, vocab: str, log: str, args: argparse.Namespace) -> dict:
    import subprocess

    out = log + ".json"
    env = {**os.environ, **VARIANTS[variant]}
    if "GLIBC_TUNABLES" not in VARIANTS[variant]:
        env.pop("GLIBC_TUNABLES", None)
    command = [sys.executable, os.path.abspath(__file__), "--worker", data, vocab, out]
    command += [f"--warmup={args.warmup}", f"--seconds={args.seconds}"]
    with open(log, "w") as log_file:
        proc = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0 or not os.path.exists(out):
        return {"error": f"exit status {os.waitstatus_to_exitcode(status)}; see {log}"}
    with open(out) as f:
        result = json.load(f)
    result["peak_rss"] = usage.ru_maxrss * 1024.0
    return result


def profile(data: str, vocab: str, logdir: str, steps: int = 60) -> list[tuple[str, float]]:
    """Per op type: microseconds of CPU per step in the train loop's executor threads."""
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    import nwsrec  # noqa: F401
    import nwsrec.training.trainer as trainer_module

    original = trainer_module.Trainer.train
    calls = [0]

    def train(self, steps=None, file_pattern=None):
        calls[0] += 1
        if calls[0] != 2:
            return original(self, steps, file_pattern)
        tf.profiler.experimental.start(logdir)
        try:
            return original(self, steps, file_pattern)
        finally:
            tf.profiler.experimental.stop()

    trainer_module.Trainer.train = train
    shutil.rmtree(logdir, ignore_errors=True)  # the trace of this run only
    peers.run_nwsrec(data, vocab, peers.Timer(20, 1e-3, steps))
    trainer_module.Trainer.train = original
    space = xplane_pb2.XSpace()
    with open(glob.glob(os.path.join(logdir, "plugins/profile/*/*.xplane.pb"))[0], "rb") as f:
        space.ParseFromString(f.read())
    plane = next(p for p in space.planes if p.name == "/host:CPU")
    by_type: collections.Counter = collections.Counter()
    for line in plane.lines:
        if line.name.startswith("tf_Compute"):
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" in name:  # "scope/op_name:OpType"; the rest are executor frames
                    by_type[name.rsplit(":", 1)[1]] += event.duration_ps
    return [(op, ps / 1e6 / steps) for op, ps in by_type.most_common(15)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="demo and 26x1e3/1e6, 1 round")
    parser.add_argument("--scales", help=f"comma-separated of {','.join(SCALES)}")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the small scales")
    parser.add_argument("--large-rounds", type=int, default=1, help="rounds of 26x1e6, criteo")
    parser.add_argument("--variants", help="comma-separated (default all): " + ",".join(VARIANTS))
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=8.0, help="timed window per run")
    parser.add_argument("--batches", type=int, default=192, help="batches of data per scale")
    parser.add_argument("--profile", action="store_true", help="print the criteo profile")
    parser.add_argument("--work-dir", help="where the data goes (default: a temporary dir)")
    parser.add_argument("--out", default="runs/bench", help="where the JSON and PNG go")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(*args.worker, warmup=args.warmup, seconds=args.seconds)
        return 0
    if args.quick:
        args.rounds, args.seconds, args.warmup = 1, 4.0, 20
    scales = args.scales.split(",") if args.scales else list(SCALES)
    if args.quick and not args.scales:
        scales = ["demo", "26x1e3", "26x1e6"]
    variants = args.variants.split(",") if args.variants else list(VARIANTS)
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variant {unknown[0]!r}; choose from {', '.join(VARIANTS)}")
    work = args.work_dir or tempfile.mkdtemp(prefix="nwsrec-speedups-")
    began = time.time()
    print(f"speed-ups of the nwsrec train step: batch {peers.BATCH}, dim {peers.DIM} + bias "
          f"per slot, Adagrad tables, Adam DNN [{peers.HIDDEN}]; {args.batches} batches of data; "
          f"{os.cpu_count()} cores")  # fmt: skip
    results: dict[str, dict[str, list[dict]]] = {}
    plans: dict[str, int] = {}
    for scale in scales:
        cards = peers.scale_cardinalities("26x1e3" if scale == "26x1e6" else scale)
        data = os.path.join(work, "26x1e3" if scale == "26x1e6" else scale)
        if not os.path.exists(os.path.join(data, "meta.json")):
            peers.generate(data, cards, args.batches * peers.BATCH)
        vocab = os.path.join(data, "vocab.tsv")
        if scale == "26x1e6":
            vocab = os.path.join(data, "vocab_1e6.tsv")
            peers.write_vocab(vocab, [1_000_000] * 26)
        rounds = args.large_rounds if scale in ("criteo", "26x1e6") else args.rounds
        results[scale] = {v: [] for v in variants}
        for round_index in range(rounds):
            order = list(variants)
            order = order[round_index % len(order) :] + order[: round_index % len(order)]
            for variant in order:
                log = os.path.join(work, f"{scale}.{variant.strip('+ ').replace(' ', '_')}"
                                   f".{round_index}.log")  # fmt: skip
                res = run_variant(variant, data, vocab, log, args)
                results[scale][variant].append(res)
                rate = res.get("examples_per_sec")
                print(f"  {scale:<7} {variant:<20} round {round_index}: "
                      + (f"{rate:>9,.0f} examples/s, peak RSS {res['peak_rss'] / GIB:.2f} GiB"
                         if rate else res["error"]), flush=True)  # fmt: skip
                plans[scale] = int(res.get("plan_bytes", 0))
    summary = report(results, plans)
    if args.profile and "criteo" in scales:
        print("\n== profile: 60 steps at the criteo scale (all changes on), CPU us per step")
        for op, us in profile(os.path.join(work, "criteo"),
                              os.path.join(work, "criteo", "vocab.tsv"),
                              os.path.join(work, "trace")):  # fmt: skip
            print(f"  {us:9.1f} us  {op}")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "speedups.json"), "w") as f:
        json.dump({"results": results, "plans": plans, "summary": summary}, f, indent=1)
    plot(summary, os.path.join(args.out, "speedups.png"))
    print(f"\ntotal {time.time() - began:.0f} s; JSON and PNG in {args.out}; logs in {work}")
    return 0


def _median(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if key in r]
    return statistics.median(values) if values else None


def report(results: dict, plans: dict) -> dict:
    summary: dict[str, dict[str, dict]] = {}
    for scale, variants in results.items():
        print(
            f"\n== {scale}" + (f" (plan {plans[scale] / GIB:.2f} GiB)" if plans.get(scale) else "")
        )
        print(f"{'variant':<22}{'examples/s':>12}{'vs row above':>14}{'vs before':>11}"
              f"{'peak RSS':>11}{'huge pages':>12}")  # fmt: skip
        previous = first = None
        summary[scale] = {}
        for variant, runs in variants.items():
            rate = _median(runs, "examples_per_sec")
            rss = _median(runs, "peak_rss")
            huge = _median(runs, "anon_hugepages_gib")
            summary[scale][variant] = {"examples_per_sec": rate, "peak_rss": rss}
            if rate is None:
                print(f"{variant:<22}{'failed':>12}")
                continue
            first = first or rate  # the first variant measured is the base
            step = f"{rate / previous:.2f}x" if previous else "-"
            print(f"{variant:<22}{rate:>12,.0f}{step:>14}{rate / first:>10.2f}x"
                  f"{rss / GIB:>10.2f}G{huge:>11.2f}G")  # fmt: skip
            previous = rate
    measured = list(next(iter(results.values())))
    last = DEFAULT_VARIANT if DEFAULT_VARIANT in measured else measured[-1]
    print()
    if "26x1e3" in summary and "26x1e6" in summary:
        small = summary["26x1e3"][last]["examples_per_sec"]
        large = summary["26x1e6"][last]["examples_per_sec"]
        if small and large:
            ratio = small / large  # step time ratio
            verdict = "met" if ratio <= STEP_GOAL else "NOT met"
            print(f"goal 1e6-row step <= {STEP_GOAL}x the 1e3-row step (26 slots, same data, "
                  f"{last}): {ratio:.2f}x  {verdict}")  # fmt: skip
    if "criteo" in summary and plans.get("criteo"):
        rss = summary["criteo"][last]["peak_rss"]
        before = summary["criteo"].get("per-table variables", {}).get("peak_rss")
        limit = 1.2 * plans["criteo"] + 1.5 * GIB
        if rss:
            was = f"; before: {before / GIB:.2f} GiB" if before else ""
            print(f"goal criteo peak RSS <= 1.2 x plan + 1.5 GiB = {limit / GIB:.2f} GiB: "
                  f"{rss / GIB:.2f} GiB ({rss / plans['criteo']:.2f}x the plan{was})  "
                  f"{'met' if rss <= limit else 'NOT met'}")  # fmt: skip
    return summary


def plot(summary: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scales = list(summary)
    fig, ax = plt.subplots(figsize=(2.2 + 2.0 * len(scales), 3.6))
    variants = list(next(iter(summary.values())))
    width = 0.8 / len(variants)
    for i, variant in enumerate(variants):
        values = []
        for scale in scales:
            first = next(iter(summary[scale].values()))
            base = first["examples_per_sec"] or float("nan")
            rate = summary[scale][variant]["examples_per_sec"] or float("nan")
            values.append(rate / base)
        offset = (i - (len(variants) - 1) / 2) * width
        ax.bar([s + offset for s in range(len(scales))], values, width, label=variant)
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xticks(range(len(scales)), scales)
    ax.set_ylabel(f"examples/s vs {variants[0]!r}")
    ax.set_title("nwsrec train step: each change added to the one before")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
