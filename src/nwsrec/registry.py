"""The model registry: model classes found by dotted name.

``@register`` keys a class under two names:

- its full dotted path, module then class name:
  ``nwsrec.tasks.synthetic.params.params.SyntheticModel``;
- for a class under the task root (``nwsrec/tasks/<task>/params/<file>.py``), the short
  form relative to the task root without the ``params`` package:
  ``synthetic.params.SyntheticModel`` (task ``synthetic``, file ``params.py``). A class in
  ``params/ctr.py`` is ``synthetic.ctr.Model``.

The short form keeps the file's name even when that file is ``params.py``: it is the exact
inverse of what :func:`nwsrec.model_imports.import_params` imports, so every short name
loads its module on demand, and ``synthetic.Foo`` stays free for a class defined in the
package ``synthetic/params/__init__.py``. A user who types ``synthetic.SyntheticModel``
gets a ``LookupError`` that suggests ``synthetic.params.SyntheticModel``.

The registry only stores classes; it imports no TensorFlow. Registering the same class
object again is a no-op, and so is re-running a module (``importlib.reload``): the
class re-registered from the same module and file replaces the old one. Any other class
under a taken key is a ``ValueError`` naming both sources.

Example:
    >>> from nwsrec.registry import register, get_class
    >>> @register
    ... class MyModel:
    ...     @classmethod
    ...     def default_params(cls):
    ...         return {"batch_size": 32}
    >>> get_class(f"{MyModel.__module__}.MyModel") is MyModel  # doctest: +SKIP
    True
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, overload

from nwsrec import model_imports
from nwsrec.model_imports import (
    DEFAULT_TASK_DIRS,
    DEFAULT_TASK_ROOT,
    ENTRY_POINT_GROUP,
    validate_dotted_name,
)

__all__ = [
    "RegisterSingleTaskModel",
    "RegisteredModel",
    "all_registered",
    "get_class",
    "get_params",
    "make_data",
    "register",
    "registered_models",
    "short_key",
]

logger = logging.getLogger(__name__)

T = TypeVar("T", bound=type)


@dataclasses.dataclass(frozen=True)
class RegisteredModel:
    """One registered model class.

    Args:
        cls: the model class.
        key: its full dotted path, ``module.ClassName``.
        short_key: the short name relative to the task root, or ``None`` for a class
            outside it.
        source_file: the file the class is defined in (``"<unknown>"`` when there is none).
        source_line: the first line of its definition (its first decorator, else the
            ``class`` statement; ``0`` when unknown).
        alias: an extra plain name given with ``@register(name=...)``, e.g. ``"synthetic"``.
        make_data: the command that makes the model's data (``@register(make_data=...)``),
            named when a run finds no data; None: the generic ``nwsrec convert``.
    """

    cls: type
    key: str
    short_key: str | None
    source_file: str
    source_line: int
    alias: str | None = None
    make_data: str | None = None

    @property
    def name(self) -> str:
        """The name to show a user: the alias, else the short key, else the full key."""
        return self.alias or self.short_key or self.key

    @property
    def keys(self) -> tuple[str, ...]:
        """Every key the class is registered under."""
        return tuple(k for k in (self.key, self.short_key, self.alias) if k is not None)

    @property
    def source(self) -> str:
        """``file:line`` of the class."""
        return f"{self.source_file}:{self.source_line}"


_REGISTRY: dict[str, RegisteredModel] = {}
_LOCK = threading.RLock()


def short_key(module: str, class_name: str, task_root: str = DEFAULT_TASK_ROOT) -> str | None:
    """Return the short key of a class, or ``None`` when its module is not under the root.

    ``{task_root}.{task}.params.{rest}`` gives ``{task}.{rest}.{class_name}``; a module
    directly in ``{task_root}.{task}`` (no ``params`` package) gives
    ``{task}.{class_name}``.

    Args:
        module: the class's module, e.g. ``"nwsrec.tasks.synthetic.params.params"``.
        class_name: the class name.
        task_root: the package holding the task packages.

    Example:
        >>> short_key("nwsrec.tasks.synthetic.params.params", "SyntheticModel")
        'synthetic.params.SyntheticModel'
    """
    prefix = f"{task_root}."
    if not module.startswith(prefix):
        return None
    parts = module[len(prefix) :].split(".")
    if len(parts) >= 2 and parts[1] == "params":
        del parts[1]
    return ".".join([*parts, class_name])


def _source_of(cls: type) -> tuple[str, int]:
    try:
        source_file = inspect.getsourcefile(cls) or inspect.getfile(cls)
    except (OSError, TypeError):
        return "<unknown>", 0
    try:
        line = inspect.getsourcelines(cls)[1]
    except (OSError, TypeError, IndexError):
        line = 0
    return source_file, line


def _same_definition(old: RegisteredModel, new: RegisteredModel) -> bool:
    """The same class object, or the same class re-created by re-running its module."""
    if old.cls is new.cls:
        return True
    return (
        old.cls.__module__ == new.cls.__module__
        and old.cls.__qualname__ == new.cls.__qualname__
        and old.source_file == new.source_file
    )


def _register(cls: T, task_root: str, alias: str | None = None, make_data: str | None = None) -> T:
    if not inspect.isclass(cls):
        raise ValueError(
            f"`register` must decorate a class. Received: cls={cls!r} ({type(cls).__name__})"
        )
    validate_dotted_name(task_root, "task_root")
    if alias is not None:
        validate_dotted_name(alias, "name")
    source_file, source_line = _source_of(cls)
    entry = RegisteredModel(
        cls=cls,
        key=f"{cls.__module__}.{cls.__name__}",
        short_key=short_key(cls.__module__, cls.__name__, task_root),
        source_file=source_file,
        source_line=source_line,
        alias=alias,
        make_data=make_data,
    )
    with _LOCK:
        for key in entry.keys:
            old = _REGISTRY.get(key)
            if old is not None and not _same_definition(old, entry):
                raise ValueError(
                    f"`{cls.__name__}` must have a model key no other class uses. Received:"
                    f" key={key!r} defined at {entry.source}, already registered by"
                    f" {old.key} at {old.source}"
                )
        for key in entry.keys:
            old = _REGISTRY.get(key)
            if old is not None and old.cls is not cls:
                logger.debug("re-registered model %r (module re-run) at %s", key, entry.source)
            _REGISTRY[key] = entry
    logger.debug("registered model %r at %s", entry.name, entry.source)
    return cls


@overload
def register(
    cls: T, *, task_root: str = ..., name: str | None = ..., make_data: str | None = ...
) -> T: ...


@overload
def register(
    cls: None = ..., *, task_root: str = ..., name: str | None = ..., make_data: str | None = ...
) -> Callable[[T], T]: ...


def register(
    cls: T | None = None,
    *,
    task_root: str = DEFAULT_TASK_ROOT,
    name: str | None = None,
    make_data: str | None = None,
) -> T | Callable[[T], T]:
    """Class decorator: register a model under its dotted path and its short name.

    Usable bare (``@register``), with a plain alias (``@register(name="synthetic")``, so
    ``--model synthetic`` works), or with a task root for models of another package
    (``@register(task_root="acme_recs.tasks")``).

    Args:
        cls: the model class.
        task_root: the package the short key is relative to.
        name: an extra plain name for the model (an identifier or dotted name).
        make_data: the command that makes the model's data (e.g. ``"nwsrec datasets
            generate synthetic"``): a run that finds no data names it (:func:`make_data`).

    Returns:
        ``cls`` unchanged (or, called without ``cls``, the decorator).

    Raises:
        ValueError: ``cls`` is not a class, or one of its keys is taken by another class
            (the message names both sources, file:line).

    Example:
        >>> @register  # doctest: +SKIP
        ... class SyntheticModel(Model):
        ...     ...
    """
    if make_data is not None and (not isinstance(make_data, str) or not make_data.strip()):
        raise ValueError(
            f"`make_data` must be a non-empty command. Received: make_data={make_data!r}"
        )
    if cls is None:
        return lambda c: _register(c, task_root, name, make_data)
    return _register(cls, task_root, name, make_data)


def make_data(cls: type) -> str:
    """The command that makes the data of registered model class ``cls`` (its
    ``@register(make_data=...)``; else ``nwsrec convert``, the way to any data).

    Example:
        >>> make_data(object)
        'write it with nwsrec convert'
    """
    with _LOCK:
        found = [e.make_data for e in _REGISTRY.values() if e.cls is cls and e.make_data]
    return found[0] if found else "write it with nwsrec convert"


RegisterSingleTaskModel = register
"""Alias with the original (Lingvo / Monolith) name."""


def registered_models() -> list[RegisteredModel]:
    """Return every registered model once, sorted by its display name.

    Example:
        >>> [m.name for m in registered_models()]  # doctest: +SKIP
        ['movielens.params.MovieLensModel', 'synthetic.params.SyntheticModel']
    """
    with _LOCK:
        unique = {id(entry): entry for entry in _REGISTRY.values()}
    return sorted(unique.values(), key=lambda e: e.name)


def all_registered() -> dict[str, type]:
    """Return every registration key (full and short) mapped to its class.

    Only what has been imported so far is there; import the built-in tasks first with
    :func:`nwsrec.model_imports.import_all_params` to list them.

    Example:
        >>> sorted(all_registered())  # doctest: +SKIP
        ['nwsrec.tasks.synthetic.params.params.SyntheticModel', 'synthetic.params.SyntheticModel']
    """
    with _LOCK:
        return {key: entry.cls for key, entry in sorted(_REGISTRY.items())}


def _suggestions(name: str, n: int = 5) -> list[str]:
    """Models whose key, class name or task name is close to ``name``; one name per model."""
    with _LOCK:
        entries = list(_REGISTRY.items())
    by_alias: dict[str, list[str]] = {}
    for key, entry in entries:
        for alias in (key, entry.cls.__name__, entry.name.split(".", 1)[0]):
            by_alias.setdefault(alias.lower(), []).append(entry.name)
    lowered = name.lower()
    probes = [lowered, lowered.rsplit(".", 1)[-1], lowered.split(".", 1)[0]]
    found: list[str] = []
    for probe in probes:
        for alias in difflib.get_close_matches(probe, list(by_alias), n=n, cutoff=0.6):
            for key in by_alias[alias]:
                if key not in found:
                    found.append(key)
    return found[:n]


def get_class(
    name: str,
    *,
    task_root: str = DEFAULT_TASK_ROOT,
    task_dirs: Sequence[str] = DEFAULT_TASK_DIRS,
) -> type:
    """Return the model class registered as ``name``, importing its module first.

    The module of ``name`` is imported through
    :func:`nwsrec.model_imports.import_params`; when that does not register ``name``,
    the entry-point plugins (group ``nwsrec.models``) are loaded and the lookup is tried
    once more.

    Args:
        name: a full dotted key (``nwsrec.tasks.synthetic.params.params.SyntheticModel``)
            or a short one (``synthetic.params.SyntheticModel``).
        task_root: the package holding the task packages.
        task_dirs: the task packages under ``task_root``.

    Returns:
        The registered class.

    Raises:
        ValueError: ``name`` is not a dotted identifier.
        LookupError: no model is registered as ``name``; the message suggests close
            matches and lists the known models (built-in tasks and plugins included).
        nwsrec.model_imports.ModelImportError: a model module exists but is broken.

    Example:
        >>> get_class("synthetic.params.SyntheticModel")  # doctest: +SKIP
        <class 'nwsrec.tasks.synthetic.params.params.SyntheticModel'>
    """
    validate_dotted_name(name, "name")
    with _LOCK:
        entry = _REGISTRY.get(name)
    if entry is not None:
        return entry.cls
    tried: list[str] = []
    if "." in name:
        tried = model_imports.candidate_modules(name, task_root, task_dirs)
        model_imports.import_params(name, task_root, task_dirs, require_success=False)
    with _LOCK:
        entry = _REGISTRY.get(name)
    if entry is None:
        model_imports.import_plugins()
        with _LOCK:
            entry = _REGISTRY.get(name)
    if entry is None and "." not in name:
        # A plain alias such as ``synthetic`` is declared by a built-in task's module.
        model_imports.import_all_params(task_root, task_dirs, require_success=False)
        with _LOCK:
            entry = _REGISTRY.get(name)
    if entry is not None:
        return entry.cls
    # Unknown: import every built-in task so the suggestions and the list are complete.
    model_imports.import_all_params(task_root, task_dirs, require_success=False)
    known = [m.name for m in registered_models()]
    close = _suggestions(name)
    message = f"`name` must be a registered model. Received: name={name!r}."
    if close:
        message += " Did you mean: " + ", ".join(repr(c) for c in close) + "?"
    message += " Known models: " + (", ".join(known) if known else "(none)") + "."
    where = f"task root {task_root!r} (tasks: {', '.join(task_dirs) or 'none'})"
    message += f" Searched {where} and entry-point group {ENTRY_POINT_GROUP!r}"
    if tried:
        message += "; modules tried: " + ", ".join(tried)
    raise LookupError(message + ".")


def get_params(
    name: str,
    *,
    task_root: str = DEFAULT_TASK_ROOT,
    task_dirs: Sequence[str] = DEFAULT_TASK_DIRS,
) -> dict[str, Any]:
    """Return the ``default_params()`` of the model registered as ``name``.

    Args:
        name: a registered model name, as for :func:`get_class`.
        task_root: the package holding the task packages.
        task_dirs: the task packages under ``task_root``.

    Returns:
        A new dict of the class's ``default_params()`` classmethod, or ``{}`` for a class
        without one.

    Raises:
        ValueError: ``name`` is invalid, or ``default_params()`` did not return a mapping.
        LookupError: no model is registered as ``name`` (see :func:`get_class`).

    Example:
        >>> get_params("synthetic.params.SyntheticModel")["batch_size"]  # doctest: +SKIP
        256
    """
    cls = get_class(name, task_root=task_root, task_dirs=task_dirs)
    default_params = getattr(cls, "default_params", None)
    if default_params is None:
        return {}
    params = default_params()
    if not isinstance(params, Mapping):
        raise ValueError(
            f"`{cls.__qualname__}.default_params()` must return a dict. Received:"
            f" {type(params).__name__} {params!r} (model {name!r} at"
            f" {inspect.getsourcefile(cls)})"
        )
    return dict(params)
