"""``nwsrec plan --model NAME [--dims FILE]``: the embedding-table memory plan of a model.

Prints one line per table (rows, dim, padded dim, optimizer, parameter copies, bytes) and
the three totals: raw, padded to multiples of 8, and padded with every table charged the
largest parameter-copy count.

--dims takes the JSON written by `nwsrec search`, {"slots": {"<slot_id>": {"size": N}}};
the sizes reach the model as params["slot_dims"] = {slot_id: N} (a model that does not
use them ignores them); --budget F takes the frontier point within F x full width's
parameters instead. --search plans the search's own tables (the supernet, whose layout
is param supernet_layout: "nested" = full width, "separate" = the sum of the candidates).
The params are resolved as for `nwsrec train` (--data-dir, --param KEY=VALUE), but only
the vocab file has to exist.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from nwsrec.machine import available_memory, format_bytes

__all__ = ["register", "run"]


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
    parser.add_argument(
        "--search",
        action="store_true",
        help="plan the search's tables (the supernet: param supernet_layout) instead",
    )
    parser.add_argument(
        "--budget",
        type=float,
        metavar="F",
        help="with --dims: the frontier point within F x full width's parameters",
    )
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the model and print its memory plan; return the exit status."""
    from nwsrec import model_imports
    from nwsrec.cli.errors import CommandError
    from nwsrec.runs import parse_param_overrides, resolve_config
    from nwsrec.search.result import read_search_dims

    if args.max_tables is not None and args.max_tables < 0:
        raise ValueError(f"`--max-tables` must be >= 0. Received: --max-tables={args.max_tables}")
    overrides = parse_param_overrides(args.param)
    if args.vocab_file is not None:
        overrides["vocab_file_path"] = args.vocab_file
    try:
        model_class, config = resolve_config(
            args.model, overrides, data_dir=args.data_dir, check_data=False
        )
    except model_imports.ModelImportError as err:
        raise CommandError(str(err)) from err
    if args.budget is not None and args.dims is None:
        raise ValueError(f"`--budget` needs `--dims`. Received: --budget {args.budget}")
    changes: dict[str, Any] = {}
    if args.dims is not None:
        changes["slot_dims"] = read_search_dims(args.dims, budget=args.budget)
    if args.search:
        changes["search"] = True
    model = model_class(config.replace(**changes) if changes else config)
    plan = model.table_memory_plan()
    found = available_memory()
    if args.json:
        machine = None if found is None else {"available_bytes": found[0], "source": found[1]}
        print(json.dumps({"model": args.model, **plan.to_dict(), "machine": machine}, indent=2))
    else:
        print(f"Embedding-table memory plan of {args.model}")
        print()
        print(plan.format_table(max_tables=args.max_tables))
        if found is not None:
            fits = "fit" if plan.build_bytes <= found[0] else "do NOT fit"
            print(
                f"\nthis machine: {format_bytes(found[0])} available ({found[1]}): the tables "
                f"({format_bytes(plan.build_bytes)} to build) {fits}"
            )
    return 0
