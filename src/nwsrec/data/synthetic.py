"""Seeded synthetic CTR data whose best embedding widths are known.

The data set has a few dozen slots of Zipf-distributed ids. Some slots carry signal, the
rest are pure noise. Signal slots come in pairs ``(a, b)`` that interact through a
low-rank dot product, so a slot of rank ``r`` needs about ``r`` embedding dims to express
its part of the label; a noise slot is independent of the label and deserves width 0:

    logit(x) = b0 + sum over pairs (a, b) of  scale * <U_a[id_a], U_b[id_b]>
    label    ~ Bernoulli(sigmoid(logit))

``U_a`` is a ``[vocab, rank]`` matrix with N(0, 1/sqrt(rank)) entries, so every pair's
term has unit variance whatever its rank. Interactions are deliberately the only signal:
a per-id main effect is captured by a model's per-slot bias alone and would not need any
embedding width.

Files written to ``out_dir``::

    train-00000-of-0000N.tfrecord ...   tf.train.Example: slot_{s}_0 (int64), label (float)
    test-00000-of-0000N.tfrecord ...
    vocab.tsv                           slot_id<TAB>vocab size, one line per slot
    truth.json                          the config, each slot's kind/rank/partner, and the
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
import struct
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "SlotTruth",
    "SyntheticConfig",
    "SyntheticTruth",
    "encode_example",
    "generate_synthetic",
    "load_truth",
    "write_tfrecords",
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
        pair_ranks: one interacting pair of signal slots per entry, with that rank.
        num_noise_slots: slots independent of the label.
        vocab_size: ids per slot.
        zipf_exponent: id ``k`` (after a per-slot permutation) has probability
            proportional to ``1 / (k + 1) ** zipf_exponent``.
        interaction_scale: weight of each pair's dot product in the logit.
        base_logit: the constant ``b0`` of the logit.
    """

    seed: int = 0
    num_train: int = 200_000
    num_test: int = 50_000
    num_files: int = 4
    pair_ranks: tuple[int, ...] = (1, 1, 2, 2, 3, 3, 4, 4)
    num_noise_slots: int = 16
    vocab_size: int = 500
    zipf_exponent: float = 1.05
    interaction_scale: float = 0.9
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
        rank: interaction rank (0 for noise).
        partner: the slot it interacts with (None for noise).
    """

    slot_id: int
    kind: str
    rank: int
    partner: int | None


@dataclasses.dataclass(frozen=True)
class SyntheticTruth:
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

    def noise_slots(self) -> list[int]:
        """Ids of the slots that carry no signal."""
        return sorted(s for s, t in self.slots.items() if t.kind == "noise")

    def signal_slots(self) -> list[int]:
        """Ids of the slots that carry signal."""
        return sorted(s for s, t in self.slots.items() if t.kind == "signal")

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
    slots = {int(s): SlotTruth(**t) for s, t in raw["slots"].items()}
    return SyntheticTruth(config, slots, raw["bayes_test_auc"], raw["bayes_test_log_loss"])


# ----------------------------------------------------------------------------------------
# tf.train.Example wire format, written directly: building protos field by field costs
# ~150 us per example in Python, this ~15 us. Layout (length-delimited fields):
#   Example  { 1: Features }
#   Features { 1: repeated MapEntry { 1: key, 2: Feature } }
#   Feature  { 2: FloatList { 1: packed float32 }, 3: Int64List { 1: packed varint } }
# ----------------------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    return bytes([tag]) + _varint(len(payload)) + payload


def _int64_entry(name: str, values: Iterable[int]) -> bytes:
    packed = b"".join(_varint(int(v)) for v in values)
    return _field(
        0x0A, _field(0x0A, name.encode()) + _field(0x12, _field(0x1A, _field(0x0A, packed)))
    )


def _float_entry(name: str, values: Sequence[float]) -> bytes:
    packed = struct.pack(f"<{len(values)}f", *values)
    return _field(
        0x0A, _field(0x0A, name.encode()) + _field(0x12, _field(0x12, _field(0x0A, packed)))
    )


def encode_example(
    int64_features: Mapping[str, Sequence[int]],
    float_features: Mapping[str, Sequence[float]] | None = None,
) -> bytes:
    """Serializes a flat ``tf.train.Example`` of int64 and float list features.

    Args:
        int64_features: feature name -> int64 values (any number, also none).
        float_features: feature name -> float values.

    Returns:
        The serialized example, as ``tf.io.parse_example`` reads it.

    Example:
        >>> len(encode_example({"slot_1_0": [3]}, {"label": [1.0]}))
        30
    """
    entries = [_int64_entry(k, v) for k, v in int64_features.items()]
    entries += [_float_entry(k, v) for k, v in (float_features or {}).items()]
    return _field(0x0A, b"".join(entries))


def write_tfrecords(
    records: Sequence[bytes], out_dir: str, prefix: str, num_files: int
) -> list[str]:
    """Writes serialized records round-robin into ``num_files`` TFRecord files.

    Args:
        records: serialized examples.
        out_dir: target directory (created if missing).
        prefix: file name prefix (``{prefix}-00000-of-00004.tfrecord``).
        num_files: number of files.

    Returns:
        The written paths, sorted.

    Example:
        >>> write_tfrecords([encode_example({"a": [1]})], "/tmp/x", "train", 1)  # doctest: +SKIP
    """
    import tensorflow as tf

    os.makedirs(out_dir, exist_ok=True)
    paths = [
        os.path.join(out_dir, f"{prefix}-{i:05d}-of-{num_files:05d}.tfrecord")
        for i in range(num_files)
    ]
    for i, path in enumerate(paths):
        tmp = path + ".tmp"
        with tf.io.TFRecordWriter(tmp) as writer:
            for record in records[i::num_files]:
                writer.write(record)
        os.replace(tmp, path)
    return paths


def _zipf_ids(rng: np.random.Generator, vocab: int, exponent: float, n: int) -> np.ndarray:
    probs = 1.0 / np.arange(1, vocab + 1, dtype=np.float64) ** exponent
    probs /= probs.sum()
    ranks = rng.choice(vocab, size=n, p=probs)
    return rng.permutation(vocab)[ranks]


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    from nwsrec.training.metrics import exact_auc

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
    from nwsrec.training.metrics import log_loss

    config = config or SyntheticConfig()
    out_dir = os.fspath(out_dir)
    rng = np.random.default_rng(config.seed)
    n_total = config.num_train + config.num_test
    slot_ids = rng.permutation(np.arange(1, config.num_slots + 1)).tolist()

    slots: dict[int, SlotTruth] = {}
    ids: dict[int, np.ndarray] = {}
    logit = np.full(n_total, config.base_logit)
    for p, rank in enumerate(config.pair_ranks):
        a, b = slot_ids[2 * p], slot_ids[2 * p + 1]
        slots[a] = SlotTruth(a, "signal", rank, b)
        slots[b] = SlotTruth(b, "signal", rank, a)
        std = rank**-0.25
        u_a = rng.normal(0.0, std, size=(config.vocab_size, rank))
        u_b = rng.normal(0.0, std, size=(config.vocab_size, rank))
        ids[a] = _zipf_ids(rng, config.vocab_size, config.zipf_exponent, n_total)
        ids[b] = _zipf_ids(rng, config.vocab_size, config.zipf_exponent, n_total)
        logit += config.interaction_scale * np.einsum("nr,nr->n", u_a[ids[a]], u_b[ids[b]])
    for s in slot_ids[2 * len(config.pair_ranks) :]:
        slots[s] = SlotTruth(s, "noise", 0, None)
        ids[s] = _zipf_ids(rng, config.vocab_size, config.zipf_exponent, n_total)
    prob = 1.0 / (1.0 + np.exp(-logit))
    labels = (rng.random(n_total) < prob).astype(np.float32)

    order = sorted(slots)
    # One cached map entry per (slot, id): an example is then a join of cached bytes.
    cache = {s: [_int64_entry(f"slot_{s}_0", [i]) for i in range(config.vocab_size)] for s in order}
    label_entries = {v: _float_entry("label", [v]) for v in (0.0, 1.0)}
    columns = [ids[s] for s in order]
    records = []
    for n in range(n_total):
        entries = [cache[s][col[n]] for s, col in zip(order, columns, strict=True)]
        entries.append(label_entries[float(labels[n])])
        records.append(_field(0x0A, b"".join(entries)))
    write_tfrecords(records[: config.num_train], out_dir, "train", config.num_files)
    write_tfrecords(records[config.num_train :], out_dir, "test", config.num_files)

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
    tmp = os.path.join(out_dir, TRUTH_FILE + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(truth.to_json(), f, indent=2)
    os.replace(tmp, os.path.join(out_dir, TRUTH_FILE))
    logger.info(
        "synthetic data: %d slots (%d signal), %d train / %d test examples in %s",
        config.num_slots,
        2 * len(config.pair_ranks),
        config.num_train,
        config.num_test,
        out_dir,
    )
    return truth
