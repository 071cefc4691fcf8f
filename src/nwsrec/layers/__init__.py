"""Keras 3 layers of nwsrec.

- :class:`MixedEmbedOpComb`: neural width search over the embedding size of each slot.
- :class:`TeacherEmbeddingTransform`: per-slot linear maps of a teacher embedding, for
  distillation into a ``MixedEmbedOpComb``.

They are written with ``keras.ops`` and ``keras.random`` only, so they run on the
TensorFlow and JAX backends (``tests/layers/test_backends.py`` runs their tests under JAX).
"""

from nwsrec.layers.nws import MixedEmbedOpComb
from nwsrec.layers.teacher import TeacherEmbeddingTransform

__all__ = ["MixedEmbedOpComb", "TeacherEmbeddingTransform"]
