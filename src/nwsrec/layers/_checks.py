"""Argument checks shared by the layers of :mod:`nwsrec.layers`.

Every check raises ``ValueError`` with the message form used across nwsrec:
"`arg` must be ... Received: arg=<value>".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nwsrec.checks import is_int


def check_non_negative_int(name: str, value: Any) -> int:
    """Return ``value`` as an ``int`` if it is an integer ``>= 0``, else raise ``ValueError``."""
    if not is_int(value) or value < 0:
        raise ValueError(f"`{name}` must be a non-negative integer. Received: {name}={value!r}")
    return int(value)


def check_int_list(
    name: str,
    values: Any,
    *,
    positive: bool,
    slot_names: Sequence[str] | None = None,
    slot: str | None = None,
) -> list[int]:
    """Return ``values`` as a list of ``int``, each ``> 0`` (``positive``) or ``>= 0``.

    Args:
        name: the argument name used in error messages.
        values: a sequence of integers.
        positive: require every value to be ``> 0`` instead of ``>= 0``.
        slot_names: when given, ``values[i]`` belongs to slot ``slot_names[i]`` and errors
            name that slot.
        slot: when given, all of ``values`` belong to this slot and errors name it.

    Returns:
        The values as a new list of Python ints.
    """
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
        where = f" (slot {slot!r})" if slot is not None else ""
        raise ValueError(f"`{name}`{where} must be a list of integers. Received: {name}={values!r}")
    out = []
    bound = "positive" if positive else "non-negative"
    for i, value in enumerate(values):
        ok = is_int(value) and (value > 0 if positive else value >= 0)
        if not ok:
            owner = slot_names[i] if slot_names is not None else slot
            where = f" (slot {owner!r})" if owner is not None else ""
            raise ValueError(
                f"`{name}[{i}]`{where} must be a {bound} integer. Received: {name}[{i}]={value!r}"
            )
        out.append(int(value))
    return out
