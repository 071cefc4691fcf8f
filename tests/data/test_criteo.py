import json

import numpy as np
import pytest
import tensorflow as tf

from nwsrec.data.counts import read_id_counts
from nwsrec.data.criteo import (
    CRITEO_KAGGLE_CARDINALITIES,
    CriteoConfig,
    criteo_rows,
    generate_criteo,
    load_criteo_truth,
)

SMALL = {"num_train": 4000, "num_test": 1000, "num_files": 2, "scale": 0.001}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("criteo")
    truth = generate_criteo(out, CriteoConfig(seed=1, **SMALL))
    return out, truth


def _read(pattern, slots):
    spec = {f"slot_{s}_0": tf.io.VarLenFeature(tf.int64) for s in slots}
    spec["label"] = tf.io.FixedLenFeature([], tf.float32)
    files = sorted(tf.io.gfile.glob(pattern))
    ds = tf.data.TFRecordDataset(files).batch(100_000).map(lambda x: tf.io.parse_example(x, spec))
    batch = next(iter(ds))
    ids = {s: tf.sparse.to_dense(batch[f"slot_{s}_0"]).numpy()[:, 0] for s in slots}
    return ids, batch["label"].numpy()


def test_the_field_sizes_are_the_criteo_kaggle_ones_scaled():
    assert len(CRITEO_KAGGLE_CARDINALITIES) == 26 and sum(CRITEO_KAGGLE_CARDINALITIES) == 33762577
    rows = criteo_rows(0.01)
    assert rows[2] == 101312 and rows[8] == 3 and rows[19] == 4  # C3, C9 (3 rows), C20
    pairs = zip(rows, CRITEO_KAGGLE_CARDINALITIES, strict=True)
    assert min(rows) == 3 and all(r >= min(4, c) for r, c in pairs)
    assert criteo_rows(1.0) == list(CRITEO_KAGGLE_CARDINALITIES)


def test_files_vocab_truth_and_id_counts_describe_the_same_data(data):
    out, truth = data
    assert load_criteo_truth(out) == truth
    rows = criteo_rows(0.001)
    vocab = (out / "vocab.tsv").read_text().splitlines()
    assert vocab[1:] == [f"{s}\t{rows[s - 1]}" for s in range(1, 27)]
    assert len(truth.signal_slots()) == 12 and len(truth.noise_slots()) == 14
    ids, labels = _read(str(out / "train-*"), range(1, 27))
    assert labels.size == 4000 and 0.1 < labels.mean() < 0.6
    counts = read_id_counts(out)
    assert sorted(counts) == list(range(1, 27))
    for s in range(1, 27):
        assert counts[s].dtype == np.int64 and counts[s].size == rows[s - 1]
        assert ids[s].min() >= 0 and ids[s].max() < rows[s - 1]
        np.testing.assert_array_equal(counts[s], np.bincount(ids[s], minlength=rows[s - 1]))
    for s in truth.signal_slots():
        t = truth.slots[s]
        assert 1 <= t.rank <= t.rows and all(s in truth.slots[p].partners for p in t.partners)
    assert 0.6 < truth.bayes_test_auc < 1.0
    assert json.loads((out / "truth.json").read_text())["id_counts_file"] == "id_counts.npz"


def test_ids_are_zipf_and_head_ids_use_more_latent_dimensions(data):
    out, truth = data
    counts = read_id_counts(out)[3]  # C3: 10,131 rows at this scale
    top = np.sort(counts)[::-1]
    # Zipf(1.1) over 10k ids: the top 1% of ids hold far more than 1% of the lookups,
    # and most ids are never seen in 4000 records.
    assert top[:101].sum() > 0.4 * top.sum() and (counts == 0).mean() > 0.7
    assert truth.id_rank(3, 0) == truth.slots[3].rank or truth.slots[3].kind == "noise"
    assert [_rank8(r) for r in (0, 99, 100, 999, 1000, 10**6)] == [8, 8, 4, 4, 2, 1]


def _rank8(frequency_rank):
    from nwsrec.data.criteo import _id_rank

    return _id_rank(8, frequency_rank, 100)


def test_the_same_seed_gives_byte_identical_files(tmp_path, data):
    out, _ = data
    generate_criteo(tmp_path, CriteoConfig(seed=1, **SMALL))
    for name in ("train-00000-of-00002.tfrecord", "truth.json", "vocab.tsv", "id_counts.npz"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scale": 0}, r"`scale` must be in \(0, 1\]. Received: scale=0"),
        ({"scale": 2.0}, r"`scale` must be in \(0, 1\]"),
        ({"num_train": 0}, "`num_train` must be a positive integer. Received: num_train=0"),
        ({"signal_ranks": ()}, "`signal_ranks` must be 1 to 26 ranks"),
        ({"signal_ranks": (1, 0)}, "`signal_ranks` must be integers >= 1"),
        ({"zipf_exponent": -1.0}, "`zipf_exponent` must be >= 0"),
    ],
)
def test_bad_config_is_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CriteoConfig(**kwargs)


def test_load_criteo_truth_of_another_data_set_is_a_clear_error(tmp_path):
    (tmp_path / "truth.json").write_text('{"config": {}, "slots": {}}')
    with pytest.raises(ValueError, match="`kind` must be 'criteo'"):
        load_criteo_truth(tmp_path)
    with pytest.raises(FileNotFoundError, match="id_counts.npz"):
        read_id_counts(tmp_path)
