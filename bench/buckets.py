"""Frequency buckets on MovieLens-100K: head 16 / tail 4 vs one width per slot, same seeds.

The user (1) and item (2) slots are split into two frequency buckets by their counts in
the training files (``id_buckets=[F]``: the F share of the seen ids that are most frequent
is the head). Every other slot is at width 8 in every configuration. Configurations of
the user and item slots, each trained at fixed widths with the same seeds and steps:

- ``uniform 16``: one table per slot, width 16 (no buckets);
- ``uniform 8``: one table per slot, width 8 (no buckets);
- ``buckets 8/8``: two buckets, both width 8 (the bucket layout alone: separate tables,
  the never-seen ids sharing one row);
- ``buckets 16/4``: head 16, tail 4. With F = 1/3 its user and item tables hold
  16/3 + 4 * 2/3 = 8 values per id: the parameters of ``uniform 8``.

Reported: embedding parameters (every table, biases included), test log loss and test
AUC (the test split is held out of training; nothing is tuned on it), mean over seeds,
and the difference to ``uniform 8`` per seed. Goal: ``buckets 16/4`` has lower test log
loss than ``uniform 8`` at (about) equal parameters, on every seed.

Run: PYTHONPATH=src .venv/bin/python bench/buckets.py [--seeds 2] [--steps 1500]
[--head 0.3333] [--data-dir runs/data/movielens-100k]   (about 1 minute per run on 2 cores)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BUCKETED = (1, 2)
OTHER_WIDTH = 8


def _configs(head: float) -> dict[str, dict]:
    def dims(user_item):
        out = {s: OTHER_WIDTH for s in range(3, 9)}
        out.update({s: user_item for s in BUCKETED})
        return out

    buckets = {"id_buckets": [head], "bucket_slots": list(BUCKETED)}
    return {
        "uniform 16": {"slot_dims": dims(16)},
        "uniform 8": {"slot_dims": dims(8)},
        "buckets 8/8": {**buckets, "slot_dims": dims([8, 8])},
        "buckets 16/4": {**buckets, "slot_dims": dims([16, 4])},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--head", type=float, default=1 / 3)
    parser.add_argument("--data-dir", default="runs/data/movielens-100k")
    args = parser.parse_args(argv)
    if not os.path.exists(os.path.join(args.data_dir, "vocab.tsv")):
        print(f"no MovieLens data in {args.data_dir}: run `nwsrec datasets fetch movielens`")
        return 1

    from nwsrec.runs import resolve_params, run_train

    configs = _configs(args.head)
    results: dict[str, list] = {name: [] for name in configs}
    with tempfile.TemporaryDirectory() as out:
        for seed in range(args.seeds):
            for name, overrides in configs.items():
                cls, params = resolve_params(
                    "movielens", {"seed": seed, "train_steps": args.steps}, data_dir=args.data_dir
                )
                params.update(overrides)
                params["id_counts_file"] = os.path.join(out, "id_counts.npz")
                run_dir = os.path.join(out, f"{name.replace(' ', '_').replace('/', '-')}_{seed}")
                report = run_train(cls, params, run_dir, progress=False)
                results[name].append(report)
                print(
                    f"seed {seed} {name:13s} params {report.embedding_parameters:7d} "
                    f"log loss {report.log_loss:.5f} AUC {report.auc:.5f}",
                    flush=True,
                )

    def mean(values):
        return statistics.mean(values)

    base = results["uniform 8"]
    print()
    print(
        f"MovieLens-100K, {args.seeds} seeds x {args.steps} steps, user/item split at "
        f"head {args.head:.4f}; other slots at width {OTHER_WIDTH}"
    )
    header = (
        f"{'config':13s} {'emb params':>10s} {'test log loss':>13s} {'test AUC':>9s} "
        f"{'dLL vs u8':>10s} {'dAUC vs u8':>10s} {'LL < u8 on every seed':>22s}"
    )
    print(header)
    for name, reports in results.items():
        d_ll = [r.log_loss - b.log_loss for r, b in zip(reports, base, strict=True)]
        d_auc = [r.auc - b.auc for r, b in zip(reports, base, strict=True)]
        better = "-" if name == "uniform 8" else ("yes" if all(d < 0 for d in d_ll) else "no")
        print(
            f"{name:13s} {reports[0].embedding_parameters:10d} "
            f"{mean([r.log_loss for r in reports]):13.5f} {mean([r.auc for r in reports]):9.5f} "
            f"{mean(d_ll):+10.5f} {mean(d_auc):+10.5f} {better:>22s}"
        )
    goal = all(r.log_loss < b.log_loss for r, b in zip(results["buckets 16/4"], base, strict=True))
    print(
        f"goal (buckets 16/4 beats uniform 8 on test log loss, every seed): "
        f"{'met' if goal else 'not met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
