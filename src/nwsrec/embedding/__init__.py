"""nwsrec.embedding: embedding tables trained by their own sparse optimizers on CPU/GPU.

- :class:`EmbeddingTable`: a ``tf.Variable`` ``[vocab_size, dim]`` with its optimizer slots;
  ``lookup`` sum-pools ids, ``apply_gradient`` updates only the looked-up rows.
- :func:`make_sparse_optimizer`: the row optimizer for a ``tf.tpu.experimental.embedding``
  ``SGD``, ``Adagrad``, ``Adam`` or ``FTRL`` object (see :mod:`nwsrec.embedding.optimizers`
  for the formulas).
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

from nwsrec.embedding.optimizers import (
    SUPPORTED_OPTIMIZERS,
    SparseAdagrad,
    SparseAdam,
    SparseFTRL,
    SparseOptimizer,
    SparseSGD,
    make_sparse_optimizer,
)
from nwsrec.embedding.table import EmbeddingTable, LookupIds

__all__ = [
    "LookupIds",
    "SUPPORTED_OPTIMIZERS",
    "EmbeddingTable",
    "SparseAdagrad",
    "SparseAdam",
    "SparseFTRL",
    "SparseOptimizer",
    "SparseSGD",
    "make_sparse_optimizer",
]
