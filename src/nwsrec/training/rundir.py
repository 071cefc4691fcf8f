"""A model dir that knows what it holds, and is used by one run at a time.

- :class:`ModelDirLock`: an exclusive ``fcntl.flock`` on ``{model_dir}/.nwsrec.lock``
  for the whole run. A run of another process into the same dir refuses, naming the
  process that holds it; the operating system releases the lock when the holder dies
  (``kill -9`` included), so a killed run leaves no stale lock. Within one process the
  lock is shared: ``nwsrec.runs`` holds it for a whole run and the ``Trainer`` it builds
  takes it again (each ``Trainer`` holds its model dir from its construction to
  :meth:`Trainer.close`, so a library user gets the lock too). Once held, the leftovers of a killed
  run are removed: TensorFlow's ``ckpt-N_temp`` directories, its ``checkpoint.tmp<hex>``
  index files and nwsrec's own ``*.tmp-<pid>`` files (:data:`nwsrec.files.TMP_MARKER`).
- :func:`run_manifest` / :func:`check_manifest`: ``{model_dir}/manifest.json`` records
  what the checkpoints mean: the model class and name, the layout of the tables (rows
  and dim of every table) and the params that change what a weight means
  (:data:`MEANING_KEYS`: candidate sizes and their order, widths, slots, hidden units,
  ...), and the nwsrec version that last wrote it. A run whose manifest differs from the
  dir's is refused before anything is written, naming every key that differs; the
  version is not such a key: another nwsrec version resumes a dir whose tables and
  params match, and logs that it does.
- :func:`checkpoint_steps`: the steps of the checkpoints on disk.

No TensorFlow here.

Example:
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> with ModelDirLock(d):
    ...     check_manifest(d, {"nwsrec_version": "0.1.0", "params": {"candidate_sizes": [0, 4]}})
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import socket
import sys
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from nwsrec import __version__
from nwsrec.files import TMP_MARKER, jsonable, write_json_atomic

try:  # POSIX only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

__all__ = [
    "LOCK_FILE",
    "MANIFEST_FILE",
    "MEANING_KEYS",
    "UNCOMPARED_KEYS",
    "ModelDirBusyError",
    "ModelDirLock",
    "ModelDirMismatchError",
    "check_manifest",
    "checkpoint_steps",
    "clean_leftovers",
    "run_manifest",
]

LOCK_FILE = ".nwsrec.lock"
MANIFEST_FILE = "manifest.json"

MEANING_KEYS = (
    "search",
    "slots",
    "candidate_sizes",
    "slot_dims",
    "hidden_units",
    "nws_mode",
    "holdout_every",
    "vocab_size_per_slot",
    "dense_optimizer",
    "arch_optimizer",
    "use_gradient_accumulation",
    "out_of_range_ids",
    "supernet_layout",
    "id_buckets",
    "bucket_slots",
)
"""Params whose change gives a checkpoint's weights another meaning (same shapes or not)."""

_CKPT_FILE = re.compile(r"^ckpt-(\d+)\.(index|data-\d+-of-\d+)$")
_TF_TMP = re.compile(r"\.tmp[0-9a-f]{32}$")  # tf.io.gfile atomic writes: <name>.tmp<uuid hex>


class ModelDirBusyError(ValueError):
    """Another live run holds the model dir."""


class ModelDirMismatchError(ValueError):
    """The model dir holds checkpoints of another model, other widths or other params."""


def checkpoint_steps(model_dir: str) -> list[int]:
    """The steps of the checkpoints in ``model_dir`` (``ckpt-N.index`` files), ascending."""
    try:
        names = os.listdir(model_dir)
    except (FileNotFoundError, NotADirectoryError):
        return []
    steps = set()
    for name in names:
        match = _CKPT_FILE.match(name)
        if match and match.group(2) == "index":
            steps.add(int(match.group(1)))
    return sorted(steps)


def clean_leftovers(model_dir: str) -> list[str]:
    """Removes what a killed run left half-written in ``model_dir``; returns the paths.

    ``ckpt-N_temp`` directories (a checkpoint being written), ``*.tmp<hex>`` files
    (TensorFlow's atomic writes, e.g. of the ``checkpoint`` index) and ``*.tmp-*`` files
    (nwsrec's atomic writes), in the dir and its subdirectories. Call it only while
    holding the dir's lock: a live run's temporary files would go too.
    """
    removed: list[str] = []
    if not os.path.isdir(model_dir):
        return removed
    for root, dirs, files in os.walk(model_dir):
        for name in list(dirs):
            if name.endswith("_temp") and name.startswith("ckpt-"):
                path = os.path.join(root, name)
                shutil.rmtree(path, ignore_errors=True)
                dirs.remove(name)
                removed.append(path)
        for name in files:
            if TMP_MARKER in name or _TF_TMP.search(name):
                path = os.path.join(root, name)
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
                    removed.append(path)
    for path in removed:
        logger.warning("removed %s, left behind by an interrupted run", path)
    return removed


# This process's held locks: real path of the lock file -> [descriptor, holders, taking];
# ``taking`` counts the flocks taken, so a holder released with every other one (by
# ``release(every_holder=True)``) does not release a later taking.
_HELD: dict[str, list[int]] = {}
_TAKINGS = [0]
_HELD_LOCK = threading.Lock()


class ModelDirLock:
    """Holds ``{model_dir}/.nwsrec.lock`` exclusively for a run (see the module docstring).

    Exclusive between processes; within one process every holder of the same dir shares
    the one ``flock`` (the first takes it, the last releases it).

    Args:
        model_dir: the run's directory (created if missing).
        clean: remove a killed run's leftovers once the lock is held (by its first holder).

    Raises:
        ModelDirBusyError: on enter, when another live process holds the lock.
        OSError: when the dir cannot be created or written (a file, read-only, full).
    """

    def __init__(self, model_dir: str, clean: bool = True) -> None:
        self.model_dir = os.fspath(model_dir)
        self.path = os.path.join(self.model_dir, LOCK_FILE)
        self.clean = clean
        self._key: str | None = None
        self._taking = -1

    def acquire(self) -> ModelDirLock:
        """Takes the lock (see the class docstring); returns self."""
        os.makedirs(self.model_dir, exist_ok=True)
        key = os.path.realpath(self.path)
        with _HELD_LOCK:
            if self._key is not None:
                return self
            if key in _HELD:
                _HELD[key][1] += 1
                self._key, self._taking = key, _HELD[key][2]
                return self
            fd = self._lock_file()
            _TAKINGS[0] += 1
            _HELD[key] = [fd, 1, _TAKINGS[0]]
            self._key, self._taking = key, _TAKINGS[0]
        if self.clean:
            clean_leftovers(self.model_dir)
        return self

    def release(self, every_holder: bool = False) -> None:
        """Gives the lock back (the OS releases it when the last holder in the process does).

        Args:
            every_holder: release it for every holder in this process (a run that is over
                gives its dir back, whatever objects built for it are still alive).
        """
        with _HELD_LOCK:
            key, self._key = self._key, None
            held = _HELD.get(key or "")
            if held is None or held[2] != self._taking:
                return  # released with every holder before
            held[1] = 0 if every_holder else held[1] - 1
            if held[1] == 0:
                del _HELD[key or ""]
                with contextlib.suppress(OSError):
                    os.ftruncate(held[0], 0)
                os.close(held[0])  # closing the descriptor releases the flock

    @property
    def held(self) -> bool:
        """Whether this holder holds the lock."""
        return self._key is not None

    def _lock_file(self) -> int:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
                os.close(fd)
                raise ModelDirBusyError(
                    f"`model_dir` must not be in use by another run. Received: "
                    f"model_dir={self.model_dir!r}, held by {holder or 'another process'}; "
                    "wait for it to end or use another --model-dir"
                ) from None
        info = (
            f"pid {os.getpid()} on {socket.gethostname()} since "
            f"{time.strftime('%Y-%m-%d %H:%M:%S')} ({' '.join(sys.argv[:1] + sys.argv[1:3])})"
        )
        os.ftruncate(fd, 0)
        os.pwrite(fd, (info + "\n").encode(), 0)
        return fd

    def __enter__(self) -> ModelDirLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def run_manifest(
    params: Mapping[str, Any], tables: Mapping[str, Any] | None = None, model: Any = None
) -> dict[str, Any]:
    """What a run's checkpoints mean: the content of ``manifest.json``.

    Args:
        params: the run's params (the keys of :data:`MEANING_KEYS` that are set go in).
        tables: ``{table name: table}`` with ``vocab_size`` and ``dim`` (or a
            ``variable`` of shape ``[rows, dim]``): the layout.
        model: the model object (its class name goes in).

    Example:
        >>> run_manifest({"candidate_sizes": [0, 4], "batch_size": 8})["params"]
        {'candidate_sizes': [0, 4]}
    """
    out: dict[str, Any] = {"nwsrec_version": __version__}
    if model is not None:
        cls = type(model)
        out["model_class"] = f"{cls.__module__}.{cls.__qualname__}"
    if tables is not None:
        layout = {}
        for name, table in sorted(tables.items()):
            rows, dim = getattr(table, "vocab_size", None), getattr(table, "dim", None)
            if rows is None or dim is None:
                variable = getattr(table, "variable", None)
                shape = list(getattr(variable, "shape", []) or [])
                rows, dim = (shape + [None, None])[:2]
            layout[name] = [None if rows is None else int(rows), None if dim is None else int(dim)]
        out["layout"] = layout
    out["params"] = {key: params[key] for key in MEANING_KEYS if key in params}
    return json.loads(json.dumps(jsonable(out), sort_keys=True))


#: Manifest keys recorded but not compared: they do not change what a checkpoint means.
UNCOMPARED_KEYS = ("nwsrec_version",)


def _flatten(manifest: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in manifest.items():
        if key in UNCOMPARED_KEYS:
            continue
        if key in ("params", "layout") and isinstance(value, Mapping):
            prefix = "" if key == "params" else "layout of "
            flat.update({f"{prefix}{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    return flat


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    old_flat, new_flat = _flatten(old), _flatten(new)
    out = []
    for key in sorted(set(old_flat) | set(new_flat)):
        if key in old_flat and key in new_flat and old_flat[key] != new_flat[key]:
            out.append(f"{key}: {old_flat[key]!r} in the dir, {new_flat[key]!r} now")
        elif key in old_flat and key not in new_flat and not key.startswith("layout of "):
            continue  # a key this run does not set: not a difference it can judge
        elif key not in old_flat and key.startswith("layout of "):
            out.append(f"{key}: absent in the dir, {new_flat[key]!r} now")
        elif key in old_flat and key not in new_flat:
            out.append(f"{key}: {old_flat[key]!r} in the dir, absent now")
    return out


def check_manifest(model_dir: str, manifest: Mapping[str, Any], *, write: bool = True) -> None:
    """Refuses a run whose manifest differs from the one of the checkpoints in ``model_dir``.

    With checkpoints in the dir, ``manifest.json`` must match ``manifest`` key by key; a
    dir made before manifests existed is compared with its ``params.json`` on the
    :data:`MEANING_KEYS`. Without checkpoints there is nothing to protect. On success
    the manifest is written (atomically) when ``write``.

    Raises:
        ModelDirMismatchError: naming every key that differs, its value in the dir and
            now; nothing in the dir is changed.
    """
    path = os.path.join(model_dir, MANIFEST_FILE)
    manifest = json.loads(json.dumps(jsonable(manifest), sort_keys=True))
    if checkpoint_steps(model_dir):
        old = _read_json(path)
        source = path
        if old is None:
            params_path = os.path.join(model_dir, "params.json")
            params = _read_json(params_path)
            if params is not None:
                old = {"params": {k: params[k] for k in MEANING_KEYS if k in params}}
                source = params_path
                new: Mapping[str, Any] = {"params": manifest.get("params", {})}
            else:
                logger.warning(
                    "%s has checkpoints but neither %s nor params.json: cannot check what "
                    "they mean",
                    model_dir,
                    MANIFEST_FILE,
                )
        else:
            new = manifest
        if old is not None:
            diffs = _differences(old, new)
            if diffs:
                raise ModelDirMismatchError(
                    f"`model_dir` must hold checkpoints of this same run. Received: "
                    f"model_dir={model_dir!r}, whose {os.path.basename(source)} differs in "
                    f"{len(diffs)} key(s): {'; '.join(diffs)}. Use another --model-dir, or "
                    "rerun with the dir's settings"
                )
            written_by = old.get("nwsrec_version")
            if written_by != manifest.get("nwsrec_version"):
                logger.warning(
                    "%s was written by %s; resuming it with nwsrec %s: its tables and params match",
                    model_dir,
                    f"nwsrec {written_by}" if written_by else "an nwsrec without manifest.json",
                    manifest.get("nwsrec_version"),
                )
    if write:
        write_json_atomic(path, manifest)


def _read_json(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as handle:
            value = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise ModelDirMismatchError(
            f"`{os.path.basename(path)}` must be readable JSON. Received: {path!r} ({err}); "
            "restore it or use another --model-dir"
        ) from None
    return value if isinstance(value, dict) else None
