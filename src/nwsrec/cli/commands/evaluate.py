"""``nwsrec evaluate --model-dir D [--files PATTERN]``: metrics on every record.

Restores the newest checkpoint of a `nwsrec train` / `nwsrec search` run (from its
params.json and the model registry) and scores every record of --files (default: the
run's eval_file_pattern), the last partial batch included: AUC, log loss and
calibration (mean prediction / observed click rate; 1.0 is calibrated).

Example:
  nwsrec evaluate --model-dir runs/synthetic/train --files 'data/test-*'
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Adds the ``evaluate`` sub-command."""
    parser = subparsers.add_parser(
        "evaluate",
        help="AUC, log loss and calibration of a trained model on every record",
        description=(__doc__ or "").split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model-dir", required=True, metavar="DIR", help="a run directory")
    parser.add_argument(
        "--files", metavar="PATTERN", help="TFRecord files (default: the run's eval files)"
    )
    parser.add_argument("--batch-size", type=int, default=1024, metavar="N", help="scoring batch")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluates and prints the metrics; returns the exit status."""
    from nwsrec.config import RunConfig
    from nwsrec.serving.model_dir import load_model
    from nwsrec.serving.predict import evaluate_files, graph_rewrites_off

    with graph_rewrites_off():  # one scoring pass: see its docstring
        loaded = load_model(args.model_dir)
        pattern = args.files or RunConfig.from_params(loaded.params).model.eval_file_pattern
        if not pattern:
            raise ValueError(
                "`--files` must be given: the run's params have no eval_file_pattern. "
                "Received: --files None"
            )
        result = evaluate_files(loaded, pattern, batch_size=args.batch_size)
    if args.json:
        print(json.dumps(result.as_dict(), sort_keys=True))
        return 0
    print(f"evaluate {args.model_dir} (step {result.step}) on {pattern}")
    print(f"  examples      {result.num_examples:,} (every record)")
    print(f"  AUC           {result.auc:.4f}")
    print(f"  log loss      {result.log_loss:.4f}")
    print(
        f"  calibration   {result.calibration:.4f} (mean prediction {result.mean_prediction:.4f}"
        f" / observed rate {result.observed_rate:.4f})"
    )
    return 0
