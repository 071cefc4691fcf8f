import numpy as np
import pytest
import tensorflow as tf

from nwsrec.data.synthetic import SyntheticConfig, generate_synthetic, load_truth
from nwsrec.data.writer import encode_example

SMALL = {"num_train": 3000, "num_test": 1000, "num_files": 2, "vocab_size": 40}


def _read(pattern, slots):
    spec = {f"slot_{s}_0": tf.io.VarLenFeature(tf.int64) for s in slots}
    spec["label"] = tf.io.FixedLenFeature([], tf.float32)
    files = sorted(tf.io.gfile.glob(pattern))
    ds = tf.data.TFRecordDataset(files).batch(10_000).map(lambda x: tf.io.parse_example(x, spec))
    batch = next(iter(ds))
    ids = {s: tf.sparse.to_dense(batch[f"slot_{s}_0"]).numpy()[:, 0] for s in slots}
    return ids, batch["label"].numpy()


def test_encoded_examples_parse_back_with_tf():
    record = encode_example(
        {"slot_1_0": [3, 300, 2**40], "empty": []}, {"label": [0.25], "dense": [0.5, 1.0]}
    )
    parsed = tf.io.parse_single_example(
        record,
        {
            "slot_1_0": tf.io.VarLenFeature(tf.int64),
            "empty": tf.io.VarLenFeature(tf.int64),
            "label": tf.io.FixedLenFeature([], tf.float32),
            "dense": tf.io.FixedLenFeature([2], tf.float32),
        },
    )
    assert parsed["slot_1_0"].values.numpy().tolist() == [3, 300, 2**40]
    assert parsed["empty"].values.numpy().tolist() == []
    assert parsed["label"].numpy() == 0.25
    assert parsed["dense"].numpy().tolist() == [0.5, 1.0]


def test_files_vocab_and_truth_describe_the_same_data(tmp_path):
    config = SyntheticConfig(seed=1, pair_ranks=(1, 3), num_noise_slots=3, **SMALL)
    truth = generate_synthetic(tmp_path, config)
    assert len(truth.noise_slots()) == 3 and len(truth.signal_slots()) == 4
    assert sorted(truth.slots) == list(range(1, 8))
    assert load_truth(tmp_path) == truth
    vocab = (tmp_path / "vocab.tsv").read_text().splitlines()
    assert vocab[1:] == [f"{s}\t40" for s in range(1, 8)]
    ids, labels = _read(str(tmp_path / "train-*"), sorted(truth.slots))
    assert labels.size == 3000
    assert all(v.min() >= 0 and v.max() < 40 for v in ids.values())
    for s in truth.signal_slots():
        for partner in truth.slots[s].partners:
            assert s in truth.slots[partner].partners
    assert sorted(truth.slots[s].rank for s in truth.signal_slots()) == [1, 1, 3, 3]
    assert all(truth.slots[s].partners == () for s in truth.noise_slots())
    assert 0.5 < truth.bayes_test_auc < 1.0


def test_every_signal_slot_interacts_with_several_slots_on_a_ring(tmp_path):
    config = SyntheticConfig(
        seed=6, pair_ranks=(1, 2, 4), interaction_neighbors=2, num_noise_slots=2, **SMALL
    )
    truth = generate_synthetic(tmp_path, config)
    signal = truth.signal_slots()
    # 6 signal slots, neighbours at ring distance 1 and 2 on either side: 4 partners each.
    assert all(len(truth.slots[s].partners) == 4 for s in signal)
    assert all(set(truth.slots[s].partners) <= set(signal) - {s} for s in signal)
    edges = {(s, p) for s in signal for p in truth.slots[s].partners}
    assert len(edges) == 2 * 12


def test_ids_follow_a_zipf_law(tmp_path):
    config = SyntheticConfig(seed=2, pair_ranks=(1,), num_noise_slots=1, zipf_exponent=1.0, **SMALL)
    truth = generate_synthetic(tmp_path, config)
    ids, _ = _read(str(tmp_path / "train-*"), sorted(truth.slots))
    counts = np.sort(np.bincount(ids[1], minlength=40))[::-1]
    expected = 1.0 / np.arange(1, 41)
    expected = 3000 * expected / expected.sum()
    # The top id: binomial sd = sqrt(n p (1-p)); 5 sd tolerance.
    sd = np.sqrt(expected[0] * (1 - expected[0] / 3000))
    assert abs(counts[0] - expected[0]) < 5 * sd


def test_noise_slots_are_independent_of_the_label_and_signal_pairs_are_not(tmp_path):
    config = SyntheticConfig(
        seed=4,
        num_train=20_000,
        num_test=1000,
        num_files=1,
        vocab_size=5,
        pair_ranks=(1,),
        num_noise_slots=1,
        interaction_scale=3.0,
        zipf_exponent=0.0,
    )
    truth = generate_synthetic(tmp_path, config)
    ids, labels = _read(str(tmp_path / "train-*"), sorted(truth.slots))
    (noise,) = truth.noise_slots()
    a, b = truth.signal_slots()
    # Label rate per id of the noise slot: all equal up to binomial noise (5 sd).
    overall = labels.mean()
    for v in range(5):
        rate = labels[ids[noise] == v]
        assert abs(rate.mean() - overall) < 5 * np.sqrt(overall * (1 - overall) / rate.size)
    # Label rate per (id_a, id_b) cell: spread far beyond binomial noise.
    cells = [labels[(ids[a] == i) & (ids[b] == j)] for i in range(5) for j in range(5)]
    rates = np.array([c.mean() for c in cells if c.size > 100])
    assert rates.max() - rates.min() > 0.3


def test_same_seed_gives_identical_files(tmp_path):
    config = SyntheticConfig(seed=5, pair_ranks=(2,), num_noise_slots=1, **SMALL)
    generate_synthetic(tmp_path / "a", config)
    generate_synthetic(tmp_path / "b", config)
    for name in ("train-00000-of-00002.tfrecord", "test-00001-of-00002.tfrecord", "truth.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ({"num_train": 0}, "`num_train` must be a positive integer"),
        ({"pair_ranks": (1, 0)}, "`pair_ranks` must all be >= 1"),
        ({"interaction_neighbors": 0}, "`interaction_neighbors` must be >= 1"),
        ({"num_noise_slots": -1}, "`num_noise_slots` must be >= 0"),
        ({"zipf_exponent": -1.0}, "`zipf_exponent` must be >= 0"),
    ],
    ids=["num-train", "rank", "neighbors", "noise", "zipf"],
)
def test_bad_config_is_an_error(override, match):
    with pytest.raises(ValueError, match=match):
        SyntheticConfig(**override)


def test_missing_truth_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="truth.json"):
        load_truth(tmp_path)
