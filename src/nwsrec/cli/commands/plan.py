"""``nwsrec plan --model NAME [--dims FILE]``: the embedding-table memory plan of a model.

Prints one line per table (rows, dim, padded dim, optimizer, parameter copies, bytes) and
the three totals: raw, padded to multiples of 8, and padded with every table charged the
largest parameter-copy count.

--dims takes the JSON written by `nwsrec search`, {"slots": {"<slot_id>": {"size": N}}};
the sizes reach the model as params["slot_dims"] = {slot_id: N} (a model that does not
use them ignores them). The params are resolved as for `nwsrec train` (--data-dir,
--param KEY=VALUE), but only the vocab file has to exist.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

__all__ = ["read_slot_dims", "register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``plan`` sub-command to ``subparsers``."""
    parser = subparsers.add_parser(
        "plan",
        help="print the embedding-table memory plan of a model",
        description=(__doc__ or "").partition("\n\n")[2] or None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, metavar="NAME", help="a registered model")
    parser.add_argument(
        "--dims",
        metavar="FILE",
        help='search result JSON {"slots": {"<slot_id>": {"size": N}}}, given to the model '
        'as params["slot_dims"]',
    )
    parser.add_argument(
        "--data-dir", help="data directory (default: the model's data_dir), as for `train`"
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a param (value read as JSON when it parses); repeatable",
    )
    parser.add_argument(
        "--vocab-file", metavar="FILE", help='override the model\'s params["vocab_file_path"]'
    )
    parser.add_argument(
        "--max-tables",
        type=int,
        metavar="N",
        help="print at most N table lines (the totals cover every table)",
    )
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.set_defaults(func=run)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_slot_dims(path: str | os.PathLike[str]) -> dict[int, int]:
    """``{slot_id: size}`` from a search-result JSON file.

    Args:
        path: a file holding ``{"slots": {"<slot_id>": {"size": N, ...}, ...}, ...}``;
            other keys are ignored.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: naming the file (and slot), for invalid JSON, a missing ``slots``
            object, a slot id that is not a non-negative integer, or a missing or
            negative ``size``.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "dims.json"
        >>> _ = path.write_text('{"slots": {"3": {"size": 8}, "5": {"size": 0}}}')
        >>> read_slot_dims(path)
        {3: 8, 5: 0}
    """
    path = os.fspath(path)
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
        if not _is_int(size) or size < 0:
            raise ValueError(
                f"{path}: slot {key} must have a non-negative integer `size`. "
                f"Received: size={size!r}"
            )
        dims[int(key)] = size
    return dims


def run(args: argparse.Namespace) -> int:
    """Build the model and print its memory plan; return the exit status."""
    from nwsrec import model_imports
    from nwsrec.cli.main import CommandError
    from nwsrec.training.runs import parse_param_overrides, resolve_params

    if args.max_tables is not None and args.max_tables < 0:
        raise ValueError(f"`--max-tables` must be >= 0. Received: --max-tables={args.max_tables}")
    overrides = parse_param_overrides(args.param)
    if args.vocab_file is not None:
        overrides["vocab_file_path"] = args.vocab_file
    try:
        model_class, params = resolve_params(
            args.model, overrides, data_dir=args.data_dir, check_data=False
        )
    except model_imports.ModelImportError as err:
        raise CommandError(str(err)) from err
    if args.dims is not None:
        params["slot_dims"] = read_slot_dims(args.dims)
    model = model_class(params)
    plan = model.table_memory_plan()
    if args.json:
        print(json.dumps({"model": args.model, **plan.to_dict()}, indent=2))
    else:
        print(f"Embedding-table memory plan of {args.model}")
        print()
        print(plan.format_table(max_tables=args.max_tables))
    return 0
