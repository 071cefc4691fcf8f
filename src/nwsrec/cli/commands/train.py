"""``nwsrec train --model NAME [--dims search_result.json]``: train at fixed widths.

Without --dims every slot has its largest candidate size (full width). With --dims (the
search_result.json of `nwsrec search`), each slot gets its chosen size and size-0 slots
are dropped. Reports test AUC, log loss and the table memory plan; writes params.json,
checkpoints and TensorBoard event files into --model-dir (default runs/<model>/train).
Rerunning the same command resumes from the last checkpoint.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Adds the ``train`` sub-command."""
    from nwsrec.training.runs import add_run_arguments

    parser = subparsers.add_parser(
        "train",
        help="train at fixed widths (full width, or the sizes of a search result)",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run_arguments(parser)
    parser.add_argument("--dims", metavar="FILE", help="search_result.json of `nwsrec search`")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Trains, evaluates and prints the report and memory plan; returns the exit status."""
    from nwsrec.training.runs import format_report, params_from_args, run_train

    cls, params, model_dir = params_from_args(args, "train")
    report = run_train(cls, params, model_dir, dims_path=args.dims, progress=not args.no_progress)
    print(format_report(report, "train"))
    print()
    print(report.memory_plan.format_table(max_tables=20))
    return 0
