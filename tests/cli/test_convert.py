import os
import re

import pytest
import tensorflow as tf

from nwsrec.cli.commands.convert import parse_assignment
from nwsrec.cli.main import main, parse_args
from nwsrec.features import read_vocab_file


@pytest.fixture
def data(tmp_path):
    (tmp_path / "train.csv").write_text(
        "user,genres,clicked,age\nann,a|b,1,31\nbob,b,0,\ncid,c,1,45\n"
    )
    (tmp_path / "test.csv").write_text("user,genres,clicked,age\nann,c,0,20\n")
    return tmp_path


def _count(paths):
    return sum(1 for p in paths for _ in tf.data.TFRecordDataset(p))


def test_convert_writes_shards_and_vocab_and_reports(data, capsys):
    out = data / "out"
    status = main(
        [
            "convert",
            str(data / "train.csv"),
            str(data / "test.csv"),
            "--out",
            str(out),
            "--slot",
            "user=1",
            "--slot",
            "genres=2",
            "--multi",
            "genres=|",
            "--label",
            "clicked",
            "--dense",
            "age",
            "--dense-default",
            "0",
            "--shards",
            "2",
            "--progress-every",
            "1",
        ]
    )
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert sorted(os.listdir(out)) == [
        "id_counts.npz",
        "one_id_slots.json",
        "test-00000-of-00002.tfrecord",
        "test-00001-of-00002.tfrecord",
        "train-00000-of-00002.tfrecord",
        "train-00001-of-00002.tfrecord",
        "vocab.tsv",
        "vocabularies.json",
    ]
    assert _count(out.glob("train-*")) == 3 and _count(out.glob("test-*")) == 1
    assert read_vocab_file(out / "vocab.tsv") == {1: 4, 2: 4}
    assert f"{data / 'train.csv'}: 3 rows -> 2 files" in captured.out
    assert "4 rows in" in captured.out
    assert "rows/s" in captured.err and "convert: 4 rows" in captured.err


def test_hash_size_gzip_and_tab_delimiter(data, capsys):
    (data / "t.tsv").write_text("u\ty\nann\t1\nbob\t0\n")
    status = main(
        [
            "convert",
            str(data / "t.tsv"),
            "--out",
            str(data / "o"),
            "--slot",
            "u=3",
            "--label",
            "y",
            "--hash-size",
            "64",
            "--gzip",
            "--delimiter",
            "tab",
        ]
    )
    assert status == 0, capsys.readouterr().err
    assert os.listdir(data / "o").count("t-00000-of-00001.tfrecord.gz") == 1
    assert read_vocab_file(data / "o" / "vocab.tsv") == {3: 64}


def test_no_header_takes_indices(data, capsys):
    (data / "n.csv").write_text("ann,1\nbob,0\n")
    status = main(
        [
            "convert",
            str(data / "n.csv"),
            "--out",
            str(data / "o"),
            "--slot",
            "0=5",
            "--label",
            "1",
            "--no-header",
        ]
    )
    assert status == 0, capsys.readouterr().err
    assert read_vocab_file(data / "o" / "vocab.tsv") == {5: 3}


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--slot", "user"], r"`--slot` must be COLUMN=VALUE. Received: --slot 'user'"),
        (["--slot", "user=x"], "`--slot` must be COLUMN=SLOT_ID with an integer id"),
        (["--slot", "nope=1"], r"train.csv:1: `slot` column must be in the header"),
        (["--slot", "user=1", "--shards", "0"], r"`--shards` must be >= 1"),
        (["--slot", "user=1", "--delimiter", "ab"], "`--delimiter` must be one character"),
        (["--slot", "user=1", "--dense", "age"], r"train.csv:3: `age` must be a number"),
        (["--slot", "user=1", "--no-header"], "must be a 0-based column index"),
    ],
    ids=[
        "no-equals",
        "bad-id",
        "unknown-column",
        "shards",
        "delimiter",
        "empty-dense",
        "no-header-name",
    ],
)
def test_bad_arguments_exit_2_with_one_line(data, capsys, extra, match):
    status = main(
        ["convert", str(data / "train.csv"), "--out", str(data / "o"), "--label", "clicked", *extra]
    )
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith("nwsrec convert: error: ")
    assert re.search(match, err), err


def test_parse_assignment_splits_at_the_last_equals():
    assert parse_assignment("a=b=3", "--slot") == ("a=b", "3")
    with pytest.raises(ValueError, match="`--multi` must be COLUMN=VALUE"):
        parse_assignment("genres=", "--multi")


def test_convert_is_a_discovered_command():
    args = parse_args(["convert", "x.csv", "--out", "o", "--slot", "a=1", "--label", "y"])
    assert args.command == "convert" and args.inputs == ["x.csv"] and args.slot == ["a=1"]
