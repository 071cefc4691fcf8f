"""The seed's ``sum_pooling`` helper: add one slice to several columns and sum them.

Kept for models written against the seed (``Model.sum_pooling`` calls it); new models call
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

    See :meth:`nwsrec.model.Model.sum_pooling` for the arguments.
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
