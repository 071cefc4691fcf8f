"""The statistics a width search decides with: paired differences, recalibration, rank agreement.

- :func:`paired_difference`: two losses measured on the same held-out examples are
  compared example by example, which gives much tighter intervals than the two losses'
  own intervals.
- :func:`recalibrated_log_loss`: the per-example log loss after the logits are refit
  by one scale and one offset (Platt scaling) on the same examples. A supernet judged by
  raw log loss favours narrow widths whenever it is over-confident at full width; the
  refit removes what a monotone rescaling of the scores would fix and keeps what the
  ranking loses.
- :func:`kendall_tau`: the rank agreement between the search's estimates and what
  retrained models score (``bench/search_quality.py`` reports it per data set).

Example:
    >>> [round(x, 4) for x in paired_difference([1.0, 2.0, 3.0], [1.0, 1.0, 1.0])]
    [1.0, -0.1316, 2.1316]
    >>> kendall_tau([1, 2, 3, 4], [10, 20, 30, 40])
    1.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["Z95", "kendall_tau", "paired_difference", "recalibrated_log_loss"]

Z95 = 1.959963984540054
"""The two-sided 95% quantile of the normal distribution."""


def paired_difference(a: Any, b: Any) -> tuple[float, float, float]:
    """Mean of ``a - b`` over paired examples and its 95% confidence interval.

    The two losses are measured on the same held-out examples, so their difference is
    judged example by example: ``d_i = a_i - b_i``, ``mean(d) +- 1.96 * sd(d) / sqrt(n)``
    (normal approximation, ``sd`` with ``ddof=1``).

    Args:
        a: per-example losses ``[n]``.
        b: per-example losses ``[n]`` of the same examples.

    Returns:
        ``(mean, low, high)``; with ``n < 2`` the interval is ``(-inf, inf)`` unless
        every difference is 0.

    Raises:
        ValueError: the two do not have the same length, or are empty.

    Example:
        >>> paired_difference([0.5, 0.5], [0.5, 0.5])
        (0.0, 0.0, 0.0)
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(
            "paired losses must cover the same examples (equal, non-zero lengths). "
            f"Received: {a.size} and {b.size}"
        )
    d = a - b
    mean = float(np.mean(d))
    if not np.any(d != d[0]):
        return mean, mean, mean
    if d.size < 2:
        return mean, -math.inf, math.inf
    half = Z95 * float(np.std(d, ddof=1)) / math.sqrt(d.size)
    return mean, mean - half, mean + half


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def recalibrated_log_loss(labels: Any, logits: Any, iterations: int = 25) -> np.ndarray:
    """Per-example log loss after refitting ``a * logit + b`` on the same examples.

    ``(a, b)`` minimise the mean log loss (Newton's method on the two parameters, a
    convex problem; ``a`` may come out 0, which scores every example alike). Two
    parameters fit on thousands of examples: the optimism of fitting and scoring on the
    same examples is negligible, and the same for every choice of widths compared.

    Args:
        labels: 0/1 labels ``[n]``.
        logits: the model's logits ``[n]``.
        iterations: Newton steps at most (it stops once a step changes less than 1e-10).

    Returns:
        float64 ``[n]``.

    Raises:
        ValueError: labels and logits of different lengths, or none.

    Example:
        >>> y = np.array([0.0, 1.0, 0.0, 1.0])
        >>> raw = np.array([-8.0, 8.0, 8.0, -8.0])  # two confident mistakes
        >>> bool(recalibrated_log_loss(y, raw).mean() <= np.log(2) + 1e-9)
        True
    """
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    if y.shape != z.shape or y.size == 0:
        raise ValueError(
            "`labels` and `logits` must have the same, non-zero length. "
            f"Received: {y.size} and {z.size}"
        )
    a, b = 1.0, 0.0
    rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    start = (0.0, math.log(rate / (1 - rate)))  # the constant predictor

    def loss(ab: tuple[float, float]) -> float:
        s = ab[0] * z + ab[1]
        return float(np.mean(_softplus(s) - y * s))

    best = min(((a, b), start), key=loss)
    a, b = best
    for _ in range(iterations):
        s = a * z + b
        p = 1.0 / (1.0 + np.exp(-s))
        r = p - y
        w = p * (1.0 - p)
        g = np.array([np.mean(r * z), np.mean(r)])
        h = np.array(
            [[np.mean(w * z * z), np.mean(w * z)], [np.mean(w * z), np.mean(w)]]
        ) + 1e-12 * np.eye(2)
        try:
            step = np.linalg.solve(h, g)
        except np.linalg.LinAlgError:
            break
        # Halve the step until the loss does not go up (Newton may overshoot far out).
        current = loss((a, b))
        scale = 1.0
        while scale > 1e-6:
            trial = (a - scale * float(step[0]), b - scale * float(step[1]))
            if loss(trial) <= current:
                break
            scale /= 2
        else:
            break
        a, b = trial
        if scale * float(np.abs(step).max()) < 1e-10:
            break
    s = a * z + b
    return _softplus(s) - y * s


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b between two paired sequences (ties counted as neither order).

    Args:
        x: values ``[n]``.
        y: values ``[n]`` of the same items.

    Returns:
        tau in ``[-1, 1]``; NaN when either sequence is constant or ``n < 2``.

    Raises:
        ValueError: sequences of different lengths.

    Example:
        >>> kendall_tau([1, 2, 3], [3, 2, 1])
        -1.0
    """
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    b = np.asarray(y, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"`x` and `y` must have the same length. Received: {a.size} and {b.size}")
    if a.size < 2:
        return math.nan
    i, j = np.triu_indices(a.size, k=1)
    sa, sb = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
    concordant_minus_discordant = float(np.sum(sa * sb))
    pairs_a, pairs_b = float(np.sum(sa != 0)), float(np.sum(sb != 0))
    if pairs_a == 0 or pairs_b == 0:
        return math.nan
    return concordant_minus_discordant / math.sqrt(pairs_a * pairs_b)
