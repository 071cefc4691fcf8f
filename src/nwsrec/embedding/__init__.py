"""nwsrec.embedding: embedding tables trained by their own sparse optimizers on CPU/GPU.

- :class:`TableSpec` (:mod:`nwsrec.embedding.specs`): a table as plain data;
  :func:`plan_groups`: which tables share one variable (same width, dtype and optimizer).
- :class:`TableCollection` (:mod:`nwsrec.embedding.collection`): a model's tables built
  from their specs as :class:`TableGroup` s (one variable per group, each table at its
  row offset; one gather, unique, optimizer update and scatter per group and step), with
  a :class:`TableView` of each table.
- :class:`SlotTables` (:mod:`nwsrec.embedding.slot_tables`): a model's tables built from
  its slots' specs (:class:`nwsrec.features.SlotSpec`): rows, memory plan
  (:func:`slot_memory_plan`), the collection, and the batch's lookup with its range checks
  and out-of-range (OOV) remapping.
- :class:`EmbeddingTable`: a ``tf.Variable`` ``[vocab_size, dim]`` with its optimizer slots;
  ``lookup`` sum-pools ids, ``apply_gradient`` updates only the looked-up rows.
- :func:`make_sparse_optimizer`: the row optimizer for a ``tf.tpu.experimental.embedding``
  ``SGD``, ``Adagrad``, ``Adam`` or ``FTRL`` object, or an
  :class:`nwsrec.features.AdagradRowwise` (see :mod:`nwsrec.embedding.optimizers` for the
  formulas).
- :data:`SUPPORTED_OPTIMIZERS`: re-exported from :mod:`nwsrec.features`, whose
  ``OPTIMIZER_SLOT_NAMES`` is the one table of the supported optimizers and the slot
  variables each one allocates (``nwsrec.embedding`` imports ``nwsrec.features``, never
  the reverse).

Example:
    >>> import tensorflow as tf
    >>> table = EmbeddingTable("table_1_0", 1000, 16, tf.tpu.experimental.embedding.FTRL(0.05))
    >>> table.parameter_copies
    3
"""

from nwsrec.embedding.collection import TableCollection, TableGroup, TableView
from nwsrec.embedding.memory import slot_memory_plan
from nwsrec.embedding.optimizers import (
    SUPPORTED_OPTIMIZERS,
    SparseAdagrad,
    SparseAdagradRowwise,
    SparseAdam,
    SparseFTRL,
    SparseOptimizer,
    SparseSGD,
    make_sparse_optimizer,
)
from nwsrec.embedding.slot_tables import SliceLayout, SlotTables, VocabLayout
from nwsrec.embedding.specs import GroupPlan, TableSpec, plan_groups
from nwsrec.embedding.table import EmbeddingTable, LookupIds

__all__ = [
    "LookupIds",
    "SUPPORTED_OPTIMIZERS",
    "EmbeddingTable",
    "GroupPlan",
    "SparseAdagrad",
    "SparseAdagradRowwise",
    "SparseAdam",
    "SparseFTRL",
    "SparseOptimizer",
    "SparseSGD",
    "SliceLayout",
    "SlotTables",
    "TableCollection",
    "TableGroup",
    "TableSpec",
    "TableView",
    "VocabLayout",
    "make_sparse_optimizer",
    "plan_groups",
    "slot_memory_plan",
]
