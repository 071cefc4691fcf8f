"""``nwsrec models``: list every registered model with its short name, key and source.

The built-in tasks (:func:`nwsrec.model_imports.import_all_params`) and the entry-point
plugins (group ``nwsrec.models``) are imported first.

Example:
    $ nwsrec models
    NAME                             KEY                          SOURCE
    synthetic.params.SyntheticModel  nwsrec.tasks.synthetic...    src/nwsrec/tasks/...:20
"""

from __future__ import annotations

import argparse
import os


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``models`` sub-command."""
    parser = subparsers.add_parser(
        "models",
        help="list the registered models",
        description=(
            "List every registered model: the built-in tasks and the models of installed"
            " packages that declare entry points in the group 'nwsrec.models'. NAME is what"
            " --model accepts; KEY (the full dotted path) works too."
        ),
    )
    parser.set_defaults(func=run)


def _display_path(path: str) -> str:
    """``path`` relative to the working directory when it lies below it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel == os.pardir or rel.startswith(os.pardir + os.sep) else rel


def run(args: argparse.Namespace) -> int:
    """Import the built-in tasks and plugins, then print one line per model."""
    from nwsrec import model_imports, registry
    from nwsrec.cli.errors import CommandError

    try:
        model_imports.import_all_params(require_success=False)
        plugins = model_imports.import_plugins()
    except model_imports.ModelImportError as err:
        raise CommandError(str(err)) from err
    models = registry.registered_models()
    if not models:
        print(
            "No models registered. Searched task root"
            f" {model_imports.DEFAULT_TASK_ROOT!r} (tasks:"
            f" {', '.join(model_imports.DEFAULT_TASK_DIRS)}) and entry-point group"
            f" {model_imports.ENTRY_POINT_GROUP!r} ({len(plugins)} entry points)."
        )
        return 0
    rows = [("NAME", "KEY", "SOURCE")]
    for model in models:
        source = f"{_display_path(model.source_file)}:{model.source_line}"
        rows.append((model.name, model.key, source))
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    for name, key, source in rows:
        print(f"{name:<{widths[0]}}  {key:<{widths[1]}}  {source}")
    return 0
