"""The seed's ``sum_pooling`` helper: add one slice to several columns and sum them.

A compatibility module for models written against the seed, which called it as
``self.sum_pooling(...)``; they call ``sum_pooling(...)`` from here. New models call
``FeatureColumnV1.add_vector`` and add the results themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

import tensorflow as tf

from nwsrec.features.slots import FeatureColumnV1

__all__ = ["sum_pooling"]


def sum_pooling(
    fc_dict: Mapping[Any, FeatureColumnV1],
    input_map: MutableMapping[Any, tf.Tensor],
    features: Sequence[Any],
    dim: int,
    total_embeddings: list,
    add_into_embeddings: bool = True,
) -> tf.Tensor:
    """Add a ``dim``-wide slice to each of ``features``' columns and sum them.

    For each key in ``features``, ``fc_dict[key].add_vector(dim)``; the embedding is
    stored in ``input_map`` under ``key`` the first time, then ``"{key}_1"``,
    ``"{key}_2"``, ... when the same key is pooled again (the seed's naming, counted
    exactly rather than by substring). With ``add_into_embeddings``,
    ``(embedding, dim)`` is appended to ``total_embeddings``.

    Args:
        fc_dict: ``{key: FeatureColumnV1}``.
        input_map: receives each slot's embedding (mutated).
        features: the keys of ``fc_dict`` to pool, at least one.
        dim: the width of the new slices.
        total_embeddings: receives ``(embedding, dim)`` pairs (mutated).
        add_into_embeddings: whether to append to ``total_embeddings``.

    Returns:
        The one embedding if ``features`` has one key, else their sum ``[B, dim]``.

    Raises:
        ValueError: if ``features`` is empty.
        LookupError: if a key of ``features`` is not in ``fc_dict``.

    Example:
        >>> from nwsrec.features import Env, FeatureColumnV1, FeatureSlot
        >>> env = Env({1: 10, 2: 10})
        >>> fc = {s: FeatureColumnV1(FeatureSlot(env, s), f"slot_{s}_0") for s in (1, 2)}
        >>> input_map, total = {}, []
        >>> sum_pooling(fc, input_map, [1, 2], 4, total).shape, list(input_map)
        (TensorShape([1, 4]), [1, 2])
    """
    features = list(features)
    if not features:
        raise ValueError("`features` must name at least one column. Received: features=[]")
    embeddings = []
    for key in features:
        if key not in fc_dict:
            raise LookupError(
                f"`features` must name keys of `fc_dict`. Received: key={key!r}, "
                f"fc_dict keys={list(fc_dict)[:20]}"
            )
        embedding = fc_dict[key].add_vector(dim)
        if add_into_embeddings:
            total_embeddings.append((embedding, dim))
        embeddings.append(embedding)
        if key not in input_map:
            input_map[key] = embedding
        else:
            count = 1
            while f"{key}_{count}" in input_map:
                count += 1
            input_map[f"{key}_{count}"] = embedding
    if len(embeddings) == 1:
        return embeddings[0]
    return tf.add_n(embeddings)
