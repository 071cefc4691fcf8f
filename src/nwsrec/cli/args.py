"""Arguments the run commands share, and turning them into a run's params.

Only argparse and constants here: building the parser must not import TensorFlow.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

__all__ = [
    "add_budget_arguments",
    "add_run_arguments",
    "add_strategy_argument",
    "params_from_args",
    "run_on_cluster",
]

from nwsrec.config import STRATEGIES, RunConfig


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the options every run command shares to an ``argparse`` parser.

    ``--model``, ``--param key=value`` (repeatable), ``--steps``, ``--epochs``, ``--batch-size``,
    ``--model-dir`` (default ``runs/<model>/<command>``), ``--data-dir``,
    ``--no-progress``.
    """
    parser.add_argument("--model", required=True, metavar="NAME", help="a registered model")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a param (value read as JSON when it parses); repeatable",
    )
    parser.add_argument("--steps", type=int, help="train to this global step")
    parser.add_argument(
        "--epochs",
        type=float,
        help="train this many passes over the training records (instead of --steps)",
    )
    parser.add_argument("--batch-size", type=int, help="global batch size")
    parser.add_argument("--model-dir", help="output directory (default runs/<model>/<command>)")
    parser.add_argument("--data-dir", help="data directory (default: the model's data_dir)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--list-params",
        action="store_true",
        help="list every param of --model with its default and meaning, then exit",
    )


def params_from_args(args: argparse.Namespace, command: str) -> tuple[type, RunConfig, str]:
    """``(model_class, config, model_dir)`` from the options of :func:`add_run_arguments`:
    the run's typed configuration, resolved once from the command line."""
    from nwsrec.runs import default_model_dir, parse_param_overrides, resolve_config

    overrides = parse_param_overrides(args.param)
    epochs = getattr(args, "epochs", None)
    if epochs is not None:
        if args.steps is not None:
            raise ValueError(
                f"`--epochs` and `--steps` must not both be set. Received: --epochs {epochs} "
                f"--steps {args.steps}"
            )
        overrides["epochs"] = epochs
    cls, config = resolve_config(
        args.model,
        overrides,
        steps=args.steps,
        batch_size=args.batch_size,
        data_dir=args.data_dir,
    )
    if args.steps is not None and config.trainer.epochs is not None:
        config = config.replace(epochs=None)  # --steps: the length in steps, not in epochs
    if command == "search" and args.steps is not None and config.search.search_steps:
        config = config.replace(search_steps=int(args.steps))  # the search's own length
    return cls, config, args.model_dir or default_model_dir(args.model, command)


def add_strategy_argument(parser: argparse.ArgumentParser) -> None:
    """Adds ``--strategy {auto,default,mwms,ps}`` to an ``argparse`` parser."""
    parser.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="auto",
        help="tf.distribute strategy; auto: default without TF_CONFIG, ps for a cluster "
        "with ps tasks, else mwms (see docs/scaling.md)",
    )


def add_budget_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """Adds ``--budget F`` and ``--max-bytes N`` (a point of the width frontier)."""
    parser.add_argument(
        "--budget",
        type=float,
        metavar="F",
        help=f"{what}: the lowest held-out loss with at most F x full width's embedding "
        "parameters (bias and vector tables), 0 < F <= 1",
    )
    parser.add_argument(
        "--max-bytes",
        type=int,
        metavar="N",
        help=f"{what}: the lowest held-out loss with at most N table bytes (optimizer "
        "slots and padding, as `nwsrec plan` counts them)",
    )


def run_on_cluster(
    args: argparse.Namespace,
    command: str,
    run: Callable[[type, RunConfig, str, dict[str, Any]], Any],
) -> Any:
    """Runs a ``search`` or ``train`` command as this task of a (maybe one-process) cluster.

    ``--list-params`` prints the model's params instead. Otherwise the strategy is made
    first (TensorFlow must not run anything before it exists), then ``run(cls, config,
    task_model_dir, options)`` trains, where ``options`` holds ``progress``,
    ``strategy`` and ``restore_dir`` (the chief's model dir).

    Returns:
        The chief's result; None on a serving task, on a worker that is not the chief,
        and after ``--list-params``.
    """
    from nwsrec.cli.report import format_params
    from nwsrec.runs import default_model_dir
    from nwsrec.training.distributed import run_task

    if args.list_params:
        print(format_params(args.model))
        return None

    def task(task_model_dir: str, strategy: Any, restore_dir: str) -> Any:
        cls, config, _ = params_from_args(args, command)
        options = {
            "progress": not args.no_progress,
            "strategy": strategy,
            "restore_dir": restore_dir,
        }
        return run(cls, config, task_model_dir, options)

    model_dir = args.model_dir or default_model_dir(args.model, command)
    done = run_task(getattr(args, "strategy", "auto"), model_dir, task)
    if done is None or not done[1]:  # a serving task, or a worker that is not the chief
        return None
    return done[0]
