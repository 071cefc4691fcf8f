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

__all__ = ["plot_frontier", "plot_search"]


def _slot_order(name: str) -> tuple[int, Any]:
    return (0, int(name)) if name.isdigit() else (1, name)


def _plot_holdout_losses(
    axes: Any, info: Mapping[str, Any], tolerance: float | None, label: bool
) -> None:
    """One slot's held-out loss above its best size, per candidate; the chosen one dark.

    With ``holdout_ci95`` (a frontier search) each bar has the 95% interval of its
    difference to the chosen size as an error bar.
    """
    losses = info["holdout_loss"]
    best = min(losses)
    above = [loss - best for loss in losses]
    colors = ["tab:blue" if c == info["size"] else "lightsteelblue" for c in info["candidates"]]
    positions = range(len(losses))
    errors = None
    if "holdout_ci95" in info:
        chosen_loss = losses[info["candidates"].index(info["size"])]
        centre = [loss - chosen_loss for loss in losses]
        errors = [
            [max(0.0, c - lo) for c, (lo, _) in zip(centre, info["holdout_ci95"], strict=True)],
            [max(0.0, hi - c) for c, (_, hi) in zip(centre, info["holdout_ci95"], strict=True)],
        ]
    axes.bar(positions, above, color=colors, yerr=errors, capsize=2)
    if tolerance is not None:
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
    method = (result.get("selection") or {}).get("method")
    holdout = method in ("holdout", "frontier") and all(
        "holdout_loss" in info for info in result["slots"].values()
    )
    if holdout:
        figure.suptitle(
            f"Width search of {result.get('model') or 'model'}: held-out log loss above "
            f"each slot's best size (step {result['step']}, tolerance "
            f"{result['selection']['tolerance']:g})"
            if method == "holdout"
            else f"Width search of {result.get('model') or 'model'}: held-out log loss of "
            f"each slot's sizes around the chosen point (step {result['step']}, 95% CI)"
        )
    for i, slot in enumerate(slots):
        axes = figure.add_subplot(rows, cols, i + 1)
        info = result["slots"][slot]
        if holdout:
            tolerance = result["selection"]["tolerance"] if method == "holdout" else None
            _plot_holdout_losses(axes, info, tolerance, i == 0)
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


def plot_frontier(document: Mapping[str, Any], path: str, title: str | None = None) -> str:
    """Draws ``frontier.png``: held-out loss against embedding parameters.

    The frontier points (the greedy path and any re-grown points) with the 95% interval
    of their loss difference to full width, every uniform width as a reference point
    measured on the same held-out records, and the default point marked. The left
    panel shows the whole frontier, the right one the points of at least half the
    smallest uniform width's parameters (where the choices are made).

    Args:
        document: ``frontier.json`` (:func:`nwsrec.search.result.frontier_document`).
        path: the PNG to write.
        title: the figure title.

    Returns:
        The path written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11.0, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    reference = document.get("reference") or []
    smallest = min((r["embedding_parameters"] for r in reference), default=0)
    for panel, low in ((1, 0), (2, smallest / 2)):
        axes = figure.add_subplot(1, 2, panel)
        _draw_frontier(axes, document, low)
        if panel == 2:
            axes.set_title("zoom: at least half the smallest uniform width", fontsize=9)
    rule = document.get("rule") or {}
    figure.suptitle(
        title
        or f"Width frontier ({document['num_examples']} held-out examples, default by "
        f"{rule.get('rule', '?')})",
        fontsize=10,
    )
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, dpi=90)
    return path


def _bars(rows: Sequence[Mapping[str, Any]]) -> list[list[float]]:
    return [
        [max(0.0, r["delta"] - r["ci95"][0]) for r in rows],
        [max(0.0, r["ci95"][1] - r["delta"]) for r in rows],
    ]


def _draw_frontier(axes: Any, document: Mapping[str, Any], low: float) -> None:
    """One panel of ``frontier.png``: the points with at least ``low`` parameters."""
    points = [p for p in document["frontier"] if p["embedding_parameters"] >= low]
    # The greedy path only: re-grown points are drawn apart, and the uniform widths (points
    # of the frontier too, move "uniform w") are drawn from the reference list.
    path_points = [p for p in points if not p["move"].startswith(("regrow", "uniform"))]
    grown = [p for p in points if p["move"].startswith("regrow")]
    style = {"capsize": 2, "elinewidth": 0.8}
    axes.errorbar(
        [p["embedding_parameters"] for p in path_points],
        [p["delta"] for p in path_points],
        yerr=_bars(path_points),
        fmt="o-",
        markersize=3,
        linewidth=1.0,
        color="tab:blue",
        label="search frontier (95% CI vs full)",
        **style,
    )
    if grown:
        axes.errorbar(
            [p["embedding_parameters"] for p in grown],
            [p["delta"] for p in grown],
            yerr=_bars(grown),
            fmt="D",
            markersize=5,
            color="tab:green",
            label="re-grown at a budget",
            **style,
        )
    reference = [r for r in document.get("reference") or [] if r["embedding_parameters"] >= low]
    if reference:
        axes.errorbar(
            [r["embedding_parameters"] for r in reference],
            [r["delta"] for r in reference],
            yerr=_bars(reference),
            fmt="s",
            markersize=6,
            color="tab:orange",
            label="every slot at one width",
            **style,
        )
        for r in reference:
            axes.annotate(
                f"{r['width']}",
                (r["embedding_parameters"], r["delta"]),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=7,
                color="tab:orange",
            )
    default = document["frontier"][document["default_point"]]
    if default["embedding_parameters"] >= low:
        axes.plot(
            [default["embedding_parameters"]],
            [default["delta"]],
            marker="*",
            markersize=14,
            color="tab:red",
            linestyle="none",
            label="default point",
        )
    axes.axhline(0.0, color="grey", linewidth=0.8)
    axes.set_xscale("log")
    axes.set_xlabel("embedding parameters (bias and vector tables)")
    axes.set_ylabel("held-out log loss - full width's")
    axes.tick_params(labelsize=7)
    axes.legend(fontsize=7)
