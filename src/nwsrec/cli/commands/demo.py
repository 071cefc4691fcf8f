"""``nwsrec demo``: the main job end to end on the embedded synthetic data.

1. generate the seeded synthetic data (slots with signal of different complexity and
   pure-noise slots; the truth is known);
2. search the width of every slot (``nwsrec search --model synthetic``): the held-out
   loss against embedding parameters (the frontier, frontier.png) and its default point;
3. train the simplest alternatives on the same data and seed: every slot at each
   uniform width, full width included;
4. retrain at the default point and at ``--budget`` (default 0.25) of full width's
   parameters (``nwsrec train --dims ... [--budget F]``), size-0 slots dropped; a point
   with the same widths as a run above is that run, not trained twice;
5. print the comparison (embedding parameters, their fraction of full width, bytes,
   test AUC and log loss), the frontier, the chosen sizes against the truth, and where
   the plots are.

Everything goes under --out (default runs/demo). Rerunning resumes finished steps.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any

__all__ = ["DEMO_NUM_TRAIN", "register", "run"]

DEMO_NUM_TRAIN = 100_000
"""Training examples of the demo's data (the synthetic generator's default is 200,000)."""


def register(subparsers: Any) -> None:
    """Adds the ``demo`` sub-command."""
    parser = subparsers.add_parser(
        "demo",
        help="synthetic data -> search -> retrain -> uniform and full-width baselines -> "
        "comparison",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", default="runs/demo", help="output directory")
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="train every run this many steps (default: the task's, up to 50 passes "
        "stopped at the best held-out AUC)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the data")
    parser.add_argument(
        "--num-train",
        type=int,
        default=DEMO_NUM_TRAIN,
        help=f"training examples (default {DEMO_NUM_TRAIN:,}: the demo's eight trainings "
        "and its search fit in about four minutes on 2 cores)",
    )
    parser.add_argument(
        "--pair-ranks",
        default=None,
        help="ranks of the signal slots, two slots per entry (default 1,1,2,2,4,4,8,8)",
    )
    parser.add_argument("--num-noise-slots", type=int, default=None, help="default 16")
    parser.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="override a param"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=0.25,
        help="also retrain at the frontier point within this fraction of full width's "
        "embedding parameters (default 0.25)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Runs the demo and prints the comparison table; returns the exit status."""
    import dataclasses
    import time

    from nwsrec.cli.report import format_frontier
    from nwsrec.config import RunConfig
    from nwsrec.data.synthetic import SyntheticConfig, generate_synthetic, load_truth
    from nwsrec.runs import (
        parse_param_overrides,
        resolve_params,
        run_search,
        run_train,
        scale_steps,
    )

    began = time.perf_counter()
    data_dir = os.path.join(args.out, "data")
    config = SyntheticConfig(seed=args.seed)
    if args.num_train is not None:
        config = dataclasses.replace(config, num_train=args.num_train)
    if args.num_noise_slots is not None:
        config = dataclasses.replace(config, num_noise_slots=args.num_noise_slots)
    if args.pair_ranks is not None:
        try:
            ranks = tuple(int(r) for r in args.pair_ranks.split(","))
        except ValueError:
            raise ValueError(
                "`--pair-ranks` must be comma-separated integers. "
                f"Received: --pair-ranks {args.pair_ranks!r}"
            ) from None
        config = dataclasses.replace(config, pair_ranks=ranks)
    try:
        truth = load_truth(data_dir)
        if truth.config != config:
            raise FileNotFoundError
    except FileNotFoundError:
        print(f"[1/5] generating synthetic data into {data_dir}", flush=True)
        truth = generate_synthetic(data_dir, config)
    # The search's schedule scales with the steps (the task's ratio of search steps to
    # training steps); params set with --param stay as given.
    overrides = parse_param_overrides(args.param)
    cls, params = resolve_params("synthetic", overrides, data_dir=data_dir)
    if args.steps is not None:
        params = scale_steps(params, args.steps, keep=overrides)
    run_config = RunConfig.from_params(params)
    progress = not args.no_progress
    print("[2/5] searching embedding widths (the held-out loss vs memory frontier)", flush=True)
    searched = run_search(cls, run_config, os.path.join(args.out, "search"), progress=progress)
    from nwsrec.search.result import read_search_dims

    result_path = str(searched.search_result_path)
    slots = sorted(truth.slots)
    trained: dict[tuple[tuple[int, int], ...], Any] = {}

    def train(name: str, dims: Mapping[int, Any], model_dir: str) -> Any:
        """Trains at ``dims``, or returns the run already trained at the same widths."""
        key = tuple(sorted((int(s), int(d)) for s, d in dims.items()))
        if key not in trained:
            trained[key] = run_train(
                cls, run_config.for_training(dict(dims)), model_dir, progress=progress
            )
        else:
            print(f"      {name}: the same widths as a run above", flush=True)
        return trained[key]

    print("[3/5] training the uniform widths (every slot at one width) and full width", flush=True)
    widths = sorted({c for c in run_config.search.candidate_sizes if c > 0})
    uniform_rows = []
    for width in widths:
        name = f"full width ({width})" if width == widths[-1] else f"every slot {width}"
        report = train(
            name, dict.fromkeys(slots, width), os.path.join(args.out, f"uniform-{width}")
        )
        uniform_rows.append((name, report))
    full = uniform_rows[-1][1]
    print("[4/5] retraining at the frontier's default point and at the budget", flush=True)
    rows: list[tuple[str, Any]] = [
        (
            "search, default point",
            train(
                "search, default point",
                read_search_dims(result_path),
                os.path.join(args.out, "retrain"),
            ),
        ),
        (
            f"search, --budget {args.budget:g}",
            train(
                f"search, --budget {args.budget:g}",
                read_search_dims(result_path, budget=args.budget),
                os.path.join(args.out, f"retrain-budget-{args.budget:g}"),
            ),
        ),
        *uniform_rows,
    ]
    print("[5/5] done", flush=True)
    print()
    print(comparison_table(rows, full))
    if searched.frontier is not None:
        print()
        print(format_frontier(searched.frontier))
    print()
    print(sizes_against_truth(searched.slot_dims, truth))
    print()
    if searched.frontier_plot_path:
        print(f"frontier plot: {searched.frontier_plot_path}")
    print(f"search plot: {searched.plot_path}")
    print(f"search result: {searched.search_result_path}")
    print(f"demo finished in {time.perf_counter() - began:.0f} s")
    return 0


def comparison_table(rows: list[tuple[str, Any]], full: Any) -> str:
    """Every model of the demo against full width, as a text table.

    Args:
        rows: ``(name, RunReport)`` of each model, in the order to print.
        full: the full-width model's report (the reference of the fractions and diffs).
    """
    from nwsrec.features import format_bytes

    header = (
        f"{'model':<24}{'emb. params':>13}{'of full':>9}{'bytes':>13}{'test AUC':>10}"
        f"{'AUC diff':>10}{'log loss':>10}"
    )
    lines = [header, "-" * len(header)]
    for name, report in rows:
        fraction = report.embedding_parameters / max(full.embedding_parameters, 1)
        lines.append(
            f"{name:<24}{report.embedding_parameters:>13,}{fraction:>9.3f}"
            f"{format_bytes(report.embedding_bytes):>13}{report.auc:>10.4f}"
            f"{report.auc - full.auc:>+10.4f}{report.log_loss:>10.4f}"
        )
    lines.append(
        "(one seed: on this data a test AUC moves by about 0.005 between seeds; "
        "bench/search_quality.py compares over seeds)"
    )
    return "\n".join(lines)


def sizes_against_truth(sizes: Mapping[int, int | list[int]], truth: Any) -> str:
    """The chosen size of every slot next to its known kind (noise, or signal of rank r)."""
    lines = ["chosen sizes (truth: noise deserves 0, signal of rank r deserves > 0):"]
    wrong = 0
    for slot in sorted(sizes):
        info = truth.slots[slot]
        kind = "noise" if info.kind == "noise" else f"signal rank {info.rank}"
        ok = (sizes[slot] == 0) == (info.kind == "noise")
        wrong += not ok
        lines.append(f"  slot {slot:>3}: {sizes[slot]:>3}   {kind}{'' if ok else '   <- wrong'}")
    lines.append(f"{len(sizes) - wrong}/{len(sizes)} slots on the right side of 0")
    return "\n".join(lines)
