"""A model's embedding tables, built from its slots' specs: rows, plan, lookup.

The model declares slots; its env records them as :class:`~nwsrec.features.SlotSpec`.
:class:`SlotTables` reads those specs in one direction and owns everything about the
tables the model does not need to know::

    Env.slot_to_config  {slot: SlotSpec}   (plain data)
      -> SlotTables.specs()                 one TableSpec per slice, rows from the layout
      -> SlotTables.memory_plan()           bytes per table and group (pure Python)
      -> SlotTables.collection              TableCollection: the groups' variables
      -> SlotTables.lookup(features)        OOV remapping, range checks, pooled [B, dim]

The *layout* (the model) says how many rows each slice's table has and which of the
batch's ids it reads (:class:`SliceLayout`): a frequency-bucketed slot's slices hold part
of its ids.

Example:
    >>> import tensorflow as tf
    >>> from nwsrec.features import Env, FeatureColumnV1, FeatureSlot
    >>> env = Env({3: 5})
    >>> FeatureColumnV1(FeatureSlot(env, 3, has_bias=True), "slot_3_0").add_vector(4).shape
    TensorShape([1, 4])
    >>> env.finalize()
    >>> tables = SlotTables(env, VocabLayout(env))
    >>> [(s.name, s.rows, s.dim) for s in tables.specs()]
    [('table_3_0', 5, 1), ('table_3_1', 5, 4)]
    >>> ids = tf.ragged.constant([[0, 4], [2]], dtype=tf.int64)
    >>> {k: v.shape for k, v in tables.lookup({"slot_3_0": ids}).items()}
    {'slot_3_0': TensorShape([2, 1]), 'slot_3_1': TensorShape([2, 4])}
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import tensorflow as tf

from nwsrec.embedding.collection import TableCollection
from nwsrec.embedding.memory import DimsOverride, slot_memory_plan
from nwsrec.embedding.specs import TableSpec
from nwsrec.embedding.table import LookupIds
from nwsrec.embedding.tpu import tpu_embedding_configs
from nwsrec.features.env import Env
from nwsrec.features.memory_plan import TableMemoryPlan
from nwsrec.features.specs import FeatureSlice
from nwsrec.machine import check_tables_fit, format_bytes

__all__ = ["SliceLayout", "SlotTables", "VocabLayout"]

logger = logging.getLogger(__name__)


class SliceLayout(Protocol):
    """How a model lays its slots' ids out in tables (``nwsrec.model.Model`` is one)."""

    def table_rows(self, slot_id: int, index: int) -> int:
        """The rows of slice ``index`` of slot ``slot_id``'s table."""
        ...

    def table_bucket(self, slot_id: int, index: int) -> int | None:
        """The frequency bucket the slice holds (None: every id of the slot)."""
        ...

    def slice_ids(self, feature_slice: FeatureSlice, ids: Any) -> Any:
        """The batch's ids of ``feature_slice`` as rows of its table."""
        ...


class VocabLayout:
    """The plain layout: every slice's table has one row per id of the slot's vocab.

    Args:
        env: the env whose vocab sizes give the rows.
        oov: add the OOV row to every table (for :class:`SlotTables` with ``oov``).
    """

    def __init__(self, env: Env, oov: bool = False) -> None:
        self._env = env
        self._oov = oov

    def table_rows(self, slot_id: int, index: int) -> int:
        """The slot's vocab size (plus the OOV row)."""
        return int(self._env.vocab_size_dict[slot_id]) + (1 if self._oov else 0)

    def table_bucket(self, slot_id: int, index: int) -> int | None:
        """None: a table holds every id of its slot."""
        return None

    def slice_ids(self, feature_slice: FeatureSlice, ids: Any) -> Any:
        """``ids`` as they are."""
        return ids


class SlotTables:
    """The tables of an env's slots: their specs, memory plan, variables and lookup.

    Args:
        env: the model's env (finalized before any table is read).
        layout: rows and ids of each slice (:class:`SliceLayout`).
        grouped: tables of one width and optimizer share one variable (default).
        oov: map ids outside ``[0, vocab size)`` to one extra row per table (the OOV row)
            and count them; False: such ids are an error at lookup.
        use_gradient_accumulation: the memory plan counts an accumulation buffer.
        check_memory: refuse, before allocating, tables the machine cannot hold (not
            under ``ParameterServerStrategy``, whose tables live on the ps tasks).
        owner: who owns the tables, for messages and the log (``"model 'ctr'"``).
        vocab_file: the vocab file, named when a slot is missing from it.
    """

    def __init__(
        self,
        env: Env,
        layout: SliceLayout,
        *,
        grouped: bool = True,
        oov: bool = False,
        use_gradient_accumulation: bool = False,
        check_memory: bool = True,
        owner: str = "model",
        vocab_file: str | None = None,
    ) -> None:
        self.env = env
        self.layout = layout
        self.grouped = grouped
        self.oov = oov
        self.use_gradient_accumulation = use_gradient_accumulation
        self.check_memory = check_memory
        self.owner = owner
        self.vocab_file = vocab_file
        self._collection: TableCollection | None = None
        self._oov_counter: tf.Variable | None = None
        self._lock = threading.Lock()

    # ----------------------------------------------------------------- rows and specs

    def vocab_size(self, slot_id: int) -> int:
        """The vocab size of a slot.

        Raises:
            LookupError: naming the slot, if it is missing from the vocab file.
            ValueError: a vocab size of 0.
        """
        size = self.env.vocab_size_dict.get(slot_id)
        if size is None:
            raise LookupError(
                f"slot {slot_id} must be listed in the vocab file "
                f"{self.vocab_file}. Received: slot_id={slot_id}"
            )
        if size < 1:
            raise ValueError(
                f"vocab size of slot {slot_id} must be >= 1 to build its tables. "
                f"Received: vocab_size={size}"
            )
        return size

    def slot_rows(self, slot_id: int) -> int:
        """Rows of a table of all the slot's ids: its vocab size, plus the OOV row."""
        return self.vocab_size(slot_id) + (1 if self.oov else 0)

    def specs(self) -> list[TableSpec]:
        """The tables of every slice as data: name, rows, dim, optimizer, initializer."""
        return [
            TableSpec(
                name=s.table_name,
                rows=self.layout.table_rows(s.slot_id, s.index),
                dim=s.dim,
                optimizer=s.optimizer,
                initializer=s.initializer,
            )
            for s in self.env.feature_slices()
        ]

    def memory_plan(self, dims_override: DimsOverride | None = None) -> TableMemoryPlan:
        """The memory of the tables (also logged); see
        :func:`~nwsrec.embedding.memory.slot_memory_plan` for ``dims_override``."""
        plan = slot_memory_plan(
            self.env.slot_to_config,
            self.slot_rows,
            self.layout.table_rows,
            self.layout.table_bucket,
            dims_override,
            use_gradient_accumulation=self.use_gradient_accumulation,
            grouped=self.grouped,
        )
        logger.info("%s table memory plan: %s", self.owner, plan.summary())
        return plan

    def check_fit(self) -> None:
        """Refuses, before allocating, tables that the machine's memory cannot hold.

        The need is the plan's ``build_bytes``: its raw bytes plus the largest single
        variable, which is filled from a temporary tensor of its size. Skipped without
        ``check_memory`` and under ``ParameterServerStrategy``.

        Raises:
            nwsrec.machine.TablesDoNotFitError: one line with both figures.
        """
        if not self.check_memory:
            return
        if tf.distribute.has_strategy() and isinstance(
            tf.distribute.get_strategy(), tf.distribute.experimental.ParameterServerStrategy
        ):
            return
        plan = self.memory_plan()
        check_tables_fit(
            plan.build_bytes,
            self.owner,
            detail=(
                f"memory plan: {len(plan.tables)} tables {format_bytes(plan.raw_bytes)}, + "
                f"{format_bytes(plan.build_bytes - plan.raw_bytes)} to fill the largest"
            ),
        )

    def tpu_configs(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(feature_to_config, table_to_config)`` of every slice for TPU embedding
        (:func:`~nwsrec.embedding.tpu.tpu_embedding_configs`), and the memory plan in the
        log."""
        slices = self.env.feature_slices()
        configs = tpu_embedding_configs(self.specs(), [s.feature_name for s in slices])
        self.memory_plan()
        return configs

    # ------------------------------------------------------------------ the variables

    @property
    def collection(self) -> TableCollection:
        """The :class:`~nwsrec.embedding.TableCollection`, built (after :meth:`check_fit`)
        on first access: do it inside the strategy's scope."""
        if self._collection is None:
            with self._lock:
                if self._collection is None:
                    self.check_fit()
                    collection = TableCollection(self.specs(), grouped=self.grouped)
                    if self.oov:
                        self._oov_counter = tf.Variable(
                            0,
                            dtype=tf.int64,
                            trainable=False,
                            name="out_of_range_ids",
                            synchronization=tf.VariableSynchronization.ON_READ,
                            aggregation=tf.VariableAggregation.SUM,
                        )
                    self._collection = collection
        return self._collection

    @property
    def out_of_range_count(self) -> int:
        """Ids outside their slot's vocab mapped to the OOV row so far (with ``oov``)."""
        return 0 if self._oov_counter is None else int(self._oov_counter.numpy())

    # ----------------------------------------------------------------------- lookup

    # Python over the specs only (no control flow on tensors): AutoGraph, which a caller's
    # tf.function applies to what it calls, has nothing to convert here.
    @tf.autograph.experimental.do_not_convert
    def lookup(self, features: Mapping[str, Any]) -> dict[str, tf.Tensor]:
        """Sum-pooled embeddings of every slice for a batch, ``{"slot_{s}_{i}": [B, dim]}``.

        Args:
            features: ``slot_{s}_0`` ids per example (``tf.SparseTensor`` or
                ``tf.RaggedTensor``), which every slice of slot ``s`` reads
                (``slot_{s}_{i}`` where ``slot_{s}_0`` is missing).

        Raises:
            LookupError: naming the feature, if a slot's ids are missing.
        """
        if not isinstance(features, Mapping):
            raise ValueError(
                f"`features` must be a mapping of feature name to tensor. "
                f"Received: features={type(features).__name__}"
            )
        collection = self.collection
        tables = collection.tables
        by_table: dict[str, LookupIds] = {}
        mapped: dict[int, Any] = {}
        # Tables of one slot see the same ids: unpacked once per vocab size, and
        # range-checked by the collection once per table group, not per slot.
        prepared: dict[tuple[int, int], LookupIds] = {}
        slices = self.env.feature_slices()
        for feature_slice in slices:
            slot_id, name = feature_slice.slot_id, feature_slice.feature_name
            ids = features.get(f"slot_{slot_id}_0")
            if ids is None:
                ids = features.get(name)
            if ids is None:
                raise LookupError(
                    f"`features` must hold the ids of slot {slot_id} as {name!r} "
                    f"or 'slot_{slot_id}_0'. Received: keys={sorted(features)[:20]}"
                )
            if self.oov:
                if slot_id not in mapped:
                    mapped[slot_id] = self._map_out_of_range(slot_id, ids)
                ids = mapped[slot_id]
            ids = self.layout.slice_ids(feature_slice, ids)
            table = tables[feature_slice.table_name]
            key = (id(ids), table.vocab_size)
            if key not in prepared:  # `ids` stays alive in `features`: its id is not reused
                prepared[key] = collection.prepare(table.name, ids, check=False)
            by_table[table.name] = prepared[key]
        pooled = collection.lookup(by_table)
        return {s.feature_name: pooled[s.table_name] for s in slices}

    def concat(self, pooled: Sequence[tf.Tensor]) -> tf.Tensor:
        """``tf.concat(pooled, axis=1)`` of embeddings of the last :meth:`lookup`, with
        the runs of one table group's members taken from its result by one transpose
        (:meth:`nwsrec.embedding.collection.TableCollection.concat`). Before the tables
        are built (the model's discovery) it is ``tf.concat``."""
        if self._collection is None:
            return tf.concat(list(pooled), axis=1)
        return self._collection.concat(pooled)

    def _map_out_of_range(self, slot_id: int, ids: Any) -> Any:
        """``ids`` with every id outside ``[0, vocab size)`` replaced by the OOV row."""
        size = self.vocab_size(slot_id)
        values = ids.values
        bad = tf.logical_or(values < 0, values >= size)
        if self._oov_counter is not None:
            self._oov_counter.assign_add(tf.reduce_sum(tf.cast(bad, tf.int64)))
        values = tf.where(bad, tf.constant(size, values.dtype), values)
        if isinstance(ids, tf.SparseTensor):
            return tf.SparseTensor(ids.indices, values, ids.dense_shape)
        return ids.with_values(values)
