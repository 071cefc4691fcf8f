"""Feature slots, slices and columns, vocab files, and the table memory plan.

- :class:`Env`: a model's slots, discovery then per-step rounds.
- :class:`FeatureSlot`, :class:`FeatureColumnV1`: Sail-style declarations inside
  ``logits_fn``; :class:`SlotSpec` and :class:`FeatureSlice`: what they declare, as the
  plain data the env records and the tables are built from.
- :func:`read_vocab_file`: ``{slot_id: vocab_size}`` from a TSV.
- :data:`OPTIMIZER_SLOT_NAMES` (the one table of supported optimizers and their slot
  variables), :func:`parameter_copies`, and the default optimizers / initializers.
- :class:`TableMemoryPlan`, :class:`TableMemoryRow`, :func:`padding_8`: memory planning.
"""

from nwsrec.features.env import Env
from nwsrec.features.memory_plan import (
    FLOAT32_BYTES,
    TableMemoryPlan,
    TableMemoryRow,
    format_bytes,
    padding_8,
)
from nwsrec.features.optimizers import (
    OPTIMIZER_SLOT_NAMES,
    ROWWISE_SLOT_NAMES,
    SUPPORTED_OPTIMIZERS,
    AdagradRowwise,
    EmbeddingOptimizer,
    Initializer,
    SlotDefaults,
    default_bias_initializer,
    default_bias_optimizer,
    default_slot_defaults,
    default_vec_initializer,
    default_vec_optimizer,
    optimizer_name,
    optimizer_slot_names,
    parameter_copies,
    row_state_floats,
    supported_optimizer_names,
)
from nwsrec.features.slots import FeatureColumnV1, FeatureSlot
from nwsrec.features.specs import FeatureSlice, SlotSpec
from nwsrec.features.vocab import read_vocab_file

__all__ = [
    "FLOAT32_BYTES",
    "OPTIMIZER_SLOT_NAMES",
    "ROWWISE_SLOT_NAMES",
    "SUPPORTED_OPTIMIZERS",
    "AdagradRowwise",
    "EmbeddingOptimizer",
    "Env",
    "FeatureColumnV1",
    "FeatureSlice",
    "FeatureSlot",
    "Initializer",
    "SlotDefaults",
    "SlotSpec",
    "TableMemoryPlan",
    "TableMemoryRow",
    "default_bias_initializer",
    "default_bias_optimizer",
    "default_slot_defaults",
    "default_vec_initializer",
    "default_vec_optimizer",
    "format_bytes",
    "optimizer_name",
    "optimizer_slot_names",
    "padding_8",
    "parameter_copies",
    "read_vocab_file",
    "row_state_floats",
    "supported_optimizer_names",
]
