"""nwsrec.search: the embedding-width search.

- :class:`WidthSearchModel` (``nwsrec.search.model``): a DNN over slot embeddings plus a
  per-slot bias, in search mode (one ``MixedEmbedOpComb`` over every slot) or at fixed
  widths (a retrain).
- :class:`HoldoutEvaluator`, :func:`holdout_batches` (``nwsrec.search.evaluator``): a
  trained search's per-example loss, at any choice of widths, on records held out of its
  training.
- :class:`FrontierSearch` (``nwsrec.search.frontier``): the loss vs memory frontier and
  how a point of it is chosen; :mod:`nwsrec.search.stats`: paired intervals,
  recalibration, rank agreement.
- :func:`search_frontier`, :func:`select_widths` (``nwsrec.search.select``): the
  selection strategies run on a trainer.
- :func:`search_result`, :func:`write_search_result`, :func:`read_search_dims`
  (``nwsrec.search.result``): ``search_result.json`` and its one reader (``--dims``).
- :func:`plot_search` (``nwsrec.search.plot``): ``search.png``.
"""

from nwsrec.search.evaluator import HoldoutEvaluator, holdout_batches
from nwsrec.search.frontier import Frontier, FrontierSearch
from nwsrec.search.model import WidthSearchModel, check_slot_dims, embedding_parameters
from nwsrec.search.plot import plot_search
from nwsrec.search.result import read_search_dims, search_result, write_search_result
from nwsrec.search.select import Selection, search_frontier, select_widths

__all__ = [
    "Frontier",
    "FrontierSearch",
    "HoldoutEvaluator",
    "Selection",
    "WidthSearchModel",
    "check_slot_dims",
    "embedding_parameters",
    "holdout_batches",
    "plot_search",
    "read_search_dims",
    "search_frontier",
    "search_result",
    "select_widths",
    "write_search_result",
]
