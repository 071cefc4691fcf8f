"""``nwsrec demo``: a short neural width search on generated data (interim demo).

Trains a small Keras model with :class:`nwsrec.layers.MixedEmbedOpComb` on generated
click data with ``model.fit`` for a few hundred steps, then prints each slot's choice
probabilities and chosen embedding size. The data has slots of different strength, from
strong to pure noise, so the search has something to find: with the width penalty the
noise slots should end at size 0 and the strong ones keep an embedding.

This is the interim demo of issue 2; the end-to-end demo (input pipeline, embedding
tables, the trainer) replaces it.

Example:
    $ nwsrec demo --steps 400
"""

from __future__ import annotations

import argparse
import time
from typing import Any

# Generated slots: (name, strength of its effect on the click logit).
DEMO_SLOTS = [
    ("user_id", 1.6),
    ("item_id", 1.6),
    ("category", 0.8),
    ("hour", 0.3),
    ("noise_a", 0.0),
    ("noise_b", 0.0),
]
DEMO_CHOICES = [0, 4, 8]
DEMO_VOCAB = 64


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` sub-command."""
    parser = subparsers.add_parser(
        "demo",
        help="run a short neural width search on generated data",
        description=(
            "Train a small Keras model with the neural width search layer on generated click"
            " data, then print each slot's choice probabilities and chosen embedding size."
        ),
    )
    parser.add_argument("--steps", type=int, default=400, help="training steps (default 400)")
    parser.add_argument("--batch-size", type=int, default=256, help="default 256")
    parser.add_argument("--seed", type=int, default=0, help="seed of data, weights, draws")
    parser.add_argument(
        "--width-penalty",
        type=float,
        default=0.0,
        help="loss added per expected embedding dimension (default 0)",
    )
    parser.set_defaults(func=run)


def _generate(num_examples: int, seed: int, sample_seed: int) -> tuple[Any, Any]:
    """Ids ``[n, num_slots]`` and click labels ``[n, 1]`` from a known logit model.

    The model (drawn from ``seed``): each slot's ids act through a 4-dimensional latent
    vector, the logit is the sum over slots of ``strength * <latent(id), direction>``
    plus a user-item interaction. The examples are drawn from ``sample_seed``.
    """
    import numpy as np

    truth = np.random.default_rng(seed)
    num_slots = len(DEMO_SLOTS)
    latent = truth.normal(size=(num_slots, DEMO_VOCAB, 4))
    direction = truth.normal(size=(num_slots, 4)) / 2.0
    rng = np.random.default_rng([seed, sample_seed])
    ids = rng.integers(0, DEMO_VOCAB, size=(num_examples, num_slots))
    logit = np.zeros(num_examples)
    for s, (_, strength) in enumerate(DEMO_SLOTS):
        logit += strength * latent[s, ids[:, s]] @ direction[s]
    logit += 0.5 * np.sum(latent[0, ids[:, 0]] * latent[1, ids[:, 1]], axis=1)
    labels = (rng.random(num_examples) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    return ids.astype(np.int32), labels[:, None]


def _build_model(seed: int, width_penalty: float) -> Any:
    import keras

    from nwsrec.layers import MixedEmbedOpComb

    names = [name for name, _ in DEMO_SLOTS]
    num_slots, width = len(names), sum(DEMO_CHOICES)

    class WidthSearchModel(keras.Model):
        """Per-slot embeddings -> MixedEmbedOpComb -> MLP, with a width penalty."""

        def __init__(self) -> None:
            super().__init__(name="demo")
            self.embedding = keras.layers.Embedding(
                num_slots * DEMO_VOCAB,
                width,
                embeddings_initializer=keras.initializers.RandomNormal(stddev=0.1, seed=seed),
            )
            self.nws = MixedEmbedOpComb(
                names,
                [DEMO_CHOICES] * num_slots,
                warmup_steps=50,
                pretraining_steps=50,
                seed=seed,
                name="nws",
            )
            self.hidden = keras.layers.Dense(
                32, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(seed)
            )
            self.logit = keras.layers.Dense(
                1, kernel_initializer=keras.initializers.GlorotUniform(seed + 1)
            )

        def call(self, ids: Any, training: bool | None = None) -> Any:
            offsets = keras.ops.arange(num_slots, dtype="int32") * DEMO_VOCAB
            x = keras.ops.reshape(self.embedding(ids + offsets), (-1, num_slots * width))
            x = self.nws(x, training=training)
            return self.logit(self.hidden(x))

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            loss = super().compute_loss(x, y, y_pred, sample_weight, training=training)
            return loss + width_penalty * self.nws.get_summaries()["expected_emb_dims"]

    model = WidthSearchModel()
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[keras.metrics.AUC(from_logits=True, name="auc")],
    )
    return model


def run(args: argparse.Namespace) -> int:
    """Train, then print each slot's probabilities and chosen size."""
    if args.steps <= 0 or args.batch_size <= 0:
        raise ValueError(
            "`--steps` and `--batch-size` must be positive. "
            f"Received: steps={args.steps}, batch_size={args.batch_size}"
        )
    import keras

    keras.utils.set_random_seed(args.seed)
    start = time.perf_counter()
    ids, labels = _generate(args.steps * args.batch_size, args.seed, 0)
    eval_ids, eval_labels = _generate(8192, args.seed, 1)
    model = _build_model(args.seed, args.width_penalty)
    print(
        f"nwsrec demo: {len(DEMO_SLOTS)} slots, candidate sizes {DEMO_CHOICES}, "
        f"{args.steps} steps of batch {args.batch_size}"
    )
    model.fit(ids, labels, batch_size=args.batch_size, epochs=1, shuffle=False, verbose=0)
    _, auc = model.evaluate(eval_ids, eval_labels, batch_size=2048, verbose=0)

    nws = model.nws
    probabilities = nws.choice_probabilities()
    chosen = nws.chosen_embedding_sizes()
    header = "  ".join(f"p(size={c})" for c in DEMO_CHOICES)
    print(f"\n{'slot':<10} {'strength':>8}  {header}  chosen size")
    for name, strength in DEMO_SLOTS:
        probs = "  ".join(
            f"{p:>{len(f'p(size={c})')}.3f}"
            for p, c in zip(probabilities[name], DEMO_CHOICES, strict=True)
        )
        print(f"{name:<10} {strength:>8.1f}  {probs}  {chosen[name]:>11}")
    summaries = nws.get_summaries()
    print(
        f"\nstep {int(nws.step.numpy())}, held-out AUC {auc:.3f}, "
        f"expected embedding dims {float(summaries['expected_emb_dims']):.1f} "
        f"(of {len(DEMO_SLOTS) * max(DEMO_CHOICES)}), {time.perf_counter() - start:.1f} s"
    )
    return 0
