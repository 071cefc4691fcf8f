"""Exact evaluation metrics: AUC (ties handled) and log loss.

Both work on the full set of (label, score) pairs collected over an evaluation run; no
bucketed approximation as in ``tf.keras.metrics.AUC``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["exact_auc", "log_loss"]


def _check(labels: np.ndarray, values: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels, dtype=np.float64).reshape(-1)
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if labels.shape != values.shape:
        raise ValueError(
            f"`labels` and `{name}` must have the same length. "
            f"Received: labels={labels.shape[0]}, {name}={values.shape[0]}"
        )
    if labels.size and not np.all((labels == 0.0) | (labels == 1.0)):
        bad = labels[(labels != 0.0) & (labels != 1.0)][0]
        raise ValueError(f"`labels` must be 0 or 1. Received: labels containing {bad!r}")
    return labels, values


def exact_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve, exact, with tied scores counted as one half.

    Computed from ranks (Mann-Whitney U): ``(sum of positive ranks - P(P+1)/2) / (P*N)``,
    where tied scores share their average rank.

    Args:
        labels: 0/1 labels.
        scores: any monotone score (logits or probabilities).

    Returns:
        The AUC, or NaN when only one class is present.

    Example:
        >>> exact_auc([0, 1, 1, 0], [0.1, 0.9, 0.4, 0.4])
        0.875
    """
    labels, scores = _check(labels, scores, "scores")
    positives = float(labels.sum())
    negatives = float(labels.size - positives)
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(scores.size, dtype=np.float64)
    # Average ranks over runs of tied scores.
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [scores.size]])
    avg = (starts + ends + 1) / 2.0  # 1-based average rank of each run
    ranks[order] = np.repeat(avg, ends - starts)
    u = ranks[labels == 1.0].sum() - positives * (positives + 1) / 2.0
    return float(u / (positives * negatives))


def log_loss(labels: np.ndarray, probabilities: np.ndarray, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy of probabilities (clipped to ``[eps, 1 - eps]``).

    Args:
        labels: 0/1 labels.
        probabilities: predicted probabilities of label 1.
        eps: clipping bound.

    Returns:
        The mean log loss (NaN for no examples).

    Example:
        >>> round(log_loss([1, 0], [0.5, 0.5]), 4)
        0.6931
    """
    labels, probs = _check(labels, probabilities, "probabilities")
    if labels.size == 0:
        return float("nan")
    probs = np.clip(probs, eps, 1.0 - eps)
    return float(-np.mean(labels * np.log(probs) + (1.0 - labels) * np.log1p(-probs)))
