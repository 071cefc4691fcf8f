"""``nwsrec train --model NAME [--dims search_result.json]``: train at fixed widths.

Without --dims every slot has its largest candidate size (full width). With --dims (the
search_result.json of `nwsrec search`), each slot gets its chosen size and size-0 slots
are dropped; with --dims and --budget F (or --max-bytes N), the sizes of the search's
frontier point of lowest held-out loss within F x full width's embedding parameters.
Reports test AUC, log loss and the table memory plan; writes params.json, checkpoints
and TensorBoard event files into --model-dir (default runs/<model>/train).
Rerunning the same command resumes from the last checkpoint.

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
    add_strategy_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Trains, evaluates and prints the report and memory plan; returns the exit status."""
    from nwsrec.cli.args import params_from_args
    from nwsrec.cli.report import format_params, format_report
    from nwsrec.runs import default_model_dir, run_train
    from nwsrec.training.distributed import run_task

    def train(task_model_dir: str, strategy: Any, restore_dir: str) -> Any:
        cls, params, _ = params_from_args(args, "train")
        return run_train(
            cls,
            params,
            task_model_dir,
            dims_path=args.dims,
            budget=args.budget,
            max_bytes=args.max_bytes,
            progress=not args.no_progress,
            strategy=strategy,
            restore_dir=restore_dir,
        )

    if args.list_params:
        print(format_params(args.model))
        return 0
    # The strategy comes first: TensorFlow must not run anything before it exists.
    model_dir = args.model_dir or default_model_dir(args.model, "train")
    done = run_task(getattr(args, "strategy", "auto"), model_dir, train)
    if done is None or not done[1]:  # a serving task, or a worker that is not the chief
        return 0
    report = done[0]
    print(format_report(report, "train"))
    print()
    print(report.memory_plan.format_table(max_tables=20))
    return 0
