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

__all__ = ["CriteoSynthModel"]


@register(name="criteo_synth")
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
        """The synthetic task's search (see ``SyntheticModel.default_params``) on this data.

        The same one-shot supernet (3x the training steps, uniform draws of the non-zero
        sizes) and held-out selection; the tolerance is the synthetic task's. Not tuned
        on this data beyond that: bench/search_quality.py measures it.
        """
        return {
            **super().default_params(),
            "data_dir": "runs/data/criteo-synth",
            "batch_size": 512,
            "train_steps": 2000,
            "search_steps": 6000,
            "checkpoint_every_steps": 1000,
            "log_every_steps": 100,
            "candidate_sizes": [0, 4, 8, 16],
            "hidden_units": [64],
            "dense_learning_rate": 0.003,
            "vec_learning_rate": 0.2,
            "bias_learning_rate": 0.05,
            "arch_learning_rate": 0.01,
            "nws_mode": "sample",
            "width_penalty": 0.0,
            "warmup_steps": 6000,
            "pretraining_steps": 6000,
            "arch_warmup_steps": 6000,
            "holdout_every": 10,
            "width_selection": "holdout",
            "selection_tolerance": 3e-4,
            "seed": 0,
        }
