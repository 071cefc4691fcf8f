"""Argument checks shared by every layer of nwsrec (a leaf module: it imports nothing).

The one error format: "`arg` must be ... Received: arg=<value>".

Example:
    >>> is_int(3), is_int(True), is_int(3.0)
    (True, False, False)
    >>> check_int("steps", 5, minimum=1)
    5
    >>> check_int("steps", 0, minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: `steps` must be an integer >= 1. Received: steps=0
"""

from __future__ import annotations

import numbers
from typing import Any, TypeGuard

__all__ = ["check_int", "is_int"]


def is_int(value: Any) -> TypeGuard[int]:
    """True for an integer (Python or numpy), False for a bool or anything else."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(name: str, value: Any, *, minimum: int | None = None) -> int:
    """``value`` as an ``int`` if it is an integer (``>= minimum`` when given), else ``ValueError``.

    Args:
        name: the argument's name, for the message.
        value: the value to check.
        minimum: the smallest allowed value, or None for any integer.
    """
    if not is_int(value) or (minimum is not None and value < minimum):
        bound = "" if minimum is None else f" >= {minimum}"
        raise ValueError(f"`{name}` must be an integer{bound}. Received: {name}={value!r}")
    return int(value)
