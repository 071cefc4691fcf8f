"""``nwsrec search --model NAME``: search the embedding width of every slot.

Trains the model with its neural-width-search layer, evaluates it on the held-out split,
and writes into --model-dir (default runs/<model>/search): search_result.json (the chosen
size and the choice probabilities of every slot, and the step), search.png (each slot's
choice probabilities over the steps and the chosen sizes), params.json, checkpoints and
TensorBoard event files. Rerunning the same command resumes from the last checkpoint.

Then: nwsrec train --model NAME --dims <model-dir>/search_result.json
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Adds the ``search`` sub-command."""
    from nwsrec.training.runs import add_run_arguments

    parser = subparsers.add_parser(
        "search",
        help="search the embedding width of every slot (writes search_result.json)",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Runs the search and prints its result; returns the exit status."""
    from nwsrec.training.runs import format_report, params_from_args, run_search

    cls, params, model_dir = params_from_args(args, "search")
    report = run_search(cls, params, model_dir, progress=not args.no_progress)
    print(format_report(report, "search"))
    print(f"  search result {report.search_result_path}")
    print(f"  plot {report.plot_path}")
    print(f"next: nwsrec train --model {args.model} --dims {report.search_result_path}")
    return 0
