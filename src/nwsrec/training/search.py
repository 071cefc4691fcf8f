"""The result of an embedding-width search: ``search_result.json`` and ``search.png``.

``search_result.json``::

    {"model": NAME, "step": 3000,
     "slots": {"<slot>": {"size": 8, "candidates": [0, 4, 8, 16],
                          "probabilities": [0.01, 0.2, 0.7, 0.09]}, ...}}

``size`` is the slot's argmax choice (``MixedEmbedOpComb.chosen_embedding_sizes``); the
file is what ``nwsrec train --dims`` and ``nwsrec plan --dims`` read.

``search.png``: one small panel per slot with its choice probabilities over the steps
(from ``nws_history.jsonl``) and the chosen size in its title, and a bar chart of the
chosen sizes.
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
    nws_layers: Sequence[Any], step: int, model_name: str | None = None
) -> dict[str, Any]:
    """The search result of the NWS layers of a model, as written to ``search_result.json``.

    Args:
        nws_layers: the model's ``MixedEmbedOpComb`` layers.
        step: the global step of the search.
        model_name: the registered model name, recorded in the result.

    Returns:
        ``{"model", "step", "slots": {slot: {"size", "candidates", "probabilities"}}}``.

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
            slots[str(name)] = {
                "size": int(chosen[name]),
                "candidates": [int(c) for c in candidates],
                "probabilities": [float(p) for p in probabilities[name]],
            }
    return {"model": model_name, "step": int(step), "slots": slots}


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
    for i, slot in enumerate(slots):
        axes = figure.add_subplot(rows, cols, i + 1)
        info = result["slots"][slot]
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
