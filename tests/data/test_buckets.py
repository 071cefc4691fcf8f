import numpy as np
import pytest
import tensorflow as tf

from nwsrec.data import buckets as buckets_module
from nwsrec.data.buckets import (
    BucketMap,
    check_fractions,
    frequency_buckets,
    load_or_count_buckets,
)
from nwsrec.data.counts import count_ids


def _write_records(path, rows):
    """rows: list of {feature: [ids]} -> one TFRecord file of tf.train.Example."""
    with tf.io.TFRecordWriter(str(path)) as writer:
        for row in rows:
            example = tf.train.Example()
            for name, ids in row.items():
                example.features.feature[name].int64_list.value.extend(ids)
            example.features.feature["label"].float_list.value.append(1.0)
            writer.write(example.SerializeToString())


@pytest.mark.parametrize("fractions", [[0.1], [0.25, 0.6], [0.5]])
def test_every_id_is_in_exactly_one_bucket_at_a_distinct_row(fractions):
    rng = np.random.default_rng(0)
    vocab = 500
    counts = rng.zipf(1.5, size=vocab) * (rng.random(vocab) < 0.8)  # ~20% unseen
    counts = np.minimum(counts, 10**6).astype(np.int64)
    m = frequency_buckets({7: counts}, fractions)
    bucket_of, row_of, rows = m.bucket_of(7), m.row_of(7), m.rows(7)
    assert len(rows) == len(fractions) + 1 == m.num_buckets
    assert bucket_of.shape == row_of.shape == (vocab,)
    seen = counts > 0
    for b, n in enumerate(rows):
        members = np.flatnonzero(bucket_of == b)
        # seen ids of a bucket: rows 0.. distinct; the unseen ids share the last row
        seen_rows = row_of[members[seen[members]]]
        assert sorted(seen_rows.tolist()) == list(range(len(seen_rows)))
        if b < len(rows) - 1:
            assert seen[members].all() and n == len(members)
        else:
            assert n == len(seen_rows) + 1  # the unseen row
            assert (row_of[~seen] == n - 1).all() and (bucket_of[~seen] == b).all()
    # a head bucket's ids are at least as frequent as any later bucket's
    for b in range(len(rows) - 1):
        assert counts[bucket_of == b].min() >= counts[(bucket_of > b) & seen].max()
    # bucket sizes follow the cumulative fractions of the seen ids
    n_seen = int(seen.sum())
    bounds = [round(f * n_seen) for f in fractions]
    assert np.cumsum(rows[:-1]).tolist() == bounds
    assert sum(m.lookups(7)) == counts.sum()


def test_ties_are_broken_by_id_and_the_docstring_example_holds():
    m = frequency_buckets({3: np.array([9, 0, 4, 7, 1, 1])}, [0.34])
    assert m.bucket_of(3).tolist() == [0, 1, 1, 0, 1, 1]
    assert m.row_of(3).tolist() == [0, 3, 0, 1, 1, 2]
    assert m.rows(3) == (2, 4)
    m = frequency_buckets({3: np.array([2, 2, 2, 2])}, [0.5])
    assert m.bucket_of(3).tolist() == [0, 0, 1, 1]
    assert m.rows(3) == (2, 2)  # no unseen id: no unseen row


def test_every_bucket_keeps_a_seen_id():
    m = frequency_buckets({1: np.array([5, 3, 1])}, [0.01, 0.02])
    assert m.rows(1) == (1, 1, 1)


@pytest.mark.parametrize("fractions", [[], [0.0], [1.0], [0.5, 0.4], ["a"], [True], 0.5])
def test_bad_fractions_are_a_clear_error(fractions):
    with pytest.raises(ValueError, match="`id_buckets` must be a non-empty list of increasing"):
        check_fractions(fractions)


def test_a_slot_with_fewer_seen_ids_than_buckets_is_named():
    with pytest.raises(ValueError, match="slot 4 must have at least one seen id per bucket"):
        frequency_buckets({4: np.array([0, 3, 0])}, [0.5])
    with pytest.raises(ValueError, match="the id counts of slot 4 must be a 1-D array"):
        frequency_buckets({4: np.array([1, -1])}, [0.5])


def test_count_ids_matches_numpy_and_names_a_bad_file(tmp_path):
    rng = np.random.default_rng(1)
    rows = [
        {"slot_1_0": rng.integers(0, 20, size=rng.integers(0, 4)).tolist(), "slot_2_0": [i % 5]}
        for i in range(300)
    ]
    _write_records(tmp_path / "train-0", rows[:200])
    _write_records(tmp_path / "train-1", rows[200:])
    counts = count_ids(str(tmp_path / "train-*"), [1, 2], {1: 20, 2: 5}, batch_size=64)
    # a record counts once per id it holds
    held = np.concatenate([np.unique(r["slot_1_0"]) for r in rows]).astype(int)
    expected1 = np.bincount(held, minlength=20)
    np.testing.assert_array_equal(counts[1], expected1)
    np.testing.assert_array_equal(counts[2], np.full(5, 60))
    _write_records(tmp_path / "train-2", [{"slot_1_0": [25], "slot_2_0": [0]}])
    with pytest.raises(ValueError, match=r"train-2: the ids of slot 1 must lie in \[0, 20\).*25"):
        count_ids(str(tmp_path / "train-*"), [1, 2], {1: 20, 2: 5})


def test_the_map_round_trips_through_its_file_and_is_reused(tmp_path, monkeypatch):
    _write_records(tmp_path / "train-0", [{"slot_1_0": [i % 7, 0]} for i in range(50)])
    pattern, path = str(tmp_path / "train-*"), str(tmp_path / "id_counts.npz")
    first = load_or_count_buckets(path, pattern, {1: 10}, [0.3])
    loaded = BucketMap.load(path)
    np.testing.assert_array_equal(loaded.counts(1), first.counts(1))
    np.testing.assert_array_equal(loaded.bucket_of(1), first.bucket_of(1))

    calls = []
    real = buckets_module.count_ids
    monkeypatch.setattr(
        buckets_module, "count_ids", lambda *a, **k: calls.append(a) or real(*a, **k)
    )
    again = load_or_count_buckets(path, pattern, {1: 10}, [0.5])  # other fractions: no count
    assert calls == [] and again.fractions == (0.5,)
    _write_records(tmp_path / "train-1", [{"slot_1_0": [9]}])  # new file: counted again
    recounted = load_or_count_buckets(path, pattern, {1: 10}, [0.5])
    assert len(calls) == 1 and recounted.counts(1)[9] == 1
    # without training files the saved counts still serve (e.g. `nwsrec plan`)
    alone = load_or_count_buckets(path, str(tmp_path / "none-*"), {1: 10}, [0.5])
    np.testing.assert_array_equal(alone.counts(1), recounted.counts(1))
    with pytest.raises(ValueError, match="`id_buckets` needs the id counts"):
        load_or_count_buckets(str(tmp_path / "x.npz"), str(tmp_path / "none-*"), {1: 10}, [0.5])


def test_a_file_that_is_not_a_map_is_named(tmp_path):
    bad = tmp_path / "id_counts.npz"
    bad.write_text("nope")
    with pytest.raises(ValueError, match="id_counts.npz: must be an id-bucket file"):
        BucketMap.load(bad)
