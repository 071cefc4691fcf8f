import gzip
import json
import os
import zlib

import numpy as np
import pytest
import tensorflow as tf

from nwsrec.data.convert import convert_csv
from nwsrec.data.counts import read_id_counts
from nwsrec.features import read_vocab_file

CSV = """user,item,genres,clicked,age,score
ann,i1,a|b,1,31,0.5
bob,i2,b,0,,1.5
ann,i3,,1,27,2.5
cid,i1,c|a|c,0,45,3.5
"""


def _examples(paths, compression=""):
    out = []
    for path in paths:
        for record in tf.data.TFRecordDataset(path, compression_type=compression):
            example = tf.train.Example.FromString(record.numpy())
            out.append(
                {
                    name: list(f.int64_list.value)
                    if f.HasField("int64_list")
                    else list(f.float_list.value)
                    for name, f in example.features.feature.items()
                }
            )
    return out


def _interleave(shards):
    """Undo the round-robin sharding: row k is record k // n of shard k % n."""
    rows = []
    for k in range(sum(len(s) for s in shards)):
        rows.append(shards[k % len(shards)][k // len(shards)])
    return rows


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text(CSV)
    return path


def test_round_trip_rows_in_equal_examples_out(csv_file, tmp_path):
    result = convert_csv(
        csv_file,
        tmp_path / "out",
        slots={"user": 1, "item": 2, "genres": 3},
        multi={"genres": "|"},
        label="clicked",
        dense=["age", "score"],
        dense_default=-1.0,
        num_shards=3,
    )
    assert result.num_rows == 4
    shards = [_examples([p]) for p in result.files]
    rows = _interleave(shards)
    assert [r["slot_1_0"] for r in rows] == [[0], [1], [0], [2]]  # ann bob ann cid
    assert [r["slot_2_0"] for r in rows] == [[0], [1], [2], [0]]
    assert [r["slot_3_0"] for r in rows] == [[0, 1], [1], [], [2, 0, 2]]  # a b | b | - | c a c
    assert [r["label"] for r in rows] == [[1.0], [0.0], [1.0], [0.0]]
    assert [r["dense"] for r in rows] == [[31.0, 0.5], [-1.0, 1.5], [27.0, 2.5], [45.0, 3.5]]
    assert read_vocab_file(result.vocab_path) == {1: 4, 2: 4, 3: 4} == result.vocab_sizes  # + OOV
    with open(result.vocabularies_path) as handle:
        assert json.load(handle) == {
            "1": ["ann", "bob", "cid"],
            "2": ["i1", "i2", "i3"],
            "3": ["a", "b", "c"],
        }


def test_cells_past_the_encoding_cache_are_encoded_the_same(csv_file, tmp_path, monkeypatch):
    import nwsrec.data.convert as convert_module

    kwargs = {"slots": {"user": 1, "genres": 3}, "multi": {"genres": "|"}, "label": "clicked"}
    cached = convert_csv(csv_file, tmp_path / "a", **kwargs)
    monkeypatch.setattr(convert_module, "_CACHE_LIMIT", 1)
    uncached = convert_csv(csv_file, tmp_path / "b", **kwargs)
    assert _examples(uncached.files) == _examples(cached.files)
    assert [r["slot_1_0"] for r in _examples(uncached.files)] == [[0], [1], [0], [2]]


def test_vocab_sizes_are_max_id_plus_two_the_last_row_out_of_vocabulary(csv_file, tmp_path):
    result = convert_csv(
        csv_file, tmp_path / "out", slots={"genres": 7}, multi={"genres": "|"}, label="clicked"
    )
    ids = [i for row in _examples(result.files) for i in row["slot_7_0"]]
    assert result.vocab_sizes[7] == max(ids) + 2  # ids 0..2, then the OOV row 3
    assert open(result.vocab_path).read() == "slot\tcount\n7\t4\n"


def test_inputs_of_one_call_share_the_vocabulary(tmp_path):
    (tmp_path / "train.tsv").write_text("u\ty\nann\t1\nbob\t0\n")
    (tmp_path / "test.tsv").write_text("u\ty\nbob\t1\ncid\t0\n")
    result = convert_csv(
        [tmp_path / "train.tsv", tmp_path / "test.tsv"], tmp_path / "out", slots={"u": 1}, label="y"
    )
    test_files = result.files_per_input[str(tmp_path / "test.tsv")]
    assert [os.path.basename(p) for p in test_files] == ["test-00000-of-00001.tfrecord"]
    assert [r["slot_1_0"] for r in _examples(test_files)] == [[1], [2]]
    assert result.rows_per_input == {str(tmp_path / "train.tsv"): 2, str(tmp_path / "test.tsv"): 2}
    assert result.vocab_sizes == {1: 4}


def test_hashing_gives_crc32_ids_and_the_hash_size(csv_file, tmp_path):
    result = convert_csv(
        csv_file, tmp_path / "out", slots={"user": 1}, label="clicked", hash_size=1000
    )
    expected = [zlib.crc32(name.encode()) % 1000 for name in ("ann", "bob", "ann", "cid")]
    assert [r["slot_1_0"][0] for r in _examples(result.files)] == expected
    assert result.vocab_sizes == {1: 1000}
    assert result.vocabularies_path is None


def test_no_header_takes_column_indices_and_a_delimiter(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("x;1;0.5\ny;0;1.5\n")
    result = convert_csv(
        path, tmp_path / "out", slots={0: 4}, label=1, dense=[2], delimiter=";", has_header=False
    )
    rows = _examples(result.files)
    assert [(r["slot_4_0"], r["label"], r["dense"]) for r in rows] == [
        ([0], [1.0], [0.5]),
        ([1], [0.0], [1.5]),
    ]


def test_gzip_input_and_output(tmp_path):
    path = tmp_path / "clicks.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("u,y\na,1\nb,0\nc,1\n")
    result = convert_csv(path, tmp_path / "out", slots={"u": 1}, label="y", gzip=True, num_shards=2)
    assert all(p.endswith(".tfrecord.gz") for p in result.files)
    assert os.path.basename(result.files[0]) == "clicks-00000-of-00002.tfrecord.gz"
    assert sorted(r["slot_1_0"][0] for r in _examples(result.files, "GZIP")) == [0, 1, 2]


def test_progress_is_reported_every_n_rows_and_at_the_end(csv_file, tmp_path):
    seen = []
    convert_csv(
        csv_file,
        tmp_path / "out",
        slots={"user": 1},
        label="clicked",
        progress=seen.append,
        progress_every=2,
    )
    assert [(p.rows, p.done) for p in seen] == [(2, False), (4, False), (4, True)]
    assert seen[-1].rows_per_second > 0


def test_a_byte_order_mark_is_not_part_of_the_first_column(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffu,y\na,1\n".encode())
    assert convert_csv(path, tmp_path / "out", slots={"u": 1}, label="y").num_rows == 1


def test_blank_lines_are_skipped(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("u,y\na,1\n\nb,0\n")
    assert convert_csv(path, tmp_path / "out", slots={"u": 1}, label="y").num_rows == 2


@pytest.mark.parametrize(
    "text, kwargs, error, match",
    [
        (
            "u,y\na,1\n",
            {"slots": {"user": 1}, "label": "y"},
            LookupError,
            r"t.csv:1: `slot` column must be in the header \['u', 'y'\]",
        ),
        (
            "u,y\na,yes\n",
            {"slots": {"u": 1}, "label": "y"},
            ValueError,
            r"t.csv:2: `label` must be a number. Received: label='yes'",
        ),
        (
            "u,y\na,1\nb,inf\n",
            {"slots": {"u": 1}, "label": "y"},
            ValueError,
            r"t.csv:3: `label` must be finite",
        ),
        (
            "u,y\na,1,9\n",
            {"slots": {"u": 1}, "label": "y"},
            ValueError,
            r"t.csv:2: each row must have the header's 2 fields",
        ),
        (
            "u,y,d\na,1,\n",
            {"slots": {"u": 1}, "label": "y", "dense": ["d"]},
            ValueError,
            r"t.csv:2: `d` must be a number \(set a dense default",
        ),
        (
            "u,y\na,1\n",
            {"slots": {"u": 1}, "label": "y", "multi": {"y": "|"}},
            ValueError,
            "`multi` columns must also be slot columns",
        ),
        (
            "u,v,y\na,b,1\n",
            {"slots": {"u": 1, "v": 1}, "label": "y"},
            ValueError,
            "slot 1 is given to 'u' and 'v'",
        ),
        (
            "u,y\na,1\n",
            {"slots": {"u": 1}, "label": "u"},
            ValueError,
            "a column must be one of slot, label or dense",
        ),
        ("u,y\na,1\n", {"slots": {}, "label": "y"}, ValueError, "`slots` must map at least"),
        (
            "u,y\na,1\n",
            {"slots": {"u": 1}, "label": "y", "hash_size": 0},
            ValueError,
            "`hash_size` must be None or an integer >= 1",
        ),
        (
            "a,1\n",
            {"slots": {"u": 1}, "label": 1, "has_header": False},
            ValueError,
            "without a header, `slot` columns must be 0-based indices",
        ),
        (
            "a,1\n",
            {"slots": {0: 1}, "label": 5, "has_header": False},
            ValueError,
            "t.csv:1: each row must have at least 6 fields",
        ),
    ],
    ids=[
        "missing-column",
        "bad-label",
        "inf-label",
        "field-count",
        "empty-dense",
        "multi",
        "duplicate-slot",
        "overlap",
        "no-slots",
        "hash-size",
        "no-header-name",
        "short-row",
    ],
)
def test_bad_input_names_the_file_and_line(tmp_path, text, kwargs, error, match):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(error, match=match):
        convert_csv(path, tmp_path / "out", **kwargs)


def test_a_failed_conversion_leaves_no_shard(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("u,y\na,1\nb,x\n")
    with pytest.raises(ValueError, match="t.csv:3"):
        convert_csv(path, tmp_path / "out", slots={"u": 1}, label="y")
    assert os.listdir(tmp_path / "out") == []


def test_a_directory_with_data_is_refused_unless_overwrite(csv_file, tmp_path):
    first = convert_csv(
        csv_file, tmp_path / "out", slots={"user": 1}, label="clicked", num_shards=3
    )
    with pytest.raises(FileExistsError, match="--overwrite"):
        convert_csv(csv_file, tmp_path / "out", slots={"user": 1}, label="clicked", num_shards=2)
    assert all(os.path.exists(f) for f in first.files)  # nothing already written lost
    again = convert_csv(
        csv_file, tmp_path / "out", slots={"user": 1}, label="clicked", num_shards=2, overwrite=True
    )
    left = sorted(n for n in os.listdir(tmp_path / "out") if ".tfrecord" in n)
    assert left == sorted(os.path.basename(f) for f in again.files)  # old 3 shards gone


def test_test_fraction_splits_rows_by_seed_and_counts_train_only(tmp_path):
    rows = "".join(f"u{k % 7},{k % 2}\n" for k in range(2000))
    (tmp_path / "all.csv").write_text("user,y\n" + rows)
    a = convert_csv(
        tmp_path / "all.csv",
        tmp_path / "a",
        slots={"user": 1},
        label="y",
        test_fraction=0.25,
        seed=5,
    )
    b = convert_csv(
        tmp_path / "all.csv",
        tmp_path / "b",
        slots={"user": 1},
        label="y",
        test_fraction=0.25,
        seed=5,
    )
    c = convert_csv(
        tmp_path / "all.csv",
        tmp_path / "c",
        slots={"user": 1},
        label="y",
        test_fraction=0.25,
        seed=6,
    )
    assert sorted(a.files_per_input) == ["test", "train"]
    assert a.rows_per_split["train"] + a.rows_per_split["test"] == 2000
    # binomial(2000, 0.25): mean 500, sd 19.4; 5 sd either side
    assert 403 < a.rows_per_split["test"] < 597
    test_a = [r for r in _examples(a.files_per_input["test"])]
    assert test_a == _examples(b.files_per_input["test"])  # same seed, same split
    assert test_a != _examples(c.files_per_input["test"])
    counts = read_id_counts(tmp_path / "a")
    train_ids = [r["slot_1_0"][0] for r in _examples(a.files_per_input["train"])]
    assert counts[1].tolist() == np.bincount(train_ids, minlength=8).tolist()
    assert counts[1].sum() == a.rows_per_split["train"] and counts[1][7] == 0  # OOV row


def test_vocab_from_reuses_ids_and_maps_unknown_values_to_the_oov_row(csv_file, tmp_path):
    first = convert_csv(
        csv_file,
        tmp_path / "first",
        slots={"user": 1, "genres": 3},
        multi={"genres": "|"},
        label="clicked",
    )
    later = tmp_path / "later.csv"
    later.write_text("user,genres,clicked\ncid,z|a,1\nzed,b,0\nzed,,1\n")
    result = convert_csv(
        later,
        tmp_path / "later",
        slots={"user": 1, "genres": 3},
        multi={"genres": "|"},
        label="clicked",
        vocab_from=tmp_path / "first",
    )
    assert result.vocab_sizes == first.vocab_sizes == {1: 4, 3: 4}
    assert read_vocab_file(result.vocab_path) == read_vocab_file(first.vocab_path)
    rows = _examples(result.files)
    assert [r["slot_1_0"] for r in rows] == [[2], [3], [3]]  # cid kept id 2, zed -> OOV 3
    assert [r["slot_3_0"] for r in rows] == [[3, 0], [1], []]  # z -> OOV, a, b as before
    assert result.oov_per_slot == {1: 2, 3: 1}
    with pytest.raises(LookupError, match="slot 9"):
        convert_csv(
            later, tmp_path / "x", slots={"user": 9}, label="clicked", vocab_from=tmp_path / "first"
        )
    with pytest.raises(FileNotFoundError, match="vocab_from"):
        convert_csv(later, tmp_path / "y", slots={"user": 1}, label="clicked", vocab_from=tmp_path)


def test_inputs_with_the_same_name_are_refused(tmp_path):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "x.csv").write_text("u,y\na,1\n")
    with pytest.raises(ValueError, match="distinct file names"):
        convert_csv(
            [tmp_path / "a" / "x.csv", tmp_path / "b" / "x.csv"],
            tmp_path / "out",
            slots={"u": 1},
            label="y",
        )


def test_a_missing_input_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        convert_csv(tmp_path / "nope.csv", tmp_path / "out", slots={"u": 1}, label="y")
