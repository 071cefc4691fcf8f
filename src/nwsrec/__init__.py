"""nwsrec: sparse-feature recommendation models with neural width search.

Sub-packages:

- ``nwsrec.layers``: Keras 3 layers (``MixedEmbedOpComb``, ``TeacherEmbeddingTransform``).
- ``nwsrec.features``: feature slots, slices, columns, vocab files, optimizer accounting.
- ``nwsrec.embedding``: embedding tables with per-table sparse optimizers, memory plans.
- ``nwsrec.data``: TFRecord input pipeline and data writers.
- ``nwsrec.model``: the Sail-like ``Model`` base class.
- ``nwsrec.registry`` / ``nwsrec.model_imports``: models found by dotted name.
- ``nwsrec.training``: the training loop, checkpoints, evaluation and summaries.
- ``nwsrec.cli``: the ``nwsrec`` command line.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
