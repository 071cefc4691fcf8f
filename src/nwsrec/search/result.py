"""The result of an embedding-width search: ``search_result.json`` and ``search.png``.

``search_result.json``::

    {"model": NAME, "step": 3000,
     "slots": {"<slot>": {"size": 8, "candidates": [0, 4, 8, 16],
                          "probabilities": [0.01, 0.2, 0.7, 0.09]}, ...}}

``size`` is the slot's chosen width, by the run's ``width_selection``:

- ``"argmax"`` (the seed's decision): the argmax of the architecture weights
  (``MixedEmbedOpComb.chosen_embedding_sizes``); ``"selection": {"method": "argmax"}``.
- ``"holdout"``: picked on held-out records (:mod:`nwsrec.search.select`); every slot
  then also has ``"holdout_loss"`` (the held-out log loss at each candidate) and
  ``"selection"`` holds the method, tolerance, examples, and the held-out log loss at
  full width and at the chosen widths.

- ``"frontier"``: the held-out loss vs memory frontier (:mod:`nwsrec.search.select`);
  ``"slots"`` holds the sizes of the default point (with each slot's ``"holdout_loss"``
  and ``"holdout_ci95"`` at every candidate, the other slots at the point), the result
  also ``"frontier"`` (every point by embedding parameters ascending:
  ``embedding_parameters``, ``fraction``, ``embedding_bytes``, ``holdout_loss``,
  ``delta`` and ``ci95`` against full width, ``move``, ``step_delta``, ``step_ci95``,
  ``sizes`` by unit) and ``"default_point"`` (its index), and ``"selection"`` the rule
  (``"tolerance"``, ``"budget"`` or ``"max_bytes"``) and how certain the point is
  (``chosen_delta``, ``chosen_ci95``). ``frontier.json`` holds the same frontier and the
  uniform widths measured on the same held-out records (``"reference"``).

The file is what ``nwsrec train --dims`` and ``nwsrec plan --dims`` read
(:func:`read_search_dims`, with ``budget`` / ``max_bytes`` a frontier point).

``search.png`` is drawn from it by :mod:`nwsrec.search.plot`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from nwsrec.checks import is_int
from nwsrec.files import write_json_atomic

logger = logging.getLogger(__name__)

__all__ = [
    "FRONTIER_PLOT",
    "FRONTIER_RESULT",
    "SEARCH_PLOT",
    "SEARCH_RESULT",
    "check_budget",
    "choose_point",
    "frontier_document",
    "frontier_entries",
    "group_unit_sizes",
    "read_search_dims",
    "search_result",
    "write_search_result",
]

SEARCH_RESULT = "search_result.json"
SEARCH_PLOT = "search.png"
FRONTIER_RESULT = "frontier.json"
FRONTIER_PLOT = "frontier.png"


def frontier_entries(frontier: Any) -> list[dict[str, Any]]:
    """The points of a :class:`nwsrec.search.frontier.Frontier`, by parameters ascending.

    Each: ``{"embedding_parameters", "fraction", "embedding_bytes", "holdout_loss",
    "delta", "ci95", "move", "step_delta", "step_ci95", "sizes", "uniform", "vs_best",
    "vs_uniform", "drops"}`` (:meth:`nwsrec.search.frontier.FrontierPoint.entry`).
    """
    return list(frontier.entries())


def frontier_document(frontier: Any, default_point: int, rule: Mapping[str, Any]) -> dict:
    """``frontier.json``: the frontier, the uniform widths, and which point is the default.

    Args:
        frontier: a :class:`nwsrec.search.select.Frontier`.
        default_point: index into the sorted points.
        rule: how the default was chosen (``{"rule": "tolerance", "tolerance": t}``,
            ``{"rule": "budget", "budget": F}`` or ``{"rule": "max_bytes", ...}``).
    """
    return {
        "full_parameters": int(frontier.full_parameters),
        "num_examples": int(frontier.num_examples),
        "evaluations": int(frontier.evaluations),
        "default_point": int(default_point),
        "rule": dict(rule),
        "frontier": frontier_entries(frontier),
        "reference": [
            {**r, "fraction": r["embedding_parameters"] / frontier.full_parameters}
            for r in frontier.reference
        ],
    }


def search_result(
    nws_layers: Sequence[Any],
    step: int,
    model_name: str | None = None,
    selection: Any = None,
    frontier: Mapping[str, Any] | None = None,
    neighbours: Mapping[str, Sequence[Sequence[float]]] | None = None,
) -> dict[str, Any]:
    """The search result of the NWS layers of a model, as written to ``search_result.json``.

    Args:
        nws_layers: the model's ``MixedEmbedOpComb`` layers.
        step: the global step of the search.
        model_name: the registered model name, recorded in the result.
        selection: a :class:`nwsrec.search.select.Selection` (held-out selection), or
            None for the layers' argmax.
        frontier: a :func:`frontier_document` (the frontier selection): the slots then
            get the sizes of its default point, and the result its ``"frontier"`` and
            ``"default_point"``.
        neighbours: ``{unit: [(loss, ci95 low, ci95 high) per candidate]}`` around the
            default point (:func:`nwsrec.search.select.neighbour_losses`), recorded as
            each slot's ``"holdout_loss"`` and ``"holdout_ci95"``.

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
            if frontier is not None:
                point = frontier["frontier"][frontier["default_point"]]
                entry["size"] = int(point["sizes"][str(name)])
            if neighbours is not None and str(name) in neighbours:
                entry["holdout_loss"] = [float(r[0]) for r in neighbours[str(name)]]
                entry["holdout_ci95"] = [[float(r[1]), float(r[2])] for r in neighbours[str(name)]]
            _put_unit(slots, str(name), entry)
    method: dict[str, Any] = {"method": "argmax"}
    if selection is not None:
        method = {
            "method": "holdout",
            "tolerance": selection.tolerance,
            "num_examples": selection.num_examples,
            "full_width_loss": selection.base_loss,
            "chosen_loss": selection.final_loss,
        }
    out = {"model": model_name, "step": int(step), "selection": method, "slots": slots}
    if frontier is not None:
        default = frontier["default_point"]
        point = frontier["frontier"][default]
        out["selection"] = {
            "method": "frontier",
            **frontier["rule"],
            "num_examples": frontier["num_examples"],
            "evaluations": frontier["evaluations"],
            "full_parameters": frontier["full_parameters"],
            "full_width_loss": point["holdout_loss"] - point["delta"],
            "chosen_loss": point["holdout_loss"],
            "chosen_delta": point["delta"],
            "chosen_ci95": point["ci95"],
            "chosen_fraction": point["fraction"],
        }
        out["frontier"] = frontier["frontier"]
        out["default_point"] = default
    return out


def _put_unit(slots: dict[str, Any], unit: str, entry: dict[str, Any]) -> None:
    """A whole-slot unit is the slot's entry; a bucket unit ``"s:b"`` goes into
    ``slots[s]["buckets"][b]`` (the slot's size: its widest bucket)."""
    slot, sep, bucket = unit.partition(":")
    if not sep:
        slots[unit] = entry
        return
    group = slots.setdefault(slot, {"size": 0, "candidates": entry["candidates"], "buckets": []})
    buckets = group["buckets"]
    index = int(bucket)
    while len(buckets) <= index:
        buckets.append(None)
    buckets[index] = entry
    group["size"] = max(int(b["size"]) for b in buckets if b is not None)


def write_search_result(path: str, result: Mapping[str, Any]) -> str:
    """Writes a search result as JSON (atomically) and returns the path.

    Args:
        path: target file, e.g. ``{model_dir}/search_result.json``.
        result: from :func:`search_result`.
    """
    write_json_atomic(path, result)
    return path


def read_search_dims(
    path: str | os.PathLike[str],
    budget: float | None = None,
    max_bytes: int | None = None,
) -> dict[int, Any]:
    """``{slot_id: size}`` from a ``search_result.json`` (``{"slots": {slot: {"size": N}}}``).

    The one reader of ``--dims`` files (``nwsrec train`` and ``nwsrec plan``). Without a
    budget: the ``"slots"`` sizes (a frontier search's default point). With ``budget=F``
    (and/or ``max_bytes=N``): the frontier point of lowest held-out loss whose embedding
    parameters are at most ``F`` x full width's (whose bytes are at most ``N``). A slot
    split into frequency buckets (units ``"<slot>:<bucket>"``) gets a list of bucket sizes.

    Args:
        path: a file holding ``{"slots": {"<slot_id>": {"size": N, ...}, ...}, ...}``;
            other keys are ignored.
        budget: a fraction of full width's embedding parameters, in ``(0, 1]``.
        max_bytes: the most bytes of the tables (``embedding_bytes`` of the points).

    Raises:
        FileNotFoundError: no such file.
        ValueError: naming the file (and slot), for invalid JSON, a missing ``slots``
            object, a slot id that is not a non-negative integer, or a missing or
            negative ``size``.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "dims.json"
        >>> _ = path.write_text('{"slots": {"3": {"size": 8}, "5": {"size": 0}}}')
        >>> read_search_dims(path)
        {3: 8, 5: 0}
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"`--dims` must name an existing file. Received: --dims {path!r}")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{path}:{err.lineno}:{err.colno}: `--dims` must be a JSON file. Received: {err.msg}"
        ) from None
    if budget is not None or max_bytes is not None:
        return _frontier_dims(path, data, budget, max_bytes)
    slots = data.get("slots") if isinstance(data, dict) else None
    if not isinstance(slots, dict):
        raise ValueError(
            f'{path}: `--dims` must hold an object {{"slots": {{"<slot_id>": {{"size": N}}}}}}. '
            f"Received: slots={slots!r}"
        )
    dims: dict[int, int] = {}
    for key, entry in slots.items():
        if not (key.isascii() and key.isdigit()):
            raise ValueError(
                f"{path}: slot ids must be non-negative integers. Received: slot={key!r}"
            )
        size = entry.get("size") if isinstance(entry, dict) else None
        if not is_int(size) or size < 0:
            raise ValueError(
                f"{path}: slot {key} must have a non-negative integer `size`. "
                f"Received: size={size!r}"
            )
        dims[int(key)] = size
    return dims


def check_budget(budget: Any, max_bytes: Any) -> None:
    """Raises ``ValueError`` for a budget outside ``(0, 1]`` or ``max_bytes`` < 1."""
    if budget is not None and (
        isinstance(budget, bool)
        or not isinstance(budget, int | float)
        or not 0 < float(budget) <= 1
    ):
        raise ValueError(f"`--budget` must be a fraction in (0, 1]. Received: --budget {budget!r}")
    if max_bytes is not None and (not is_int(max_bytes) or max_bytes < 1):
        raise ValueError(
            f"`--max-bytes` must be a positive integer. Received: --max-bytes {max_bytes!r}"
        )


def choose_point(
    points: Sequence[Mapping[str, Any]], budget: float | None, max_bytes: int | None
) -> int:
    """Index of the point a budget takes (:func:`nwsrec.search.frontier.choose_within`):
    the lowest-loss point with ``fraction <= budget`` and bytes <= max_bytes, unless the
    best uniform width within the same limits is not beaten with 95% confidence.

    Raises:
        ValueError: no point fits (the message names the smallest point).
    """
    from nwsrec.search.frontier import choose_within

    check_budget(budget, max_bytes)
    return choose_within(points, budget, max_bytes)


def group_unit_sizes(sizes: Mapping[str, int]) -> dict[int, Any]:
    """``{unit: size}`` -> ``{slot_id: size}``, a bucketed slot's value a list by bucket."""
    out: dict[int, Any] = {}
    buckets: dict[int, dict[int, int]] = {}
    for unit, size in sizes.items():
        slot, sep, bucket = str(unit).partition(":")
        if sep:
            buckets.setdefault(int(slot), {})[int(bucket)] = int(size)
        else:
            out[int(slot)] = int(size)
    for slot_id, by_bucket in buckets.items():
        out[slot_id] = [by_bucket[b] for b in sorted(by_bucket)]
    return dict(sorted(out.items()))


def _frontier_dims(
    path: str, data: Any, budget: float | None, max_bytes: int | None
) -> dict[int, Any]:
    points = data.get("frontier") if isinstance(data, dict) else None
    if not isinstance(points, list) or not points:
        raise ValueError(
            f"{path}: `--budget` / `--max-bytes` need a search result with a frontier "
            '(`nwsrec search` with width_selection=frontier). Received: no "frontier"'
        )
    for i, point in enumerate(points):
        ok = isinstance(point, dict) and all(
            key in point for key in ("fraction", "holdout_loss", "sizes", "embedding_parameters")
        )
        if not ok or not isinstance(point["sizes"], dict):
            raise ValueError(
                f"{path}: frontier point {i} must have fraction, holdout_loss, "
                f"embedding_parameters and sizes. Received: {str(point)[:120]}"
            )
    index = choose_point(points, budget, max_bytes)
    from nwsrec.search.frontier import drop_warnings

    with contextlib.suppress(KeyError, TypeError, ValueError):  # older files lack drops
        for line in drop_warnings(points, index):
            logger.warning("%s: %s", path, line)
    try:
        return group_unit_sizes(points[index]["sizes"])
    except (TypeError, ValueError):
        raise ValueError(
            f"{path}: frontier point {index} must map units '<slot>' or '<slot>:<bucket>' "
            f"to sizes. Received: sizes={points[index]['sizes']!r}"
        ) from None
