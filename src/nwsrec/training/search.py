"""The result of an embedding-width search: ``search_result.json`` and ``search.png``.

``search_result.json``::

    {"model": NAME, "step": 3000,
     "slots": {"<slot>": {"size": 8, "candidates": [0, 4, 8, 16],
                          "probabilities": [0.01, 0.2, 0.7, 0.09]}, ...}}

``size`` is the slot's chosen width, by the run's ``width_selection``:

- ``"argmax"`` (the seed's decision): the argmax of the architecture weights
  (``MixedEmbedOpComb.chosen_embedding_sizes``); ``"selection": {"method": "argmax"}``.
- ``"holdout"``: picked on held-out records (:mod:`nwsrec.training.select`); every slot
  then also has ``"holdout_loss"`` (the held-out log loss at each candidate) and
  ``"selection"`` holds the method, tolerance, examples, and the held-out log loss at
  full width and at the chosen widths.

The file is what ``nwsrec train --dims`` and ``nwsrec plan --dims`` read.

``search.png``: one small panel per slot with the chosen size in its title, and a bar
chart of the chosen sizes. A slot's panel shows its choice probabilities over the steps
(from ``nws_history.jsonl``); after a held-out selection it shows instead how much
higher the held-out log loss is at each candidate than at the slot's best one, with
the tolerance drawn as a line (a size at or under the line could be chosen).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from nwsrec.training.summaries import write_json_atomic

__all__ = ["SEARCH_PLOT", "SEARCH_RESULT", "plot_search", "search_result", "write_search_result"]

SEARCH_RESULT = "search_result.json"
SEARCH_PLOT = "search.png"


def search_result(
    nws_layers: Sequence[Any],
    step: int,
    model_name: str | None = None,
    selection: Any = None,
) -> dict[str, Any]:
    """The search result of the NWS layers of a model, as written to ``search_result.json``.

    Args:
        nws_layers: the model's ``MixedEmbedOpComb`` layers.
        step: the global step of the search.
        model_name: the registered model name, recorded in the result.
        selection: a :class:`nwsrec.training.select.Selection` (held-out selection), or
            None for the layers' argmax.

    Returns:
        ``{"model", "step", "selection", "slots": {slot: {"size", "candidates",
        "probabilities"[, "holdout_loss"]}}}``.

    Example:
        >>> search_result([], 0)["slots"]
        {}
    """
    slots: dict[str, Any] = {}
    for layer in nws_layers:
        config = layer.get_config()
        chosen = layer.chosen_embedding_sizes()
        probabilities = layer.choice_probabilities()
        for name, candidates in zip(
            config["slot_names"], config["embedding_size_choices_list"], strict=True
        ):
            entry = {
                "size": int(chosen[name]),
                "candidates": [int(c) for c in candidates],
                "probabilities": [float(p) for p in probabilities[name]],
            }
            if selection is not None:
                entry["size"] = int(selection.sizes[str(name)])
                entry["holdout_loss"] = [float(x) for x in selection.losses[str(name)]]
            slots[str(name)] = entry
    method: dict[str, Any] = {"method": "argmax"}
    if selection is not None:
        method = {
            "method": "holdout",
            "tolerance": selection.tolerance,
            "num_examples": selection.num_examples,
            "full_width_loss": selection.base_loss,
            "chosen_loss": selection.final_loss,
        }
    return {"model": model_name, "step": int(step), "selection": method, "slots": slots}


def write_search_result(path: str, result: Mapping[str, Any]) -> str:
    """Writes a search result as JSON (atomically) and returns the path.

    Args:
        path: target file, e.g. ``{model_dir}/search_result.json``.
        result: from :func:`search_result`.
    """
    write_json_atomic(path, result)
    return path


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
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}.png"
    figure.savefig(tmp, dpi=90)
    os.replace(tmp, path)
    return path
