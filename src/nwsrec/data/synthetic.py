"""Seeded synthetic CTR data whose best embedding widths are known.

The data set has a few dozen slots of Zipf-distributed ids. Some slots carry signal, the
rest are pure noise. Every signal slot ``s`` has a rank ``r_s`` and a latent matrix
``U_s`` (``[vocab, r_s]``, N(0, 1) entries); signal slots interact in pairs along a
seeded ring: slot ``k`` of the ring with the ``interaction_neighbors`` slots after it
(and so, with as many before it), each pair through a random bilinear form::

    logit(x) = b0 + scale * sum over edges (a, b) of  U_a[id_a]^T  A_ab  U_b[id_b]
    label    ~ Bernoulli(sigmoid(logit))

``A_ab`` is ``[r_a, r_b]`` with N(0, 1 / (r_a r_b)) entries, so every edge's term has
unit variance whatever the ranks. A slot of rank ``r`` needs about ``r`` embedding dims
to express its part of the label; its value never hinges on one partner (it has
``2 * interaction_neighbors`` of them, when there are enough signal slots). A noise slot
is independent of the label and deserves width 0. Interactions are the only signal: a
per-id main effect is captured by a model's per-slot bias alone and would not need any
embedding width.

Signal slots come in pairs of equal rank, one pair per entry of ``pair_ranks``; the
first pair's slots are ring neighbours, and so on.

Files written to ``out_dir``::

    train-00000-of-0000N.tfrecord ...   tf.train.Example: slot_{s}_0 (int64), label (float)
    test-00000-of-0000N.tfrecord ...
    vocab.tsv                           slot_id<TAB>vocab size, one line per slot
    truth.json                          the config, each slot's kind/rank/partners, and the
                                        Bayes-optimal test AUC and log loss

Example:
    >>> truth = generate_synthetic("/tmp/synth", SyntheticConfig(num_train=1000))
    >>> sorted(truth.noise_slots())[:3]  # doctest: +SKIP
    [2, 5, 7]
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os

import numpy as np

from nwsrec.data.counts import write_id_counts
from nwsrec.data.planted import PlantedTruthMixin, ring_edges
from nwsrec.files import write_text_atomic

logger = logging.getLogger(__name__)

__all__ = [
    "SlotTruth",
    "SyntheticConfig",
    "SyntheticTruth",
    "generate_synthetic",
    "load_truth",
]

TRUTH_FILE = "truth.json"
VOCAB_FILE = "vocab.tsv"


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    """How to generate the synthetic data set.

    Args:
        seed: seed of every random draw; the same config gives byte-identical files.
        num_train: training examples.
        num_test: held-out examples.
        num_files: files per split (at least 1).
        pair_ranks: two signal slots per entry, both of that rank.
        interaction_neighbors: each signal slot interacts with this many ring neighbours
            on either side (fewer when there are not enough signal slots).
        num_noise_slots: slots independent of the label.
        vocab_size: ids per slot.
        zipf_exponent: id ``k`` (after a per-slot permutation) has probability
            proportional to ``1 / (k + 1) ** zipf_exponent``.
        interaction_scale: weight of each edge's bilinear term in the logit.
        base_logit: the constant ``b0`` of the logit.
    """

    seed: int = 0
    num_train: int = 200_000
    num_test: int = 50_000
    num_files: int = 4
    pair_ranks: tuple[int, ...] = (1, 1, 2, 2, 4, 4, 8, 8)
    interaction_neighbors: int = 2
    num_noise_slots: int = 16
    vocab_size: int = 500
    zipf_exponent: float = 1.05
    interaction_scale: float = 0.3
    base_logit: float = -0.5

    def __post_init__(self) -> None:
        for name in ("num_train", "num_test", "num_files", "vocab_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
        if self.num_noise_slots < 0:
            raise ValueError(
                "`num_noise_slots` must be >= 0. "
                f"Received: num_noise_slots={self.num_noise_slots!r}"
            )
        if self.interaction_neighbors < 1:
            raise ValueError(
                "`interaction_neighbors` must be >= 1. "
                f"Received: interaction_neighbors={self.interaction_neighbors!r}"
            )
        if any(int(r) < 1 for r in self.pair_ranks):
            raise ValueError(
                f"`pair_ranks` must all be >= 1. Received: pair_ranks={self.pair_ranks!r}"
            )
        if self.zipf_exponent < 0:
            raise ValueError(
                f"`zipf_exponent` must be >= 0. Received: zipf_exponent={self.zipf_exponent!r}"
            )
        object.__setattr__(self, "pair_ranks", tuple(int(r) for r in self.pair_ranks))

    @property
    def num_slots(self) -> int:
        """Total number of slots (two per pair plus the noise slots)."""
        return 2 * len(self.pair_ranks) + self.num_noise_slots


@dataclasses.dataclass(frozen=True)
class SlotTruth:
    """The truth about one slot.

    Args:
        slot_id: the slot's id (features ``slot_{slot_id}_0``).
        kind: ``"signal"`` or ``"noise"``.
        rank: rank of its latent matrix (0 for noise).
        partners: the slots it interacts with (empty for noise).
    """

    slot_id: int
    kind: str
    rank: int
    partners: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class SyntheticTruth(PlantedTruthMixin):
    """What generated a synthetic data set, as saved in ``truth.json``.

    Args:
        config: the generation config.
        slots: the truth of every slot, by slot id.
        bayes_test_auc: AUC of the true logits on the test split.
        bayes_test_log_loss: log loss of the true probabilities on the test split.
    """

    config: SyntheticConfig
    slots: dict[int, SlotTruth]
    bayes_test_auc: float
    bayes_test_log_loss: float

    def to_json(self) -> dict:
        """A JSON-serializable dict (the content of ``truth.json``)."""
        return {
            "config": dataclasses.asdict(self.config),
            "slots": {str(s): dataclasses.asdict(t) for s, t in sorted(self.slots.items())},
            "bayes_test_auc": self.bayes_test_auc,
            "bayes_test_log_loss": self.bayes_test_log_loss,
        }


def load_truth(data_dir: str | os.PathLike) -> SyntheticTruth:
    """Reads ``truth.json`` from a directory written by :func:`generate_synthetic`.

    Args:
        data_dir: the directory.

    Returns:
        The saved truth.

    Example:
        >>> load_truth("/tmp/synth").noise_slots()  # doctest: +SKIP
    """
    path = os.path.join(os.fspath(data_dir), TRUTH_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"`data_dir` must hold {TRUTH_FILE} written by generate_synthetic. "
            f"Received: data_dir={os.fspath(data_dir)!r}"
        )
    with open(path, encoding="utf-8") as f:
        raw = json.load(f)
    config = SyntheticConfig(**{**raw["config"], "pair_ranks": tuple(raw["config"]["pair_ranks"])})
    slots = {
        int(s): SlotTruth(**{**t, "partners": tuple(t.get("partners", ()))})
        for s, t in raw["slots"].items()
    }
    return SyntheticTruth(config, slots, raw["bayes_test_auc"], raw["bayes_test_log_loss"])


def _zipf_ids(rng: np.random.Generator, vocab: int, exponent: float, n: int) -> np.ndarray:
    probs = 1.0 / np.arange(1, vocab + 1, dtype=np.float64) ** exponent
    probs /= probs.sum()
    ranks = rng.choice(vocab, size=n, p=probs)
    return rng.permutation(vocab)[ranks]


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    from nwsrec.metrics import exact_auc

    return exact_auc(labels, scores)


def generate_synthetic(
    out_dir: str | os.PathLike, config: SyntheticConfig | None = None
) -> SyntheticTruth:
    """Generates the synthetic data set into ``out_dir`` and returns its truth.

    Slot ids run from 1 to ``config.num_slots``; which of them are signal or noise is a
    seeded permutation, so the ids say nothing about the kind.

    Args:
        out_dir: target directory (created if missing; existing files are overwritten).
        config: generation config; default ``SyntheticConfig()``.

    Returns:
        The truth, also written to ``out_dir/truth.json``.

    Example:
        >>> generate_synthetic("/tmp/s", SyntheticConfig(num_train=1000))  # doctest: +SKIP
    """
    from nwsrec.data.writer import ShardedExampleWriter, serialize_example
    from nwsrec.metrics import log_loss

    config = config or SyntheticConfig()
    out_dir = os.fspath(out_dir)
    rng = np.random.default_rng(config.seed)
    n_total = config.num_train + config.num_test
    slot_ids = rng.permutation(np.arange(1, config.num_slots + 1)).tolist()
    num_signal = 2 * len(config.pair_ranks)
    ring = slot_ids[:num_signal]
    ranks = {s: config.pair_ranks[k // 2] for k, s in enumerate(ring)}
    edges = [(ring[a], ring[b]) for a, b in ring_edges(num_signal, config.interaction_neighbors)]
    partners: dict[int, list[int]] = {s: [] for s in ring}
    for a, b in edges:
        partners[a].append(b)
        partners[b].append(a)

    slots: dict[int, SlotTruth] = {}
    ids: dict[int, np.ndarray] = {}
    latent: dict[int, np.ndarray] = {}
    for s in ring:
        slots[s] = SlotTruth(s, "signal", ranks[s], tuple(sorted(partners[s])))
        ids[s] = _zipf_ids(rng, config.vocab_size, config.zipf_exponent, n_total)
        latent[s] = rng.normal(0.0, 1.0, size=(config.vocab_size, ranks[s]))[ids[s]]
    logit = np.full(n_total, config.base_logit)
    for a, b in edges:
        form = rng.normal(0.0, (ranks[a] * ranks[b]) ** -0.5, size=(ranks[a], ranks[b]))
        logit += config.interaction_scale * np.einsum("nr,rq,nq->n", latent[a], form, latent[b])
    for s in slot_ids[num_signal:]:
        slots[s] = SlotTruth(s, "noise", 0, ())
        ids[s] = _zipf_ids(rng, config.vocab_size, config.zipf_exponent, n_total)
    prob = 1.0 / (1.0 + np.exp(-logit))
    labels = (rng.random(n_total) < prob).astype(np.float32)

    order = sorted(slots)
    # A serialized protobuf message followed by another parses as their merge, so an
    # example is the join of cached one-feature examples, one per (slot, id) and label.
    cache = [
        [serialize_example({f"slot_{s}_0": [i]}) for i in range(config.vocab_size)] for s in order
    ]
    label_records = {v: serialize_example({"label": v}) for v in (0.0, 1.0)}
    columns = np.stack([ids[s] for s in order], axis=1).tolist()
    label_list = labels.tolist()
    splits = (("train", 0, config.num_train), ("test", config.num_train, n_total))
    one_id = [f"slot_{s}_0" for s in order]  # every record holds one id per slot
    for prefix, begin, end in splits:
        with ShardedExampleWriter(
            out_dir, prefix=prefix, num_shards=config.num_files, one_id_features=one_id
        ) as writer:
            for n in range(begin, end):
                parts = [slot_cache[i] for slot_cache, i in zip(cache, columns[n], strict=True)]
                parts.append(label_records[label_list[n]])
                writer.write_serialized(b"".join(parts))

    test = slice(config.num_train, n_total)
    truth = SyntheticTruth(
        config=config,
        slots=slots,
        bayes_test_auc=_auc(labels[test], logit[test]),
        bayes_test_log_loss=log_loss(labels[test], prob[test]),
    )
    with open(os.path.join(out_dir, VOCAB_FILE), "w", encoding="utf-8") as f:
        f.write("slot_id\tvocab_size\n")
        for s in order:
            f.write(f"{s}\t{config.vocab_size}\n")
    train_ids = {s: np.asarray(ids[s][: config.num_train], np.int64) for s in order}
    write_id_counts(  # training records per id (one id per record and slot)
        out_dir,
        {s: np.bincount(v, minlength=config.vocab_size) for s, v in train_ids.items()},
        num_records=config.num_train,
    )
    write_text_atomic(os.path.join(out_dir, TRUTH_FILE), json.dumps(truth.to_json(), indent=2))
    logger.info(
        "synthetic data: %d slots (%d signal, %d interactions), %d train / %d test examples in %s",
        config.num_slots,
        num_signal,
        len(edges),
        config.num_train,
        config.num_test,
        out_dir,
    )
    return truth
