"""``SyntheticModel``: width search on the seeded synthetic data (the embedded default).

Registered as ``synthetic``. Data: ``nwsrec datasets generate synthetic`` writes it to
``runs/data/synthetic`` (the default ``data_dir``).
"""

from __future__ import annotations

from typing import Any

from nwsrec.registry import register
from nwsrec.search.model import TASK_DEFAULTS, WidthSearchModel

__all__ = ["SyntheticModel"]


@register(name="synthetic", make_data="nwsrec datasets generate synthetic")
class SyntheticModel(WidthSearchModel):
    """DNN over (masked) slot embeddings plus per-slot bias on the synthetic data.

    Args:
        params: :meth:`default_params` with overrides.

    Example:
        >>> SyntheticModel.default_params()["candidate_sizes"]
        [0, 1, 2, 4, 8, 16]
    """

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        """:data:`nwsrec.search.model.TASK_DEFAULTS` on the synthetic data.

        The search is a one-shot "supernet" run: every step draws one non-zero size per
        slot uniformly (``nws_mode="sample"``), so the one network learns to work with
        every width of every slot; it is stopped, like a training run, at its best
        held-out AUC at full width. One training record in ten is held out of it
        (``holdout_every``), on which the widths are chosen (``width_selection=
        "frontier"``, ``nwsrec.search.frontier``; size 0 is tried there too): the
        frontier of held-out loss against embedding parameters, every uniform width a
        point of it, and by default its smallest point whose loss is, with 95%
        confidence, within ``selection_tolerance`` of the best point's (``--budget``
        picks another). The learning rates are the ones measured on held-out training
        records (``bench/ctr_tuning.py``).
        """
        return {
            **super().default_params(),
            **TASK_DEFAULTS,
            "data_dir": "runs/data/synthetic",
            "batch_size": 512,
            "train_steps": 2000,
            "checkpoint_every_steps": 1000,
            "log_every_steps": 100,
            "dense_learning_rate": 0.003,
            "vec_learning_rate": 0.2,
            "bias_learning_rate": 0.05,
            "arch_learning_rate": 0.01,
        }
