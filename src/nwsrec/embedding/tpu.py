"""TPU embedding configs of a model's tables (``tf.tpu.experimental.embedding``).

Off TPU nwsrec trains its own tables (:mod:`nwsrec.embedding.collection`); on a TPU the
embedding engine does, from these configs: one ``TableConfig`` per table (combiner
``sum``, the table's rows, width, optimizer and initializer) and one ``FeatureConfig`` per
input feature. Table groups are nwsrec's CPU/GPU layout only; the TPU engine packs its
tables itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from nwsrec.embedding.specs import TableSpec
from nwsrec.features.optimizers import AdagradRowwise

__all__ = ["tpu_embedding_configs"]


def tpu_embedding_configs(
    specs: Sequence[TableSpec], feature_names: Sequence[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(feature_to_config, table_to_config)`` for ``TPUEmbedding``.

    Args:
        specs: the tables.
        feature_names: the input feature each table reads, in the order of ``specs``.

    Raises:
        ValueError: a table trained with :class:`~nwsrec.features.AdagradRowwise`, which
            TPU embedding does not have.
    """
    if len(specs) != len(feature_names):
        raise ValueError(
            "`feature_names` must name one feature per table. "
            f"Received: {len(feature_names)} names for {len(specs)} tables"
        )
    embedding = tf.tpu.experimental.embedding
    feature_to_config: dict[str, Any] = {}
    table_to_config: dict[str, Any] = {}
    for spec, feature in zip(specs, feature_names, strict=True):
        if isinstance(spec.optimizer, AdagradRowwise):
            raise ValueError(
                f"`optimizer` of table {spec.name} must be a tf.tpu.experimental.embedding "
                "optimizer to build a TPU TableConfig: TPU embedding has no row-wise Adagrad. "
                f"Received: optimizer={spec.optimizer!r}"
            )
        table = embedding.TableConfig(
            vocabulary_size=spec.rows,
            dim=spec.dim,
            initializer=spec.initializer,
            optimizer=spec.optimizer,
            combiner="sum",
            name=spec.name,
        )
        table_to_config[spec.name] = table
        feature_to_config[feature] = embedding.FeatureConfig(table=table, name=feature)
    return feature_to_config, table_to_config
