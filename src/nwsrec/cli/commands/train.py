"""``nwsrec train --model NAME [--dims search_result.json]``: train at fixed widths.

Without --dims every slot has its largest candidate size (full width). With --dims (the
search_result.json of `nwsrec search`), each slot gets its chosen size and size-0 slots
are dropped; with --dims and --budget F (or --max-bytes N), the sizes of the search's
frontier point of lowest held-out loss within F x full width's embedding parameters.
With --dims a new run starts from the search's weights (each slot's first columns of its
nested block, and the DNN rows that face them) and fine-tunes (--no-warm-start: from a
fresh initialisation; without the search's directory beside the dims file it trains
from scratch and says so; --warm-start makes that an error). Reports test AUC, log
loss and the table memory plan; writes params.json, checkpoints and TensorBoard event
files into --model-dir (default runs/<model>/train). Rerunning the same command resumes
from the last checkpoint.

On a cluster, start every task with its TF_CONFIG and --strategy (auto: mwms, or ps when
the cluster has ps tasks); only the chief writes into --model-dir and prints the report
(see docs/scaling.md).
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Adds the ``train`` sub-command."""
    from nwsrec.cli.args import add_run_arguments, add_strategy_argument

    parser = subparsers.add_parser(
        "train",
        help="train at fixed widths (full width, or the sizes of a search result)",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run_arguments(parser)
    parser.add_argument("--dims", metavar="FILE", help="search_result.json of `nwsrec search`")
    from nwsrec.cli.args import add_budget_arguments

    add_budget_arguments(parser, "with --dims, the frontier point to train")
    parser.add_argument(
        "--warm-start",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --dims, start from the search's weights and fine-tune (default: on "
        "where the search can be read; --no-warm-start: a fresh initialisation)",
    )
    add_strategy_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Trains, evaluates and prints the report and memory plan; returns the exit status."""
    from nwsrec.cli.args import run_on_cluster
    from nwsrec.cli.report import format_report
    from nwsrec.runs import run_train

    report = run_on_cluster(
        args,
        "train",
        lambda cls, config, model_dir, options: run_train(
            cls,
            config,
            model_dir,
            dims_path=args.dims,
            budget=args.budget,
            max_bytes=args.max_bytes,
            warm_start=args.warm_start,
            **options,
        ),
    )
    if report is None:
        return 0
    print(format_report(report, "train"))
    print()
    print(report.memory_plan.format_table(max_tables=20))
    return 0
