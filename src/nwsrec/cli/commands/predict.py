"""``nwsrec predict --model-dir D --files PATTERN --out FILE``: one score per record.

Writes a TSV with a header: [ID] score [label], one line per record of --files in file
order (the files sorted by name, each record once, none dropped). --id-feature NAME
carries that feature of each record through as the first column (its first value);
label is written when every record has one.

Example:
  nwsrec predict --model-dir runs/synthetic/train --files 'data/test-*' --out scores.tsv
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Adds the ``predict`` sub-command."""
    parser = subparsers.add_parser(
        "predict",
        help="one click probability per record, in file order (TSV)",
        description=(__doc__ or "").split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model-dir", required=True, metavar="DIR", help="a run directory")
    parser.add_argument("--files", required=True, metavar="PATTERN", help="TFRecord files")
    parser.add_argument("--out", required=True, metavar="FILE", help="the TSV to write")
    parser.add_argument("--id-feature", metavar="NAME", help="a feature to carry through")
    parser.add_argument("--batch-size", type=int, default=1024, metavar="N", help="scoring batch")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Scores the records and writes the TSV; returns the exit status."""
    from nwsrec.serving.model_dir import load_model
    from nwsrec.serving.predict import graph_rewrites_off, predict_files, write_predictions

    with graph_rewrites_off():  # one scoring pass: see its docstring
        start = time.perf_counter()
        loaded = load_model(args.model_dir)
        load_seconds = time.perf_counter() - start
        predictions = predict_files(
            loaded, args.files, batch_size=args.batch_size, id_feature=args.id_feature
        )
    write_predictions(predictions, args.out, id_name=args.id_feature)
    print(
        f"{predictions.scores.size:,} scores from {len(predictions.files)} files -> {args.out} "
        f"({predictions.examples_per_sec:,.0f} examples/s, its one trace included; model "
        f"loaded in {load_seconds:.2f} s)",
        file=sys.stdout,
    )
    return 0
