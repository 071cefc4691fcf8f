"""Import model modules by dotted name, so that their ``@register`` decorators run.

A model is named by a dotted path ending with its class name. ``import_params`` imports the
module part of such a name; the registry (:mod:`nwsrec.registry`) then finds the class.
Two spellings are understood:

- the full module path: ``nwsrec.tasks.synthetic.params.params.SyntheticModel`` imports
  ``nwsrec.tasks.synthetic.params.params``;
- the short form relative to the task root, without the ``params`` package:
  ``synthetic.params.SyntheticModel`` imports ``nwsrec.tasks.synthetic.params.params``
  because ``synthetic`` is one of the task dirs (``{task_root}.{task}.params.{rest}``).

Both are tried, in that order. A module that does not exist is a *miss*: it is logged and
the call returns ``False`` (or raises ``LookupError`` with ``require_success=True``). A
module that exists but fails while importing (its own missing dependency, a syntax error,
any exception) is a :class:`ModelImportError` that carries the cause: it is never taken
for a miss.

Third-party packages add models without any configuration by declaring entry points in
the group ``nwsrec.models`` (see :func:`import_plugins`)::

    [project.entry-points."nwsrec.models"]
    acme = "acme_recs.models"

Example:
    >>> from nwsrec.model_imports import import_params
    >>> import_params("synthetic.params.SyntheticModel")  # doctest: +SKIP
    True
"""

from __future__ import annotations

import importlib
import importlib.metadata
import keyword
import logging
import sys
from collections.abc import Sequence

__all__ = [
    "DEFAULT_TASK_DIRS",
    "DEFAULT_TASK_ROOT",
    "ENTRY_POINT_GROUP",
    "ImportAllParams",
    "ImportParams",
    "ModelImportError",
    "candidate_modules",
    "import_all_params",
    "import_params",
    "import_plugins",
    "validate_dotted_name",
]

logger = logging.getLogger(__name__)

DEFAULT_TASK_ROOT = "nwsrec.tasks"
"""The package under which the built-in tasks live (``nwsrec/tasks/<task>/params/``)."""

DEFAULT_TASK_DIRS: tuple[str, ...] = ("synthetic", "movielens", "ctr", "criteo_synth")
"""The built-in tasks: sub-packages of :data:`DEFAULT_TASK_ROOT`."""

ENTRY_POINT_GROUP = "nwsrec.models"
"""The entry-point group through which installed distributions contribute models."""


class ModelImportError(ImportError):
    """A model module exists but failed while importing; ``__cause__`` is the original error."""


def validate_dotted_name(value: object, arg: str, *, min_parts: int = 1) -> str:
    """Check that ``value`` is a dotted Python identifier and return it.

    Args:
        value: the name to check, e.g. ``"synthetic.params.SyntheticModel"``.
        arg: the argument name used in the error message.
        min_parts: the least number of dot-separated parts the name must have.

    Returns:
        ``value`` unchanged.

    Raises:
        ValueError: ``value`` is not a string, is a file path, has an empty part (``..``,
            a leading or trailing dot), a part that is not an identifier or is a keyword,
            or fewer than ``min_parts`` parts.

    Example:
        >>> validate_dotted_name("synthetic.params.SyntheticModel", "model_name")
        'synthetic.params.SyntheticModel'
    """
    if not isinstance(value, str):
        raise ValueError(f"`{arg}` must be a dotted Python name (a str). Received: {arg}={value!r}")
    parts = value.split(".")
    bad = [p for p in parts if not p.isidentifier() or keyword.iskeyword(p)]
    if bad:
        raise ValueError(
            f"`{arg}` must be a dotted Python name such as 'synthetic.params.SyntheticModel'"
            f" (identifiers joined by single dots: no file path, no '..', no empty part);"
            f" {bad[0]!r} is not an identifier. Received: {arg}={value!r}"
        )
    if len(parts) < min_parts:
        raise ValueError(
            f"`{arg}` must have at least {min_parts} dot-separated parts, e.g."
            f" 'synthetic.params.SyntheticModel' (module path, then the class name)."
            f" Received: {arg}={value!r}"
        )
    return value


def _validate_task_args(task_root: object, task_dirs: object) -> tuple[str, tuple[str, ...]]:
    validate_dotted_name(task_root, "task_root")
    if isinstance(task_dirs, str) or not isinstance(task_dirs, Sequence):
        raise ValueError(
            "`task_dirs` must be a sequence of task names such as ('synthetic',"
            f" 'movielens'). Received: task_dirs={task_dirs!r}"
        )
    for task in task_dirs:
        validate_dotted_name(task, "task_dirs")
    return task_root, tuple(task_dirs)  # type: ignore[return-value]


def _is_target_or_parent(missing: str | None, module_path: str) -> bool:
    """Whether the module named in a ModuleNotFoundError is the target or one of its parents."""
    if not missing:
        return False
    return module_path == missing or module_path.startswith(missing + ".")


def _import(module_path: str) -> bool:
    """Import one module; ``False`` when it does not exist, ``ModelImportError`` when broken."""
    if module_path.split(".")[0] in sys.stdlib_module_names:
        # The standard library holds no model; importing e.g. `this` has side effects.
        logger.debug("not importing %r: a standard-library module holds no model", module_path)
        return False
    logger.debug("importing model module %r", module_path)
    try:
        importlib.import_module(module_path)
    except ModuleNotFoundError as err:
        if _is_target_or_parent(err.name, module_path):
            logger.debug("model module %r does not exist (%s)", module_path, err)
            return False
        raise ModelImportError(
            f"model module {module_path!r} exists but one of its own imports failed:"
            f" {type(err).__name__}: {err}",
            name=module_path,
        ) from err
    except Exception as err:
        raise ModelImportError(
            f"model module {module_path!r} exists but failed while importing:"
            f" {type(err).__name__}: {err}",
            name=module_path,
        ) from err
    logger.debug("imported model module %r", module_path)
    return True


def candidate_modules(
    model_name: str,
    task_root: str = DEFAULT_TASK_ROOT,
    task_dirs: Sequence[str] = DEFAULT_TASK_DIRS,
) -> list[str]:
    """Return the module paths :func:`import_params` tries for ``model_name``, in order.

    Args:
        model_name: a dotted model name, module path then class name.
        task_root: the package holding the task packages.
        task_dirs: the task packages under ``task_root``.

    Returns:
        The module part of ``model_name`` first, then ``{task_root}.{task}.params.{rest}``
        for every task dir that prefixes it (``{task}.{rest}``), without repeats.

    Raises:
        ValueError: ``model_name`` has no dot or is not a dotted identifier, or the task
            arguments are invalid.

    Example:
        >>> candidate_modules("synthetic.params.SyntheticModel")
        ['synthetic.params', 'nwsrec.tasks.synthetic.params.params']
    """
    validate_dotted_name(model_name, "model_name", min_parts=2)
    task_root, task_dirs = _validate_task_args(task_root, task_dirs)
    model_module = model_name.rsplit(".", 1)[0]
    paths = [model_module]
    for task in task_dirs:
        prefix = f"{task}."
        if model_module.startswith(prefix):
            path = f"{task_root}.{task}.params.{model_module[len(prefix) :]}"
            if path not in paths:
                paths.append(path)
    return paths


def import_params(
    model_name: str,
    task_root: str = DEFAULT_TASK_ROOT,
    task_dirs: Sequence[str] = DEFAULT_TASK_DIRS,
    require_success: bool = True,
) -> bool:
    """Import the module that defines ``model_name`` so that its models register.

    Every path of :func:`candidate_modules` is tried.

    Args:
        model_name: a dotted model name, e.g. ``"synthetic.params.SyntheticModel"`` or
            ``"nwsrec.tasks.synthetic.params.params.SyntheticModel"``.
        task_root: the package holding the task packages.
        task_dirs: the task packages under ``task_root``.
        require_success: raise ``LookupError`` when no module was found.

    Returns:
        ``True`` when at least one module was imported, ``False`` when none exists.

    Raises:
        ValueError: ``model_name`` has no dot or is not a dotted identifier.
        LookupError: ``require_success`` and no module exists; lists every path tried.
        ModelImportError: a module exists but failed while importing.

    Example:
        >>> import_params("synthetic.params.SyntheticModel")  # doctest: +SKIP
        True
    """
    paths = candidate_modules(model_name, task_root, task_dirs)
    found = False
    for path in paths:
        found = _import(path) or found
    if not found:
        tried = ", ".join(repr(p) for p in paths)
        logger.info("no module found for model %r; tried %s", model_name, tried)
        if require_success:
            raise LookupError(
                f"`model_name` must name a model in an importable module. Received:"
                f" model_name={model_name!r}; none of these modules exists: {tried}"
            )
    return found


def import_all_params(
    task_root: str = DEFAULT_TASK_ROOT,
    task_dirs: Sequence[str] = DEFAULT_TASK_DIRS,
    require_success: bool = False,
) -> bool:
    """Import ``{task_root}.{task}.params.params`` for every task dir.

    Args:
        task_root: the package holding the task packages.
        task_dirs: the task packages under ``task_root``.
        require_success: raise ``LookupError`` when no module was found.

    Returns:
        ``True`` when at least one module was imported.

    Raises:
        ValueError: invalid ``task_root`` or ``task_dirs``.
        LookupError: ``require_success`` and no module exists; lists every path tried.
        ModelImportError: a module exists but failed while importing.

    Example:
        >>> import_all_params()  # doctest: +SKIP
        True
    """
    task_root, task_dirs = _validate_task_args(task_root, task_dirs)
    paths = [f"{task_root}.{task}.params.params" for task in task_dirs]
    found = False
    for path in paths:
        found = _import(path) or found
    if not found:
        tried = ", ".join(repr(p) for p in paths)
        logger.info("no task params module found; tried %s", tried or "nothing")
        if require_success:
            raise LookupError(
                "`task_dirs` must name at least one task with a params.params module."
                f" Received: task_root={task_root!r}, task_dirs={task_dirs!r}; none of"
                f" these modules exists: {tried or '(no task dirs)'}"
            )
    return found


def import_plugins(group: str = ENTRY_POINT_GROUP) -> list[str]:
    """Load every installed entry point of ``group``; loading imports (and registers) models.

    An entry point's value is a module (``acme_recs.models``) or an object in one
    (``acme_recs.models:AcmeModel``); either way its module is imported.

    Args:
        group: the entry-point group.

    Returns:
        The loaded entry points as ``"name = value"`` strings, sorted.

    Raises:
        ModelImportError: an entry point is declared but cannot be loaded (its module is
            missing or fails while importing); the message names the entry point and the
            distribution that declares it.

    Example:
        >>> import_plugins()  # doctest: +SKIP
        ['acme = acme_recs.models']
    """
    loaded = []
    for ep in sorted(importlib.metadata.entry_points(group=group), key=lambda e: e.name):
        label = f"{ep.name} = {ep.value}"
        dist = ep.dist.name if ep.dist is not None else "an unknown distribution"
        try:
            ep.load()
        except Exception as err:
            raise ModelImportError(
                f"entry point {label!r} of group {group!r} (declared by {dist}) failed to"
                f" load: {type(err).__name__}: {err}",
                name=ep.module,
            ) from err
        logger.debug("loaded model plugin %r from %s", label, dist)
        loaded.append(label)
    return loaded


ImportParams = import_params
"""Alias with the original (Lingvo / Monolith) name."""

ImportAllParams = import_all_params
"""Alias with the original (Lingvo / Monolith) name."""
