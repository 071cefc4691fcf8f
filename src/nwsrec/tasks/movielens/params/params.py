"""``MovieLensModel``: width search on MovieLens-100K.

Registered as ``movielens``. Data: ``nwsrec datasets fetch movielens-100k`` writes it to
``runs/data/movielens-100k`` (the default ``data_dir``). Slots: user id, item id, age,
gender, occupation, zip code, release year, genres (multi-valued); see
:mod:`nwsrec.data.movielens`.
"""

from __future__ import annotations

from typing import Any

from nwsrec.registry import register
from nwsrec.training.search_model import WidthSearchModel

__all__ = ["MovieLensModel"]


@register(name="movielens")
class MovieLensModel(WidthSearchModel):
    """DNN over (masked) slot embeddings plus per-slot bias on MovieLens-100K.

    Args:
        params: :meth:`default_params` with overrides.

    Example:
        >>> MovieLensModel.default_params()["data_dir"]
        'runs/data/movielens-100k'
    """

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        """Defaults for the 80k/20k MovieLens-100K split."""
        return {
            **super().default_params(),
            "data_dir": "runs/data/movielens-100k",
            "batch_size": 256,
            "train_steps": 1500,
            "checkpoint_every_steps": 500,
            "log_every_steps": 100,
            "candidate_sizes": [0, 4, 8, 16],
            "hidden_units": [64],
            "dense_learning_rate": 0.002,
            "vec_learning_rate": 0.1,
            "bias_learning_rate": 0.05,
            "arch_learning_rate": 0.01,
            "nws_mode": "mixed",
            "width_penalty": 3e-6,
            "pretraining_steps": 600,
            "arch_warmup_steps": 600,
            "seed": 0,
        }
