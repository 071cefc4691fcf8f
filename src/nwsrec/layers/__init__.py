"""Keras 3 layers of nwsrec.

- :class:`MixedEmbedOpComb`: neural width search over the embedding size of each slot.
- :class:`TeacherEmbeddingTransform`: per-slot linear maps of a teacher embedding, for
  distillation into a ``MixedEmbedOpComb``.
"""

from nwsrec.layers.nws import MixedEmbedOpComb
from nwsrec.layers.teacher import TeacherEmbeddingTransform

__all__ = ["MixedEmbedOpComb", "TeacherEmbeddingTransform"]
