"""Seeded synthetic CTR data shaped like the Criteo Kaggle display-advertising data.

The 26 slots are sized after the 26 categorical fields C1..C26 of the Criteo Kaggle
(display advertising challenge) data, :data:`CRITEO_KAGGLE_CARDINALITIES` (from 3 to
10,131,227 distinct values; 33,762,577 in all), times ``scale`` so they fit a small
machine: slot ``k`` (field ``C{k}``) has ``max(round(scale * rows_k), min(min_rows,
rows_k))`` ids. Ids are Zipf-distributed in every slot (a seeded permutation maps the
frequency rank to the id), so a slot of many rows has a long tail of ids seen once or
never, as in the real data.

The label is planted as in :mod:`nwsrec.data.synthetic`: ``len(signal_ranks)`` signal
slots (a seeded choice among the 26) interact in pairs along a seeded ring, each
signal slot ``s`` with a latent matrix ``U_s`` of rank ``r_s`` (capped at its rows),
each edge through a random bilinear form, each edge's term scaled to unit variance::

    logit(x) = b0 + scale_i * sum over edges (a, b) of  U_a[id_a]^T  A_ab  U_b[id_b]
    label    ~ Bernoulli(sigmoid(logit))

What differs: an id's latent vector depends on its frequency. The ``head_ids`` most
frequent ids of a slot use all ``r_s`` latent dimensions; the next ``9 * head_ids``
(frequency ranks ``[head_ids, 10 * head_ids)``) use only the first ``r_s // 2``, the
next decade ``r_s // 4``, and so on, never fewer than 1. So head ids deserve more width
than tail ids (and tail ids, rarely seen, could not learn a wide vector anyway). Noise
slots are independent of the label and deserve width 0.

Files written to ``out_dir``::

    train-00000-of-0000N.tfrecord ...   tf.train.Example: slot_{s}_0 (int64), label (float)
    test-00000-of-0000N.tfrecord ...
    vocab.tsv                           slot_id<TAB>vocab size, one line per slot
    truth.json                          the config, each slot's field / rows / kind / rank /
                                        partners, and the Bayes-optimal test AUC, log loss
    id_counts.npz                       ``slot_{s}``: int64 array of length vocab size s, the
                                        number of *training* records holding each id
                                        (read it with :func:`nwsrec.data.read_id_counts`)

Slot ``s`` (1-based) is field ``C{s}``.

Example:
    >>> truth = generate_criteo(  # doctest: +SKIP
    ...     "/tmp/criteo", CriteoConfig(scale=0.001, num_train=5000, num_test=1000))
    >>> truth.slots[3].rows  # doctest: +SKIP
    10131
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os

import numpy as np

from nwsrec.data.counts import ID_COUNTS_FILE, write_id_counts
from nwsrec.data.planted import PlantedTruthMixin, ring_edges
from nwsrec.files import write_text_atomic

logger = logging.getLogger(__name__)

__all__ = [
    "CRITEO_KAGGLE_CARDINALITIES",
    "CriteoConfig",
    "CriteoSlotTruth",
    "CriteoTruth",
    "criteo_rows",
    "generate_criteo",
    "load_criteo_truth",
]

#: Distinct values of the categorical fields C1..C26 of the Criteo Kaggle display
#: advertising challenge data (as in the DLRM / torchrec Criteo Kaggle set-ups).
CRITEO_KAGGLE_CARDINALITIES: tuple[int, ...] = (
    1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194,
    27, 14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142572,
)  # fmt: skip

TRUTH_FILE = "truth.json"
VOCAB_FILE = "vocab.tsv"


def _fail(name: str, what: str, value: object) -> ValueError:
    return ValueError(f"`{name}` must be {what}. Received: {name}={value!r}")


@dataclasses.dataclass(frozen=True)
class CriteoConfig:
    """How to generate the Criteo-shaped data set.

    Args:
        seed: seed of every random draw; the same config gives byte-identical files.
        num_train: training examples.
        num_test: held-out examples.
        num_files: files per split.
        scale: each field's rows are multiplied by it (``0 < scale <= 1``).
        min_rows: a slot keeps at least this many rows (or all of its field's rows if
            it has fewer).
        signal_ranks: one signal slot per entry, of that latent rank (capped at the
            slot's rows); the other ``26 - len(signal_ranks)`` slots are noise.
        interaction_neighbors: each signal slot interacts with this many ring
            neighbours on either side.
        head_ids: ids of frequency rank below it use the slot's full rank; each further
            decade of frequency rank halves it (never below 1).
        zipf_exponent: the id of frequency rank ``k`` has probability proportional to
            ``1 / (k + 1) ** zipf_exponent``.
        interaction_scale: weight of each edge's (unit-variance) term in the logit.
        base_logit: the constant ``b0`` of the logit.
    """

    seed: int = 0
    num_train: int = 200_000
    num_test: int = 50_000
    num_files: int = 4
    scale: float = 0.01
    min_rows: int = 4
    signal_ranks: tuple[int, ...] = (1, 1, 2, 2, 4, 4, 8, 8, 2, 4, 8, 16)
    interaction_neighbors: int = 2
    head_ids: int = 100
    zipf_exponent: float = 1.1
    interaction_scale: float = 0.3
    base_logit: float = -1.0

    def __post_init__(self) -> None:
        for name in ("num_train", "num_test", "num_files", "min_rows", "head_ids"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise _fail(name, "a positive integer", value)
        if isinstance(self.scale, bool) or not isinstance(self.scale, (int, float)):
            raise _fail("scale", "a number in (0, 1]", self.scale)
        if not 0 < self.scale <= 1:
            raise _fail("scale", "in (0, 1]", self.scale)
        ranks = tuple(self.signal_ranks)
        if not ranks or len(ranks) > len(CRITEO_KAGGLE_CARDINALITIES):
            raise _fail("signal_ranks", "1 to 26 ranks", self.signal_ranks)
        if any(isinstance(r, bool) or not isinstance(r, int) or r < 1 for r in ranks):
            raise _fail("signal_ranks", "integers >= 1", self.signal_ranks)
        if self.interaction_neighbors < 1:
            raise _fail("interaction_neighbors", ">= 1", self.interaction_neighbors)
        if self.zipf_exponent < 0:
            raise _fail("zipf_exponent", ">= 0", self.zipf_exponent)
        object.__setattr__(self, "signal_ranks", ranks)
        object.__setattr__(self, "scale", float(self.scale))

    @property
    def num_slots(self) -> int:
        """26, one slot per Criteo categorical field."""
        return len(CRITEO_KAGGLE_CARDINALITIES)


def criteo_rows(scale: float, min_rows: int = 4) -> list[int]:
    """The rows of slots 1..26 at ``scale``.

    Args:
        scale: the factor (``0 < scale <= 1``).
        min_rows: the fewest rows a slot keeps (a field with fewer keeps all of its own).

    Example:
        >>> criteo_rows(0.001)[:4]
        [4, 4, 10131, 2203]
    """
    return [max(round(scale * c), min(min_rows, c)) for c in CRITEO_KAGGLE_CARDINALITIES]


@dataclasses.dataclass(frozen=True)
class CriteoSlotTruth:
    """The truth about one slot.

    Args:
        slot_id: the slot's id (features ``slot_{slot_id}_0``); field ``C{slot_id}``.
        kind: ``"signal"`` or ``"noise"``.
        rank: rank of its latent matrix, the width its head ids need (0 for noise).
        rows: its vocab size.
        field_rows: the rows of its Criteo Kaggle field.
        partners: the slots it interacts with (empty for noise).
    """

    slot_id: int
    kind: str
    rank: int
    rows: int
    field_rows: int
    partners: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class CriteoTruth(PlantedTruthMixin):
    """What generated a Criteo-shaped data set, as saved in ``truth.json``.

    Args:
        config: the generation config.
        slots: the truth of every slot, by slot id.
        bayes_test_auc: AUC of the true logits on the test split.
        bayes_test_log_loss: log loss of the true probabilities on the test split.
    """

    config: CriteoConfig
    slots: dict[int, CriteoSlotTruth]
    bayes_test_auc: float
    bayes_test_log_loss: float

    def id_rank(self, slot_id: int, frequency_rank: int) -> int:
        """The latent dimensions an id of this frequency rank (0 = most frequent) uses."""
        return _id_rank(self.slots[slot_id].rank, frequency_rank, self.config.head_ids)

    def to_json(self) -> dict:
        """A JSON-serializable dict (the content of ``truth.json``)."""
        return {
            "kind": "criteo",
            "config": dataclasses.asdict(self.config),
            "slots": {str(s): dataclasses.asdict(t) for s, t in sorted(self.slots.items())},
            "bayes_test_auc": self.bayes_test_auc,
            "bayes_test_log_loss": self.bayes_test_log_loss,
            "id_counts_file": ID_COUNTS_FILE,
        }


def _id_rank(rank: int, frequency_rank: int, head_ids: int) -> int:
    if rank == 0:
        return 0
    decades = 0 if frequency_rank < head_ids else int(math.log10(frequency_rank / head_ids)) + 1
    return max(1, rank >> decades)


def load_criteo_truth(data_dir: str | os.PathLike) -> CriteoTruth:
    """Reads ``truth.json`` from a directory written by :func:`generate_criteo`.

    Args:
        data_dir: the directory.

    Returns:
        The saved truth.
    """
    path = os.path.join(os.fspath(data_dir), TRUTH_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"`data_dir` must hold {TRUTH_FILE} written by generate_criteo. "
            f"Received: data_dir={os.fspath(data_dir)!r}"
        )
    with open(path, encoding="utf-8") as f:
        raw = json.load(f)
    if raw.get("kind") != "criteo":
        raise ValueError(
            f"{path}: `kind` must be 'criteo' (a file of generate_criteo). "
            f"Received: kind={raw.get('kind')!r}"
        )
    config = CriteoConfig(**{**raw["config"], "signal_ranks": tuple(raw["config"]["signal_ranks"])})
    slots = {
        int(s): CriteoSlotTruth(**{**t, "partners": tuple(t.get("partners", ()))})
        for s, t in raw["slots"].items()
    }
    return CriteoTruth(config, slots, raw["bayes_test_auc"], raw["bayes_test_log_loss"])


def _zipf_ranks(rng: np.random.Generator, vocab: int, exponent: float, n: int) -> np.ndarray:
    """Frequency ranks (0 = most frequent) of ``n`` Zipf draws over ``vocab`` ids."""
    probs = 1.0 / np.arange(1, vocab + 1, dtype=np.float64) ** exponent
    cdf = np.cumsum(probs)
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), vocab - 1)


def generate_criteo(out_dir: str | os.PathLike, config: CriteoConfig | None = None) -> CriteoTruth:
    """Generates the Criteo-shaped data set into ``out_dir`` and returns its truth.

    Args:
        out_dir: target directory (created if missing; existing files are overwritten).
        config: generation config; default ``CriteoConfig()``.

    Returns:
        The truth, also written to ``out_dir/truth.json``.
    """
    from nwsrec.data.writer import ShardedExampleWriter, serialize_example
    from nwsrec.metrics import exact_auc, log_loss

    config = config or CriteoConfig()
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(config.seed)
    n_total = config.num_train + config.num_test
    rows = criteo_rows(config.scale, config.min_rows)
    slot_ids = list(range(1, config.num_slots + 1))
    ring = [int(s) for s in rng.permutation(slot_ids)[: len(config.signal_ranks)]]
    ranks = {s: min(r, rows[s - 1]) for s, r in zip(ring, config.signal_ranks, strict=True)}
    edges = [(ring[a], ring[b]) for a, b in ring_edges(len(ring), config.interaction_neighbors)]
    partners: dict[int, list[int]] = {s: [] for s in ring}
    for a, b in edges:
        partners[a].append(b)
        partners[b].append(a)

    ids: dict[int, np.ndarray] = {}
    latent: dict[int, np.ndarray] = {}
    for s in slot_ids:
        vocab = rows[s - 1]
        freq_rank = _zipf_ranks(rng, vocab, config.zipf_exponent, n_total)
        ids[s] = rng.permutation(vocab)[freq_rank]
        if s in ranks:
            table = rng.normal(0.0, 1.0, size=(vocab, ranks[s]))
            # Row k of `table` is the id of frequency rank k: it keeps its first id_rank dims.
            keep = np.array([_id_rank(ranks[s], k, config.head_ids) for k in range(vocab)])
            table[np.arange(ranks[s])[None, :] >= keep[:, None]] = 0.0
            latent[s] = table[freq_rank]
    logit = np.full(n_total, config.base_logit)
    for a, b in edges:
        form = rng.normal(0.0, 1.0, size=(ranks[a], ranks[b]))
        term = np.einsum("nr,rq,nq->n", latent[a], form, latent[b])
        logit += config.interaction_scale * term / max(float(term.std()), 1e-12)
    prob = 1.0 / (1.0 + np.exp(-logit))
    labels = (rng.random(n_total) < prob).astype(np.float32)

    caches = []
    for s in slot_ids:
        cache = [b""] * rows[s - 1]
        for i in np.unique(ids[s]).tolist():
            cache[i] = serialize_example({f"slot_{s}_0": [i]})
        caches.append(cache)
    label_records = {v: serialize_example({"label": v}) for v in (0.0, 1.0)}
    columns = np.stack([ids[s] for s in slot_ids], axis=1).tolist()
    label_list = labels.tolist()
    splits = (("train", 0, config.num_train), ("test", config.num_train, n_total))
    one_id = [f"slot_{s}_0" for s in slot_ids]  # every record holds one id per slot
    for prefix, begin, end in splits:
        with ShardedExampleWriter(
            out_dir, prefix=prefix, num_shards=config.num_files, one_id_features=one_id
        ) as writer:
            for n in range(begin, end):
                parts = [cache[i] for cache, i in zip(caches, columns[n], strict=True)]
                parts.append(label_records[label_list[n]])
                writer.write_serialized(b"".join(parts))

    slots = {
        s: CriteoSlotTruth(
            slot_id=s,
            kind="signal" if s in ranks else "noise",
            rank=ranks.get(s, 0),
            rows=rows[s - 1],
            field_rows=CRITEO_KAGGLE_CARDINALITIES[s - 1],
            partners=tuple(sorted(partners.get(s, ()))),
        )
        for s in slot_ids
    }
    test = slice(config.num_train, n_total)
    truth = CriteoTruth(
        config=config,
        slots=slots,
        bayes_test_auc=exact_auc(labels[test], logit[test]),
        bayes_test_log_loss=log_loss(labels[test], prob[test]),
    )
    counts = {  # one id per slot and record: occurrences are records
        s: np.bincount(ids[s][: config.num_train], minlength=rows[s - 1]).astype(np.int64)
        for s in slot_ids
    }
    write_id_counts(out_dir, counts, config.num_train)
    vocab_text = "slot_id\tvocab_size\n" + "".join(f"{s}\t{rows[s - 1]}\n" for s in slot_ids)
    write_text_atomic(os.path.join(out_dir, VOCAB_FILE), vocab_text)
    write_text_atomic(os.path.join(out_dir, TRUTH_FILE), json.dumps(truth.to_json(), indent=2))
    logger.info(
        "criteo-shaped data: 26 slots (%d signal, %d interactions, %d rows), %d train / %d test "
        "examples in %s",
        len(ring),
        len(edges),
        sum(rows),
        config.num_train,
        config.num_test,
        out_dir,
    )
    return truth
