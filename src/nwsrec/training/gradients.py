"""Where each gradient of a train step goes: dense weights, architecture weights, tables.

A step differentiates one loss with respect to three groups of variables, each with its
own optimizer:

- the dense Keras weights (``dense_optimizer``),
- the NWS architecture weights (``arch_optimizer``, frozen during ``arch_warmup_steps``),
- every embedding table (its own sparse optimizer, ``EmbeddingTable.apply_gradient``).

A table split across parameter-server tasks is differentiated *by shard* (a tape cannot
take a sharded variable) and its shard gradients are merged into one ``IndexedSlices`` of
global row ids. :class:`GradientRouting` holds that bookkeeping in one place: what the
tape watches, and how its flat list of gradients splits back into the three groups.

Example:
    >>> routing = GradientRouting(dense, arch, tables)  # doctest: +SKIP
    >>> grads = tape.gradient(loss, routing.watched)  # doctest: +SKIP
    >>> routed = routing.split(grads)  # doctest: +SKIP
    >>> dense_optimizer.apply_gradients(routed.dense)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import tensorflow as tf

from nwsrec.embedding import EmbeddingTable
from nwsrec.embedding.sharded import gradient_sources, merge_shard_gradients, shard_offsets

__all__ = [
    "GradientRouting",
    "RoutedGradients",
    "as_indexed_slices",
    "raw_variable",
    "table_parameter",
]


def raw_variable(variable: Any) -> tf.Variable:
    """The ``tf.Variable`` behind a Keras variable (or the variable itself)."""
    return variable.value if isinstance(variable, keras.Variable) else variable


def table_parameter(table: EmbeddingTable) -> tf.Variable:
    """The trainable weight of an embedding table (what its lookup reads).

    Args:
        table: an ``EmbeddingTable``.

    Returns:
        Its embedding ``tf.Variable``: ``table.variable`` when the table has one, else the
        first of ``table.variables``.
    """
    variable = getattr(table, "variable", None)
    if variable is None:
        variable = list(table.variables)[0]
    return variable


def as_indexed_slices(grad: tf.Tensor | tf.IndexedSlices) -> tf.IndexedSlices:
    """A dense gradient as ``IndexedSlices`` over every row (an ``IndexedSlices`` as is)."""
    if isinstance(grad, tf.IndexedSlices):
        return grad
    return tf.IndexedSlices(grad, tf.range(tf.shape(grad, out_type=tf.int64)[0]), tf.shape(grad))


@dataclasses.dataclass
class RoutedGradients:
    """The gradients of one step, by destination.

    Attributes:
        dense: ``(gradient, variable)`` pairs of the dense weights (None gradients left out).
        arch: ``(gradient, variable)`` pairs of the architecture weights (likewise).
        tables: ``(table name, gradient)`` of every table with rows in the batch; the
            gradient is an ``IndexedSlices`` of global row ids or a dense tensor.
    """

    dense: list[tuple[Any, Any]]
    arch: list[tuple[Any, Any]]
    tables: list[tuple[str, Any]]


class GradientRouting:
    """What a train step's tape watches, and where each of its gradients goes.

    Args:
        dense_variables: the dense Keras weights.
        arch_variables: the NWS architecture weights (may be empty).
        tables: ``{name: EmbeddingTable}``.
    """

    def __init__(
        self,
        dense_variables: Sequence[Any],
        arch_variables: Sequence[Any],
        tables: Mapping[str, EmbeddingTable],
    ) -> None:
        self.dense_variables = list(dense_variables)
        self.arch_variables = list(arch_variables)
        self.table_names = list(tables)
        self.table_variables = [table_parameter(t) for t in tables.values()]
        self._sources = [gradient_sources(v) for v in self.table_variables]
        self._offsets = [shard_offsets(v) for v in self.table_variables]

    @property
    def watched(self) -> list[Any]:
        """What to differentiate, in the order :meth:`split` reads: dense, arch, shards."""
        return (
            [raw_variable(v) for v in self.dense_variables]
            + [raw_variable(v) for v in self.arch_variables]
            + [source for sources in self._sources for source in sources]
        )

    def split(self, grads: Sequence[Any]) -> RoutedGradients:
        """The tape's gradients of :attr:`watched`, routed to their destinations."""
        n_dense, n_arch = len(self.dense_variables), len(self.arch_variables)
        dense = [
            (g, v)
            for g, v in zip(grads[:n_dense], self.dense_variables, strict=True)
            if g is not None
        ]
        arch_grads = grads[n_dense : n_dense + n_arch]
        arch = [
            (g, v) for g, v in zip(arch_grads, self.arch_variables, strict=True) if g is not None
        ]
        tables: list[tuple[str, Any]] = []
        start = n_dense + n_arch
        for name, sources, offsets in zip(
            self.table_names, self._sources, self._offsets, strict=True
        ):
            merged = merge_shard_gradients(grads[start : start + len(sources)], offsets)
            start += len(sources)
            if merged is not None:
                tables.append((name, merged))
        return RoutedGradients(dense=dense, arch=arch, tables=tables)
