"""``SyntheticModel``: width search on the seeded synthetic data (the embedded default).

Registered as ``synthetic``. Data: ``nwsrec datasets generate synthetic`` writes it to
``runs/data/synthetic`` (the default ``data_dir``).
"""

from __future__ import annotations

from typing import Any

from nwsrec.registry import register
from nwsrec.training.search_model import WidthSearchModel

__all__ = ["SyntheticModel"]


@register(name="synthetic")
class SyntheticModel(WidthSearchModel):
    """DNN over (masked) slot embeddings plus per-slot bias on the synthetic data.

    Args:
        params: :meth:`default_params` with overrides.

    Example:
        >>> SyntheticModel.default_params()["candidate_sizes"]
        [0, 4, 8, 16]
    """

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        """Tuned on the default synthetic data (seed 0; see bench/search_quality.py).

        ``nws_mode="mixed"`` (every size's segment weighted by its probability, a dense
        gradient for every architecture weight on every step) separates signal from noise
        slots far better than one draw per step; a small ``width_penalty`` trades the
        remaining width against the task loss (under Adam, 1e-4 already drops every slot).
        """
        return {
            **super().default_params(),
            "data_dir": "runs/data/synthetic",
            "batch_size": 512,
            "train_steps": 2000,
            "checkpoint_every_steps": 1000,
            "log_every_steps": 100,
            "candidate_sizes": [0, 4, 8, 16],
            "hidden_units": [64],
            "dense_learning_rate": 0.003,
            "vec_learning_rate": 0.2,
            "bias_learning_rate": 0.05,
            "arch_learning_rate": 0.01,
            "nws_mode": "mixed",
            "width_penalty": 3e-6,
            "warmup_steps": 0,
            "pretraining_steps": 800,
            "arch_warmup_steps": 800,
            "seed": 0,
        }
