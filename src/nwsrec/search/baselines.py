"""The simplest alternatives to the width search: one width everywhere, the popularity rule.

- :func:`uniform_dims`: every slot at one width.
- :func:`popularity_dims`: the popularity rule of mixed-dimension embeddings (Ginart,
  Naumov, Mudigere, Yang, Zou, "Mixed Dimension Embeddings with Application to
  Memory-Efficient Recommendation Systems", ISIT 2021; ``md_solver`` /
  ``alpha_power_rule`` of facebookresearch/dlrm): a block ``i`` of ``n_i`` rows queried
  ``k_i`` times per example has popularity ``p_i = k_i / n_i`` and width
  ``d_i = lambda * p_i ** alpha``; with a parameter budget ``B`` the reference code takes
  ``lambda = B / sum_i n_i ** (1 - alpha)`` (``k_i = 1``) and rounds, clipping at 1.

Here the widths are also clipped to ``[min_width, max_width]`` (a width above the
model's full width is not on offer) and ``lambda`` is the largest for which the rounded,
clipped widths meet the budget (found by bisection), so the budget is met exactly as
the contract counts it: sum over blocks of rows x width, plus one bias row per id of
every slot (every slot is kept: ``min_width >= 1``).

``alpha`` defaults to 0.3, the ``--md-temperature`` default of the DLRM reference code.
``alpha = 0`` is a uniform width; a larger ``alpha`` moves width from the blocks of many
rows to those of few (popular) rows.

Example:
    >>> uniform_dims([1, 2], 8)
    {1: 8, 2: 8}
    >>> popularity_dims({"a": 10, "b": 1000}, 10 * 16 + 1000 * 4 + 1010, max_width=16)
    {'a': 16, 'b': 4}
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from typing import TypeVar

from nwsrec.checks import is_int

__all__ = ["DEFAULT_ALPHA", "popularity_dims", "popularity_parameters", "uniform_dims"]

K = TypeVar("K", bound=Hashable)

#: The DLRM reference code's default temperature (``--md-temperature=0.3``).
DEFAULT_ALPHA = 0.3


def _fail(name: str, what: str, value: object) -> ValueError:
    return ValueError(f"`{name}` must be {what}. Received: {name}={value!r}")


def uniform_dims(slots: Iterable[K], width: int) -> dict[K, int]:
    """Every slot at one width.

    Args:
        slots: the slot ids (or selection units).
        width: the width, an integer >= 0.

    Returns:
        ``{slot: width}``.

    Example:
        >>> uniform_dims([3, 1], 4)
        {3: 4, 1: 4}
    """
    if not is_int(width) or width < 0:
        raise _fail("width", "an integer >= 0", width)
    return {s: int(width) for s in slots}


def popularity_parameters(
    slot_rows: Mapping[K, int], dims: Mapping[K, int], bias_rows: int | None = None
) -> int:
    """Embedding parameters of widths ``dims``: rows x width summed, plus the bias rows.

    Args:
        slot_rows: ``{block: rows}``.
        dims: ``{block: width}`` (every block of ``slot_rows``).
        bias_rows: bias parameters to add (default: one per row of every block).

    Example:
        >>> popularity_parameters({"a": 10, "b": 100}, {"a": 8, "b": 2})
        390
    """
    bias = sum(slot_rows.values()) if bias_rows is None else bias_rows
    return int(bias + sum(int(slot_rows[s]) * int(dims[s]) for s in slot_rows))


def _widths(popularity: dict, alpha: float, lam: float, min_width: int, max_width: int) -> dict:
    out = {}
    for s, p in popularity.items():
        d = math.floor(lam * p**alpha + 0.5)
        out[s] = min(max_width, max(min_width, d))
    return out


def popularity_dims(
    slot_rows: Mapping[K, int],
    budget_params: int,
    *,
    alpha: float = DEFAULT_ALPHA,
    max_width: int,
    min_width: int = 1,
    lookups: Mapping[K, float] | None = None,
    bias_rows: int | None = None,
) -> dict[K, int]:
    """The popularity rule of mixed-dimension embeddings at a parameter budget.

    Block ``i`` (a slot, or a frequency bucket of one) has popularity
    ``p_i = k_i / n_i``: ``n_i`` its rows, ``k_i`` its lookups per example (``lookups``;
    default 1, one id of every slot per example; for a bucket, its share of its slot's
    lookups). Its width is ``round(lambda * p_i ** alpha)`` clipped to
    ``[min_width, max_width]``, with the largest ``lambda`` whose total meets the budget.

    Args:
        slot_rows: ``{block: rows}``, rows >= 1.
        budget_params: the most embedding parameters (rows x width summed, plus
            ``bias_rows``).
        alpha: the temperature, >= 0 (0: one width everywhere).
        max_width: the largest width (the model's full width).
        min_width: the smallest width, >= 1 (the rule keeps every block).
        lookups: ``{block: lookups per example}`` (> 0), default 1 each.
        bias_rows: bias parameters counted in the budget (default: one per row of every
            block; 0 to budget the vectors alone).

    Returns:
        ``{block: width}``, in the order of ``slot_rows``.

    Raises:
        ValueError: an empty ``slot_rows``, a bad row count, width bound, alpha or
            lookup count, or a budget below ``min_width`` everywhere (naming the least
            budget that works).

    Example:
        >>> popularity_dims({1: 4, 2: 40_000}, 40_004 * 2, max_width=16, bias_rows=0)
        {1: 16, 2: 1}
    """
    if not slot_rows:
        raise _fail("slot_rows", "a non-empty mapping of block to rows", slot_rows)
    for s, n in slot_rows.items():
        if not is_int(n) or n < 1:
            raise ValueError(
                f"`slot_rows` must hold integers >= 1. Received: slot_rows[{s!r}]={n!r}"
            )
    if not is_int(min_width) or min_width < 1:
        raise _fail("min_width", "an integer >= 1", min_width)
    if not is_int(max_width) or max_width < min_width:
        raise _fail("max_width", f"an integer >= min_width={min_width}", max_width)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha >= 0:
        raise _fail("alpha", "a number >= 0", alpha)
    if not math.isfinite(alpha):
        raise _fail("alpha", "finite", alpha)
    if not is_int(budget_params):
        raise _fail("budget_params", "an integer", budget_params)
    if bias_rows is not None and (not is_int(bias_rows) or bias_rows < 0):
        raise _fail("bias_rows", "an integer >= 0", bias_rows)
    k = {s: 1.0 for s in slot_rows}
    if lookups is not None:
        for s in slot_rows:
            value = lookups.get(s)
            if value is None or isinstance(value, bool) or not value > 0:
                raise ValueError(
                    f"`lookups` must give every block a count > 0. Received: "
                    f"lookups[{s!r}]={value!r}"
                )
            k[s] = float(value)
    popularity = {s: k[s] / int(n) for s, n in slot_rows.items()}

    def cost(dims: dict) -> int:
        return popularity_parameters(slot_rows, dims, bias_rows)

    lowest = {s: min_width for s in slot_rows}
    if cost(lowest) > budget_params:
        raise ValueError(
            f"`budget_params` must be >= {cost(lowest)} (every block at "
            f"min_width={min_width}). Received: budget_params={budget_params}"
        )
    highest = {s: max_width for s in slot_rows}
    if cost(highest) <= budget_params:
        return highest
    # cost(widths(lam)) is non-decreasing in lam: bisect on log(lam) for the largest
    # lam whose widths fit. lo fits (all widths <= min_width), hi does not.
    p_min, p_max = min(popularity.values()), max(popularity.values())
    lo = math.log(min_width / 2) - alpha * math.log(p_max)
    hi = math.log(max_width + 1) - alpha * math.log(p_min)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if cost(_widths(popularity, alpha, math.exp(mid), min_width, max_width)) <= budget_params:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12:
            break
    return _widths(popularity, alpha, math.exp(lo), min_width, max_width)
