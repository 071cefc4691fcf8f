"""``CriteoSynthModel``: width search on the Criteo-shaped synthetic data.

Registered as ``criteo_synth``. Data: ``nwsrec datasets generate criteo`` writes it to
``runs/data/criteo-synth`` (the default ``data_dir``): 26 slots sized after the Criteo
Kaggle categorical fields (scaled), Zipf ids, a planted truth
(:mod:`nwsrec.data.criteo`).
"""

from __future__ import annotations

from typing import Any

from nwsrec.registry import register
from nwsrec.search.model import WidthSearchModel
from nwsrec.tasks.synthetic.params.params import SyntheticModel

__all__ = ["CriteoSynthModel"]


@register(name="criteo_synth", make_data="nwsrec datasets generate criteo")
class CriteoSynthModel(WidthSearchModel):
    """DNN over (masked) slot embeddings plus per-slot bias on the Criteo-shaped data.

    Args:
        params: :meth:`default_params` with overrides.

    Example:
        >>> CriteoSynthModel.default_params()["data_dir"]
        'runs/data/criteo-synth'
    """

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        """The synthetic task's params (``SyntheticModel.default_params``) on this data.

        The same one-shot supernet search and held-out selection, whatever that task
        sets (so the two stay alike); only ``data_dir`` differs. Not tuned on this data:
        bench/search_quality.py measures it.
        """
        return {**SyntheticModel.default_params(), "data_dir": "runs/data/criteo-synth"}
