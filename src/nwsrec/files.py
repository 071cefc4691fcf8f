"""Atomic file writes (the one way nwsrec replaces a file that readers may open), and
reading a JSON object with errors that name the file.

Every file a run or a converter writes for others to read (``params.json``,
``search_result.json``, ``vocab.tsv``, plots, ``truth.json``) is written to a temporary
file in the same directory and renamed over the target, so a reader (or a run killed
half-way) never sees half a file. A leaf module: it imports nothing from nwsrec.

Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "sub", "x.json")
    >>> write_json_atomic(path, {"b": 1, "a": [1, 2]})
    >>> print(open(path).read(), end="")
    {
      "a": [
        1,
        2
      ],
      "b": 1
    }
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["TMP_MARKER", "atomic_path", "jsonable", "write_json_atomic", "write_text_atomic"]

TMP_MARKER = ".tmp-"
"""What every temporary file name holds (``<target>.tmp-<pid>[suffix]``)."""


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers and other non-JSON objects as ``repr``.

    Example:
        >>> jsonable({"a": (1, 2), "b": {3}})
        {'a': [1, 2], 'b': '{3}'}
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return repr(value)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = "") -> Iterator[str]:
    """Yields a temporary path beside ``path``; renames it over ``path`` on success.

    The directory of ``path`` is created if missing. On an error the temporary file is
    removed and ``path`` is left as it was.

    Args:
        path: the target file.
        suffix: appended to the temporary name (e.g. ``".png"`` so a writer that picks
            its format by extension still sees it).
    """
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}{TMP_MARKER}{os.getpid()}{suffix}"
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Writes ``text`` (UTF-8) to ``path`` through a temporary file and a rename."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)


def write_json_atomic(path: str | os.PathLike[str], content: Any) -> None:
    """Writes ``content`` as indented, key-sorted JSON through a temporary file and a rename.

    Args:
        path: the target file; its directory is created if missing.
        content: anything JSON can hold; other objects are written as their ``repr``.
    """
    write_text_atomic(path, json.dumps(jsonable(content), indent=2, sort_keys=True) + "\n")


def read_json_object(path: str, missing: str) -> dict[str, Any]:
    """Reads a JSON file that must hold an object (``params.json``, ...).

    Args:
        path: the file.
        missing: the message of the ``FileNotFoundError`` raised when there is no file
            (say what was expected; the path is added).

    Raises:
        FileNotFoundError: ``missing``, naming the path.
        ValueError: naming the file, when it is not JSON or not an object.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{missing}. Received: no {path}")
    try:
        with open(path, encoding="utf-8") as handle:
            content = json.load(handle)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: must be JSON ({err}). Received: a broken file") from None
    if not isinstance(content, dict):
        raise ValueError(f"{path}: must be a JSON object. Received: {type(content).__name__}")
    return content
