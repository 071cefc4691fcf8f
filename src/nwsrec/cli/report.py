"""Text the commands print: a run's report."""

from __future__ import annotations

import json
from typing import Any

from nwsrec import registry
from nwsrec.config import describe
from nwsrec.features import format_bytes
from nwsrec.runs import RunReport

__all__ = ["format_params", "format_report"]


def format_params(model_name: str) -> str:
    """Every param of a registered model: section, key, default, meaning (``--list-params``).

    Example:
        >>> print(format_params("synthetic").splitlines()[0])  # doctest: +SKIP
        params of model 'synthetic' (set with --param KEY=VALUE):
    """
    rows = describe(registry.get_params(model_name))
    width = max(len(key) for _, key, _, _ in rows)
    lines = [f"params of model {model_name!r} (set with --param KEY=VALUE):"]
    section = None
    for name, key, value, doc in rows:
        if name != section:
            lines.append(f"\n[{name}]")
            section = name
        shown: Any = json.dumps(value) if not isinstance(value, str) else repr(value)
        lines.append(f"  {key:<{width}}  {shown:<14}  {doc}".rstrip())
    return "\n".join(lines)


def format_report(report: RunReport, title: str) -> str:
    """A short text summary of a run for the command line."""
    lines = [
        f"{title}: {report.model_name} at step {report.step} ({report.model_dir})",
        f"  test AUC {report.auc:.4f}  log loss {report.log_loss:.4f}  "
        f"({report.num_examples} examples)",
        f"  embedding parameters {report.embedding_parameters:,}  "
        f"bytes {format_bytes(report.embedding_bytes)} (weights + optimizer slots)",
    ]
    if report.slot_dims:
        sizes = ", ".join(f"{s}:{d}" for s, d in sorted(report.slot_dims.items()))
        lines.append(f"  slot sizes {sizes}")
    selection = report.selection or {}
    if selection.get("method") == "holdout":
        lines.append(
            f"  sizes picked on {selection['num_examples']:,} held-out examples (tolerance "
            f"{selection['tolerance']:g}): held-out log loss {selection['full_width_loss']:.4f} "
            f"at full width, {selection['chosen_loss']:.4f} at these sizes"
        )
    stopping = report.early_stopping or {}
    if stopping.get("best_step") is not None:
        how = "stopped early" if stopping.get("stopped_early") else "trained"
        lines.append(
            f"  early stopping: best held-out log loss {stopping['best_holdout_log_loss']:.4f} "
            f"at step {stopping['best_step']} (restored); {how} at step "
            f"{stopping['stopped_step']}, {len(stopping['evaluations'])} evaluations"
        )
    lines.append(f"  curves: tensorboard --logdir {report.model_dir}")
    return "\n".join(lines)
