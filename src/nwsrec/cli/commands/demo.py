"""``nwsrec demo``: the main job end to end on the embedded synthetic data.

1. generate the seeded synthetic data (slots with signal of different complexity and
   pure-noise slots; the truth is known);
2. search the width of every slot (``nwsrec search --model synthetic``);
3. retrain at the found widths, size-0 slots dropped (``nwsrec train --dims ...``);
4. train the full-width baseline (every slot at its largest candidate);
5. print the comparison: embedding parameters, bytes, test AUC and log loss, the chosen
   sizes against the truth, and where the search plot is.

Everything goes under --out (default runs/demo). Rerunning resumes finished steps.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Adds the ``demo`` sub-command."""
    parser = subparsers.add_parser(
        "demo",
        help="synthetic data -> search -> retrain -> full-width baseline -> comparison",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", default="runs/demo", help="output directory")
    parser.add_argument(
        "--steps",
        type=int,
        default=1500,
        help="steps of the retrained and the full-width run (default 1500); the search "
        "runs the synthetic task's multiple of it (3x)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the data")
    parser.add_argument("--num-train", type=int, default=None, help="training examples")
    parser.add_argument(
        "--pair-ranks",
        default=None,
        help="ranks of the signal slots, two slots per entry (default 1,1,2,2,4,4,8,8)",
    )
    parser.add_argument("--num-noise-slots", type=int, default=None, help="default 16")
    parser.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="override a param"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Runs the demo and prints the comparison table; returns the exit status."""
    import dataclasses
    import time

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
        print(f"[1/4] generating synthetic data into {data_dir}", flush=True)
        truth = generate_synthetic(data_dir, config)
    # The search's schedule scales with the steps (the task's ratio of search steps to
    # training steps); params set with --param stay as given.
    overrides = parse_param_overrides(args.param)
    cls, params = resolve_params("synthetic", overrides, data_dir=data_dir)
    params = scale_steps(params, args.steps, keep=overrides)
    progress = not args.no_progress
    print("[2/4] searching embedding widths", flush=True)
    searched = run_search(cls, params, os.path.join(args.out, "search"), progress=progress)
    print("[3/4] retraining at the found widths", flush=True)
    retrained = run_train(
        cls,
        params,
        os.path.join(args.out, "retrain"),
        dims_path=searched.search_result_path,
        progress=progress,
    )
    print("[4/4] training the full-width baseline", flush=True)
    full = run_train(cls, params, os.path.join(args.out, "full"), progress=progress)
    print()
    print(comparison_table(retrained, full))
    print()
    print(sizes_against_truth(searched.slot_dims, truth))
    print()
    print(f"search plot: {searched.plot_path}")
    print(f"search result: {searched.search_result_path}")
    print(f"demo finished in {time.perf_counter() - began:.0f} s")
    return 0


def comparison_table(retrained: Any, full: Any) -> str:
    """The comparison of searched-and-retrained vs full width, as a text table."""
    from nwsrec.features import format_bytes

    rows = [("searched + retrained", retrained), ("full width", full)]
    header = f"{'model':<22}{'emb. params':>14}{'bytes':>14}{'test AUC':>10}{'log loss':>10}"
    lines = [header, "-" * len(header)]
    for name, report in rows:
        lines.append(
            f"{name:<22}{report.embedding_parameters:>14,}"
            f"{format_bytes(report.embedding_bytes):>14}{report.auc:>10.4f}{report.log_loss:>10.4f}"
        )
    ratio = full.embedding_parameters / max(retrained.embedding_parameters, 1)
    lines.append(
        f"embedding parameters: {ratio:.1f}x fewer; AUC difference {retrained.auc - full.auc:+.4f}"
    )
    return "\n".join(lines)


def sizes_against_truth(sizes: dict[int, int], truth: Any) -> str:
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
