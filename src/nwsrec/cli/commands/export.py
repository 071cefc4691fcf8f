"""``nwsrec export --model-dir D --out DIR``: a SavedModel for TF Serving.

Writes DIR/<version>/ (default version: one more than the largest in DIR, else 1), what
`tensorflow_model_server --model_base_path=DIR` serves. Signatures: serving_default
takes serialized tf.Example strings ("examples") and returns "probabilities" (and
"logits"); predict_raw takes one int64 [B, L] tensor per slot (slot_<S>_0, ids padded
with -1). Only the trained widths are saved (a width-0 slot is absent), no optimizer
state; an id outside a table reads its out-of-vocabulary (last) row. Loading needs
TensorFlow only: tf.saved_model.load(DIR/<version>). assets.extra/
tf_serving_warmup_requests holds warm-up requests (PredictionLog records) that TF
Serving runs on load, so the first real request is not the slow one.

Example:
  nwsrec export --model-dir runs/synthetic/train --out exported/synthetic
  saved_model_cli show --dir exported/synthetic/1 --all
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Adds the ``export`` sub-command."""
    parser = subparsers.add_parser(
        "export",
        help="export a trained model as a TensorFlow SavedModel (TF Serving layout)",
        description=(__doc__ or "").split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model-dir", required=True, metavar="DIR", help="a run directory")
    parser.add_argument("--out", required=True, metavar="DIR", help="the model base path")
    parser.add_argument("--version", type=int, metavar="N", help="the version directory")
    parser.add_argument("--overwrite", action="store_true", help="replace DIR/<version>")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exports and prints where, the signatures and the size; returns the exit status."""
    from nwsrec.serving.export import export_saved_model

    result = export_saved_model(
        args.model_dir, args.out, version=args.version, overwrite=args.overwrite
    )
    widths = ", ".join(f"{s}: {'+'.join(map(str, d))}" for s, d in result.slot_dims.items())
    print(f"exported {args.model_dir} (step {result.step}) -> {result.path}")
    print(f"  signatures    {', '.join(result.signatures)}")
    print(
        f"  warm-up       {result.warmup_requests} requests in "
        "assets.extra/tf_serving_warmup_requests (run by TF Serving on load)"
    )
    print(f"  table dims    {widths} (slot: dims of its tables; absent: width 0)")
    print(
        f"  size on disk  {result.bytes_on_disk:,} bytes ({result.bytes_on_disk / 2**20:.2f} MiB)"
    )
    print(f"  load with     tf.saved_model.load({result.path!r})")
    return 0
