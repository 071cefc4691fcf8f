"""nwsrec.search: the embedding-width search.

- :class:`WidthSearchModel` (``nwsrec.search.model``): a DNN over slot embeddings plus a
  per-slot bias, in search mode (one ``MixedEmbedOpComb`` over every slot) or at fixed
  widths (a retrain).
- :func:`select_widths`, :func:`holdout_batches` (``nwsrec.search.select``): each slot's
  width picked on records held out of the search's training.
- :func:`search_result`, :func:`write_search_result`, :func:`read_search_dims`
  (``nwsrec.search.result``): ``search_result.json`` and its one reader (``--dims``).
- :func:`plot_search` (``nwsrec.search.plot``): ``search.png``.
"""

from nwsrec.search.model import WidthSearchModel, check_slot_dims, embedding_parameters
from nwsrec.search.plot import plot_search
from nwsrec.search.result import read_search_dims, search_result, write_search_result
from nwsrec.search.select import Selection, holdout_batches, pinned_sizes, select_widths

__all__ = [
    "Selection",
    "WidthSearchModel",
    "check_slot_dims",
    "embedding_parameters",
    "holdout_batches",
    "pinned_sizes",
    "plot_search",
    "read_search_dims",
    "search_result",
    "select_widths",
    "write_search_result",
]
