"""``nwsrec search --model NAME``: search the embedding width of every slot.

Trains the model with its neural-width-search layer (for the model's search_steps when
it sets them; --steps then sets the search's length), evaluates it on the held-out split,
picks every slot's width (param width_selection: "argmax" of the architecture weights;
"holdout": the smallest width whose log loss on the records held out of the search is
within selection_tolerance of the slot's best; "frontier", the built-in tasks': the
held-out loss against embedding parameters of every choice on a greedy shrinking path,
each slot priced by its rows, written to frontier.json and frontier.png with every
uniform width as a reference; the result is the point within --budget F x full width's
parameters or --max-bytes N, else the smallest point whose loss is, with 95% confidence,
within selection_tolerance of full width's), and writes into --model-dir (default
runs/<model>/search): search_result.json (the chosen size, the choice probabilities and
the held-out loss of each size for every slot, and the step), search.png (per slot: the
held-out loss of each size, or the choice probabilities over the steps; and the chosen
sizes), params.json, checkpoints and TensorBoard event files. Rerunning the same command
resumes from the last checkpoint.

On a cluster, start every task with its TF_CONFIG and --strategy (see docs/scaling.md);
only the chief writes into --model-dir.

Then: nwsrec train --model NAME --dims <model-dir>/search_result.json
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Adds the ``search`` sub-command."""
    from nwsrec.cli.args import add_budget_arguments, add_run_arguments, add_strategy_argument

    parser = subparsers.add_parser(
        "search",
        help="search the embedding width of every slot (writes search_result.json)",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run_arguments(parser)
    add_budget_arguments(parser, "the frontier point taken as the search's result")
    add_strategy_argument(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Runs the search and prints its result; returns the exit status."""
    from nwsrec.cli.args import run_on_cluster
    from nwsrec.cli.report import format_frontier, format_report
    from nwsrec.runs import run_search

    report = run_on_cluster(
        args,
        "search",
        lambda cls, config, model_dir, options: run_search(
            cls, config, model_dir, budget=args.budget, max_bytes=args.max_bytes, **options
        ),
    )
    if report is None:
        return 0
    print(format_report(report, "search"))
    print(f"  search result {report.search_result_path}")
    print(f"  plot {report.plot_path}")
    if report.frontier is not None:
        print(f"  frontier {report.frontier_path}, {report.frontier_plot_path}")
        print(format_frontier(report.frontier))
    print(f"next: nwsrec train --model {args.model} --dims {report.search_result_path}")
    if report.frontier is not None:
        print("  (or --budget F for the frontier point within F x full width's parameters)")
    return 0
