"""Text the commands print: a run's report."""

from __future__ import annotations

import json
from typing import Any

from nwsrec import registry
from nwsrec.config import describe
from nwsrec.features import format_bytes
from nwsrec.runs import RunReport

__all__ = ["format_frontier", "format_params", "format_report"]


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
        metric = stopping.get("metric", "log_loss")
        value = stopping.get(f"best_holdout_{metric}")
        shown = "n/a" if value is None else f"{value:.4f}"
        lines.append(
            f"  early stopping: best held-out {metric.replace('_', ' ')} {shown} "
            f"at step {stopping['best_step']} (restored); {how} at step "
            f"{stopping['stopped_step']}, {len(stopping['evaluations'])} evaluations"
        )
    lines.append(f"  curves: tensorboard --logdir {report.model_dir}")
    return "\n".join(lines)


def format_frontier(document: Any, max_rows: int = 12) -> str:
    """The frontier as a table: a few points, the uniform widths, the point taken."""
    points = document["frontier"]
    default = document["default_point"]
    rule = document["rule"]
    shown = sorted(
        {0, len(points) - 1, default}
        | {round(i * (len(points) - 1) / max(1, max_rows - 1)) for i in range(max_rows)}
    )
    lines = [
        f"width frontier: {len(points)} points, {document['num_examples']} held-out examples, "
        f"{document['evaluations']} evaluations (loss difference to full width, 95% CI)",
        f"  {'':2}{'fraction':>9} {'params':>10} {'held-out loss':>14} {'delta':>10} "
        f"{'95% CI':>22}",
    ]
    for i in shown:
        p = points[i]
        mark = "->" if i == default else ""
        lines.append(
            f"  {mark:2}{p['fraction']:9.4f} {p['embedding_parameters']:10d} "
            f"{p['holdout_loss']:14.6f} {p['delta']:+10.6f} "
            f"[{p['ci95'][0]:+.6f}, {p['ci95'][1]:+.6f}]"
        )
    for r in document.get("reference") or []:
        lines.append(
            f"  {'':2}{r['fraction']:9.4f} {r['embedding_parameters']:10d} "
            f"{r['holdout_loss']:14.6f} {r['delta']:+10.6f} "
            f"[{r['ci95'][0]:+.6f}, {r['ci95'][1]:+.6f}]  every slot at {r['width']}"
        )
    p = points[default]
    simple = (
        "; a mixture of widths is taken only when it beats the best uniform width within "
        "the limit with 95% confidence"
    )
    if rule["rule"] == "tolerance":
        why = (
            "the smallest point whose held-out loss is within one standard error plus "
            f"{rule['tolerance']:g} of the best point's"
        )
    elif rule["rule"] == "budget":
        why = (
            f"the lowest held-out loss within {rule['budget']:g} x full width's parameters" + simple
        )
    else:
        why = f"the lowest held-out loss within {rule['max_bytes']} bytes" + simple
    if p.get("uniform") is not None:
        why += f" (every slot at {p['uniform']})"
    lines.append(
        f"taken: point {default} ({p['fraction']:.4f} of full width, "
        f"{p['embedding_parameters']} parameters, delta {p['delta']:+.6f} "
        f"[{p['ci95'][0]:+.6f}, {p['ci95'][1]:+.6f}]): {why}"
    )
    return "\n".join(lines)
