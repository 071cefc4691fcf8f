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
- ``nwsrec.machine``: available memory, the allocator and huge pages.
"""

from nwsrec.machine import use_system_allocator

__version__ = "0.1.0"

# Before TensorFlow's first allocation: its oneDNN pool would keep every temporary copy of
# a table resident (see nwsrec.machine). An explicit TF_ONEDNN_USE_SYSTEM_ALLOCATOR wins.
use_system_allocator()

__all__ = ["__version__"]
