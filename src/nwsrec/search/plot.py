"""``search.png``: what a width search saw, one panel per slot, and the chosen sizes.

A slot's panel shows its choice probabilities over the steps (from
``nws_history.jsonl``); after a held-out selection it shows instead how much higher the
held-out log loss is at each candidate than at the slot's best one, with the tolerance
drawn as a line (a size at or under the line could be chosen).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from nwsrec.files import atomic_path

__all__ = ["plot_search"]


def _slot_order(name: str) -> tuple[int, Any]:
    return (0, int(name)) if name.isdigit() else (1, name)


def _plot_holdout_losses(axes: Any, info: Mapping[str, Any], tolerance: float, label: bool) -> None:
    """One slot's held-out loss above its best size, per candidate; the chosen one dark."""
    losses = info["holdout_loss"]
    best = min(losses)
    above = [loss - best for loss in losses]
    colors = ["tab:blue" if c == info["size"] else "lightsteelblue" for c in info["candidates"]]
    positions = range(len(losses))
    axes.bar(positions, above, color=colors)
    axes.axhline(tolerance, color="tab:red", linewidth=1.0, label="tolerance")
    chosen = info["candidates"].index(info["size"])
    axes.plot([chosen], [0.0], marker="^", color="tab:blue", clip_on=False, label="chosen")
    axes.set_xticks(positions, [str(c) for c in info["candidates"]])
    axes.tick_params(labelsize=7)
    axes.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    axes.yaxis.get_offset_text().set_fontsize(6)
    if label:
        axes.legend(fontsize=6, loc="upper right")


def plot_search(history: Sequence[Mapping[str, Any]], result: Mapping[str, Any], path: str) -> str:
    """Draws ``search.png``: each slot's choice probabilities over the steps, chosen sizes.

    Uses matplotlib's Agg canvas directly (no global backend switch, no display).

    Args:
        history: records of ``nws_history.jsonl`` (``step`` and ``probabilities``).
        result: from :func:`search_result`.
        path: the PNG to write.

    Returns:
        The path written.

    Example:
        >>> plot_search(history, result, "runs/x/search.png")  # doctest: +SKIP
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    slots = sorted(result["slots"], key=_slot_order)
    panels = len(slots) + 1
    cols = min(6, panels)
    rows = math.ceil(panels / cols)
    figure = Figure(figsize=(2.6 * cols, 2.0 * rows + 0.6), layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(
        f"Width search of {result.get('model') or 'model'}: choice probabilities "
        f"over steps (step {result['step']})"
    )
    steps = [r["step"] for r in history]
    holdout = (result.get("selection") or {}).get("method") == "holdout"
    if holdout:
        figure.suptitle(
            f"Width search of {result.get('model') or 'model'}: held-out log loss above "
            f"each slot's best size (step {result['step']}, tolerance "
            f"{result['selection']['tolerance']:g})"
        )
    for i, slot in enumerate(slots):
        axes = figure.add_subplot(rows, cols, i + 1)
        info = result["slots"][slot]
        if holdout:
            _plot_holdout_losses(axes, info, float(result["selection"]["tolerance"]), i == 0)
            axes.set_title(f"slot {slot} -> {info['size']}", fontsize=9)
            continue
        series = [r["probabilities"].get(slot) for r in history]
        for j, size in enumerate(info["candidates"]):
            values = [p[j] if p is not None else float("nan") for p in series]
            axes.plot(steps, values, label=str(size), linewidth=1.2)
        axes.set_ylim(0.0, 1.0)
        axes.set_title(f"slot {slot} -> {info['size']}", fontsize=9)
        axes.tick_params(labelsize=7)
        if i == 0:
            axes.legend(title="size", fontsize=6, title_fontsize=7, loc="upper left")
    axes = figure.add_subplot(rows, cols, panels)
    axes.bar(range(len(slots)), [result["slots"][s]["size"] for s in slots], color="tab:blue")
    axes.set_xticks(range(len(slots)), slots, rotation=90, fontsize=6)
    axes.set_title("chosen sizes", fontsize=9)
    axes.tick_params(labelsize=7)
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, dpi=90)
    return path
