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

The file is what ``nwsrec train --dims`` and ``nwsrec plan --dims`` read.

``search.png`` is drawn from it by :mod:`nwsrec.search.plot`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from nwsrec.checks import is_int
from nwsrec.files import write_json_atomic

__all__ = [
    "SEARCH_PLOT",
    "SEARCH_RESULT",
    "read_search_dims",
    "search_result",
    "write_search_result",
]

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
        selection: a :class:`nwsrec.search.select.Selection` (held-out selection), or
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


def read_search_dims(path: str | os.PathLike[str]) -> dict[int, int]:
    """``{slot_id: size}`` from a ``search_result.json`` (``{"slots": {slot: {"size": N}}}``).

    The one reader of ``--dims`` files (``nwsrec train`` and ``nwsrec plan``).

    Args:
        path: a file holding ``{"slots": {"<slot_id>": {"size": N, ...}, ...}, ...}``;
            other keys are ignored.

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
